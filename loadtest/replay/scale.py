"""``fleetsim replay --scale N``: N copies of the day side by side.

Concepts held here: a copy's run id (:func:`copy_run_ids`: the plan's run id when there
is one copy, else ``<run id>-x1`` ... ``-xN``), so each copy's metadata, order handles
and run-tagged phone numbers are its own and no id collides; the copy tag of a task
number (:func:`tag_task`, :func:`split_tasks`: the recorder's expected and deleted tasks
are plain integers that travel through Locust's messages unchanged, so a copy's tasks
are kept apart by adding ``copy * TASK_STRIDE``); and :func:`reconcile_copies`, one
listing of the target matched against every copy's run id.

Each copy has its own :class:`loadtest.replay.schedule.Schedule` and
:class:`loadtest.replay.executor.Executor` (and so its own id mapping); all copies share
the process's clock, pool, transport and recorder, so the endpoints, flows and lag in
``results.json`` are those of the whole N-fold load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from loadtest.replay.reconcile import (
    Getter,
    ListingError,
    Reconciliation,
    describe_failure,
    iter_tasks,
    reconcile,
)
from loadtest.replay.wire import meta_value
from sim.errors import UserError

#: A copy's task numbers are ``copy * TASK_STRIDE + task`` in the recorder.  A trace's
#: task numbers are far below this (a day of a billion tasks is not replayed).
TASK_STRIDE = 1_000_000_000
#: More copies than this would be a typo rather than a test (each copy is a full day).
MAX_SCALE = 1000


def check_scale(scale: int) -> None:
    if not 1 <= scale <= MAX_SCALE:
        raise UserError(f"--scale {scale}: must be between 1 and {MAX_SCALE}")


def copy_run_ids(run_id: str, scale: int) -> list[str]:
    """The run id of every copy (copy k has index k, from 0)."""
    if scale <= 1:
        return [run_id]
    return [f"{run_id}-x{k + 1}" for k in range(scale)]


def tag_task(copy: int, task: int) -> int:
    return copy * TASK_STRIDE + task


def split_tasks(tagged: Iterable[int]) -> dict[int, set[int]]:
    """Tagged task numbers by copy."""
    out: dict[int, set[int]] = {}
    for t in tagged:
        out.setdefault(t // TASK_STRIDE, set()).add(t % TASK_STRIDE)
    return out


def reconcile_copies(
    get: Getter,
    run_id: str,
    scale: int,
    expected: Iterable[int],
    deleted: Iterable[int],
    since_ms: int,
    sleep: Callable[[float], None] = time.sleep,
    budget_s: float = 60.0,
) -> Reconciliation:
    """Reconcile every copy: expected, created, missing and duplicated are sums over the
    copies, from one listing of the target (``copies`` names each copy's run id)."""
    if scale <= 1:
        return reconcile(get, run_id, set(expected) - set(deleted), since_ms, sleep, budget_s)
    ids = copy_run_ids(run_id, scale)
    want = split_tasks(expected)
    gone = split_tasks(deleted)
    wanted = {k: want.get(k, set()) - gone.get(k, set()) for k in range(scale)}
    n_expected = sum(len(v) for v in wanted.values())
    index = {rid: k for k, rid in enumerate(ids)}
    counts: list[dict[int, int]] = [{} for _ in ids]
    listed = 0
    try:
        for t in iter_tasks(get, since_ms, sleep, budget_s):
            listed += 1
            k = index.get(str(meta_value(t, "fleetsim_run")))
            n = meta_value(t, "fleetsim_task")
            if k is None or not isinstance(n, int | float):
                continue
            counts[k][int(n)] = counts[k].get(int(n), 0) + 1
    except ListingError as exc:
        why = describe_failure(exc.status, str(exc))
        return Reconciliation(n_expected, None, None, None, error=why, copies=tuple(ids))
    except (RuntimeError, ValueError, AttributeError) as exc:  # a malformed answer
        why = f"{type(exc).__name__}: {exc}"
        return Reconciliation(n_expected, None, None, None, error=why, copies=tuple(ids))
    created = sum(1 for k in range(scale) for t in wanted[k] if counts[k].get(t, 0) > 0)
    duplicated = sum(c - 1 for per in counts for c in per.values() if c > 1)
    return Reconciliation(
        expected=n_expected,
        created=created,
        missing=n_expected - created,
        duplicated=duplicated,
        listed=listed,
        copies=tuple(ids),
    )
