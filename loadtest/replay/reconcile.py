"""Asking the target what exists: reconciliation after a replay, and lookups during one.

Concepts held here: listing Onfleet tasks created since a time (``GET /tasks/all``,
≤64 per page, ``lastId`` until the last page), matching them to this run through the
``fleetsim_run``/``fleetsim_task`` metadata, and :class:`Reconciliation` (expected,
created, missing, duplicated).  Workers and teams carry no metadata on the wire, so they
are found by phone and by name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from loadtest.providers import onfleet
from loadtest.replay.wire import HttpResult, meta_value

#: ``get(provider, path, name) -> HttpResult``.
Getter = Callable[[str, str, str], HttpResult]
API = onfleet.BASE_PATH
MAX_PAGES = 100_000


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Tasks the replay meant to create versus what the target holds for this run."""

    expected: int
    #: None when reconciliation could not run (``error`` says why): unknown, not 0.
    created: int | None
    missing: int | None
    duplicated: int | None
    listed: int = 0
    error: str = ""
    #: With ``--scale N``: the run id of every copy (the counts are sums over them).
    copies: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.error

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.error:
            out.pop("error")
        if not self.copies:
            out.pop("copies")
        else:
            out["copies"] = list(self.copies)
        return out


class ListingError(RuntimeError):
    """The target's task list could not be read; ``status`` is the last HTTP status
    (0: no answer)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def describe_failure(status: int, detail: str) -> str:
    """One line for why the target could not be asked."""
    if status in (401, 403):
        return f"unauthorised: check ONFLEET_API_KEY (HTTP {status})"
    if status == 0:
        return f"target unreachable: {detail}"
    return detail


def _get_json(
    get: Getter, path: str, name: str, sleep: Callable[[float], None], deadline: float
) -> Any:
    res: HttpResult | None = None
    for attempt in range(8):
        res = get("onfleet", path, name)
        if res.ok:
            return orjson.loads(res.body) if res.body else None
        if res.status in (0, 429) or res.status >= 500:
            ra = res.header("Retry-After")
            wait = float(ra) if ra else 0.1 * 2**attempt
            if time.monotonic() + wait > deadline:
                break
            sleep(wait)
            continue
        raise ListingError(f"{name}: HTTP {res.status}: {res.body[:200]!r}", res.status)
    status = res.status if res is not None else 0
    why = (res.error or f"HTTP {status}") if res is not None else "not sent"
    raise ListingError(f"{name}: no answer after retries ({why})", status)


def iter_tasks(
    get: Getter,
    since_ms: int,
    sleep: Callable[[float], None] = time.sleep,
    budget_s: float = 60.0,
) -> Iterator[dict[str, Any]]:
    """Every task the target lists from ``since_ms`` on, following ``lastId``.

    Retries of one page stop once ``budget_s`` (for the whole listing) is spent."""
    deadline = time.monotonic() + budget_s
    last: str | None = None
    for _ in range(MAX_PAGES):
        q = f"{API}/tasks/all?from={since_ms}" + (f"&lastId={last}" if last else "")
        page = _get_json(get, q, f"GET {API}/tasks/all", sleep, deadline)
        tasks = page.get("tasks", []) if isinstance(page, dict) else []
        yield from (t for t in tasks if isinstance(t, dict))
        last = page.get("lastId") if isinstance(page, dict) else None
        if not last:
            return


def count_run_tasks(
    get: Getter,
    run_id: str,
    since_ms: int,
    sleep: Callable[[float], None] = time.sleep,
    budget_s: float = 60.0,
) -> tuple[dict[int, int], int]:
    """How many server tasks carry each simulator task id of this run; and tasks listed."""
    counts: dict[int, int] = {}
    listed = 0
    for t in iter_tasks(get, since_ms, sleep, budget_s):
        listed += 1
        if meta_value(t, "fleetsim_run") != run_id:
            continue
        n = meta_value(t, "fleetsim_task")
        if isinstance(n, int | float):
            counts[int(n)] = counts.get(int(n), 0) + 1
    return counts, listed


def find_created_tasks(
    get: Getter,
    run_id: str,
    wanted: set[int],
    since_ms: int,
    sleep: Callable[[float], None] = time.sleep,
    budget_s: float = 60.0,
) -> dict[str, str]:
    """Server ids of the ``wanted`` simulator tasks this run already created (raises
    :class:`ListingError` when the target cannot be listed)."""
    found: dict[str, str] = {}
    for t in iter_tasks(get, since_ms, sleep, budget_s):
        if meta_value(t, "fleetsim_run") != run_id:
            continue
        n = meta_value(t, "fleetsim_task")
        if isinstance(n, int | float) and int(n) in wanted and isinstance(t.get("id"), str):
            found[f"task:{int(n)}"] = t["id"]
    return found


def find_worker_or_team(get: Getter, kind: str, key: str) -> str | None:
    """The server id of the worker with phone ``key`` or the team named ``key``."""
    path = f"{API}/workers" if kind == "worker" else f"{API}/teams"
    res = get("onfleet", path, f"GET {path}")
    if not res.ok:
        return None
    items = orjson.loads(res.body)
    field = "phone" if kind == "worker" else "name"
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and it.get(field) == key and isinstance(it.get("id"), str):
            return str(it["id"])
    return None


def reconcile(
    get: Getter,
    run_id: str,
    expected: set[int],
    since_ms: int,
    sleep: Callable[[float], None] = time.sleep,
    budget_s: float = 60.0,
) -> Reconciliation:
    """Compare what the replay sent creates for with what the target holds.

    When the target cannot be listed, created/missing/duplicated are None (unknown) and
    ``error`` says why in one line; retries stop after ``budget_s``."""
    try:
        counts, listed = count_run_tasks(get, run_id, since_ms, sleep, budget_s)
    except ListingError as exc:
        why = describe_failure(exc.status, str(exc))
        return Reconciliation(len(expected), None, None, None, error=why)
    except (RuntimeError, ValueError, AttributeError) as exc:  # a malformed answer
        return Reconciliation(len(expected), None, None, None, error=f"{type(exc).__name__}: {exc}")
    created = sum(1 for t in expected if counts.get(t, 0) > 0)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    return Reconciliation(
        expected=len(expected),
        created=created,
        missing=len(expected) - created,
        duplicated=duplicated,
        listed=listed,
    )
