"""After a lost answer: did the request take effect on the target?

Concepts held here: :data:`CHECKS`, one checker per operation whose lost answer is
looked up rather than resent (the ``check`` rule of :mod:`loadtest.trace.ops`), and the
:class:`Replayer` they look through.  A checker answers ``(True, _)`` when the request
took effect (ids are mapped, the call counts as recovered), ``(False, body)`` when it did
not (resend ``body``: possibly only what is missing), ``(None, _)`` when that cannot be
told (the call is failed, never resent blindly).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import orjson

from loadtest.providers import hypertrack, onfleet
from loadtest.replay.policy import FLOW_ASYNC, FLOW_BATCH, RECOVERED_JOB, meta_task
from loadtest.replay.reconcile import find_worker_or_team
from loadtest.replay.retry import RetryPolicy
from loadtest.replay.schedule import Clock
from loadtest.replay.stats import Recorder
from loadtest.replay.wire import HttpResult, IdMap
from loadtest.trace import ops
from loadtest.trace.format import TraceCall

Verdict = tuple[bool | None, Any]


class Replayer(Protocol):
    """What a checker needs of the executor: its clock, ids, recorder and look-ups."""

    @property
    def ids(self) -> IdMap: ...

    @property
    def recorder(self) -> Recorder: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def policy(self) -> RetryPolicy: ...

    def sleep(self, seconds: float, /) -> None: ...

    def get(self, provider: str, path: str, name: str) -> HttpResult: ...

    def find_tasks(self, wanted: set[int], since_ms: int) -> dict[str, str]: ...

    def key(self, kind: str, num: int) -> str | None: ...


Checker = Callable[[Replayer, TraceCall, Any, float, int], Verdict]


def _get_spec(r: Replayer, spec: ops.OpSpec, param: str, value: str) -> HttpResult:
    """GET one object by the registry's path for it (named by the template)."""
    path = spec.path.replace("{" + param + "}", value)
    return r.get(spec.provider, path, f"{spec.method} {spec.path}")


def check_async_batch(
    r: Replayer, call: TraceCall, body: Any, started: float, since_ms: int
) -> Verdict:
    """Once the job could have finished, list this run's tasks.  All there: recovered
    (the poll is not sent).  None there: not applied, resend.  Some there: the job ran (or
    still runs): never resend, fail."""
    wanted = {meta_task(t) for t in body.get("tasks", [])} if isinstance(body, dict) else set()
    if not wanted:
        return None, body
    settle = r.policy.async_settle_s + r.policy.async_settle_per_task_s * len(wanted)
    r.sleep(max(0.0, started + settle - r.clock.now()))
    try:
        found = r.find_tasks(wanted, since_ms)
    except RuntimeError:
        return None, body
    if not found:
        return False, body
    for ref, sid in found.items():
        r.ids.set(ref, sid)
    if len(found) < len(wanted):
        return None, body
    r.recorder.count("recovered")
    if call.defines:
        r.ids.set(call.defines, RECOVERED_JOB)
    r.recorder.flow(FLOW_ASYNC, r.clock.now() - started, 0, len(found), 0, True)
    return True, body


def check_order_track(
    r: Replayer, call: TraceCall, body: Any, started: float, since_ms: int
) -> Verdict:
    handle = hypertrack.order_handle(body)
    if handle is None:
        return None, body
    res = _get_spec(r, ops.ORDER_GET, "orderHandle", handle)
    if res.ok:
        r.recorder.count("recovered")
        return True, body
    return (False, body) if res.status == 404 else (None, body)


def _found_tasks(r: Replayer, call: TraceCall, since_ms: int) -> dict[str, str] | None:
    """The call's tasks already on the target (their ids recorded), or None if the target
    cannot be listed."""
    try:
        found = r.find_tasks(set(call.tasks), since_ms)
    except RuntimeError:
        return None
    for ref, sid in found.items():
        r.ids.set(ref, sid)
    return found


def check_task_create(
    r: Replayer, call: TraceCall, body: Any, started: float, since_ms: int
) -> Verdict:
    found = _found_tasks(r, call, since_ms)
    if found is None:
        return None, body  # cannot list: do not risk a duplicate
    if found:
        r.recorder.count("recovered")
        return True, body
    return False, body


def check_task_batch(
    r: Replayer, call: TraceCall, body: Any, started: float, since_ms: int
) -> Verdict:
    """Resend only the tasks of the batch that are not on the target."""
    found = _found_tasks(r, call, since_ms)
    if found is None:
        return None, body  # cannot list: do not risk a duplicate
    missing = [t for t in body["tasks"] if f"task:{meta_task(t)}" not in found]
    if not missing:
        r.recorder.count("recovered")
        r.recorder.flow(FLOW_BATCH, r.clock.now() - started, 0, len(found), 0, True)
        return True, body
    return False, {**body, "tasks": missing}


def check_worker_or_team(
    r: Replayer, call: TraceCall, body: Any, started: float, since_ms: int
) -> Verdict:
    kind, _, num = call.defines.partition(":")
    key = r.key(kind, int(num))
    found_id = find_worker_or_team(r.get, kind, key) if key else None
    if found_id:
        r.ids.set(call.defines, found_id)
        r.recorder.count("recovered")
        return True, body
    return False, body


def _task_reached(state: int) -> Checker:
    """A task update that moves it to ``state``: applied if the task is there already."""

    def check(r: Replayer, call: TraceCall, body: Any, started: float, since_ms: int) -> Verdict:
        task_id = r.ids.get(f"task:{call.tasks[0]}") if call.tasks else None
        if task_id:
            res = _get_spec(r, ops.TASK_GET, "taskId", task_id)
            if res.ok and onfleet.task_state(orjson.loads(res.body)) >= state:
                r.recorder.count("recovered")
                return True, body
        return False, body

    return check


#: The checker of each operation whose lost answer is looked up before a resend.
CHECKS: Mapping[str, Checker] = MappingProxyType(
    {
        ops.TASK_BATCH_ASYNC.name: check_async_batch,
        ops.ORDER_TRACK.name: check_order_track,
        ops.TASK_CREATE.name: check_task_create,
        ops.TASK_BATCH.name: check_task_batch,
        ops.WORKER_CREATE.name: check_worker_or_team,
        ops.TEAM_CREATE.name: check_worker_or_team,
        ops.TASK_COMPLETE.name: _task_reached(onfleet.TASK_COMPLETED),
        ops.DRIVER_START.name: _task_reached(onfleet.TASK_ACTIVE),
    }
)


def check_applied(
    r: Replayer, call: TraceCall, body: Any, started: float, wall_t0_ms: int
) -> Verdict:
    """The verdict on a lost ``call`` sent at ``started`` (replay seconds)."""
    checker = CHECKS.get(call.op)
    if checker is None:
        # Driver-app duty and move set absolute state, so repeating them is harmless.
        return False, body
    since_ms = wall_t0_ms + int(started * 1000) - 5000
    return checker(r, call, body, started, since_ms)
