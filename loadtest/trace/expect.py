"""Expected webhooks: which events each trace call's success causes, in firing order.

Concepts held here: :class:`Predictor`, a small model of the target's state that follows
the calls in send order (a worker's duty and last known location, each task's container
and destination, each worker's active task, the tasks that already arrived) and applies
:data:`loadtest.providers.webhooks.EVENTS_BY_OP` and the rules in its comment to each call;
and :func:`count_events`, the header's totals.

The calls themselves are the simulator's event log turned into requests, so following
them is following the log; predicting from the calls (not the log) keeps the prediction
to what the target is actually asked to do, in the order it is asked.  The cost is a
dict look-up or two per call, and one geodesic per ``driver.move``: no pandas.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from loadtest.providers.webhooks import (
    EVENTS_BY_OP,
    REPLAY_ARRIVAL_THRESHOLD_M,
)
from loadtest.trace import ops
from loadtest.trace.format import REF_PREFIX, EventCounts, ExpectedEvent, JsonValue, TraceCall
from sim.geo import geodesic_m

Params = Mapping[str, str]
Tasks = tuple[int, ...]
Events = tuple[ExpectedEvent, ...]
NONE: Events = ()
_TRACK_VALUES: Final = EVENTS_BY_OP[ops.ORDER_TRACK.name]
#: A task's container when a create put it in a worker's (autoAssign) without naming one.
SOME_WORKER = "?"


def _location(value: JsonValue) -> tuple[float, float] | None:
    """``[longitude, latitude]`` as ``(lat, lon)``; None when it is not one."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    lon, lat = value
    if type(lon) not in (int, float) or type(lat) not in (int, float):  # not bool
        return None
    return (float(lat), float(lon)) if math.isfinite(lat) and math.isfinite(lon) else None


def _get(body: JsonValue, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


def _assignee(body: JsonValue) -> str | None:
    """The worker a create or update body puts the task with: the container's worker
    reference, :data:`SOME_WORKER` for an autoAssign, None for no worker."""
    container = _get(body, "container")
    if isinstance(container, dict) and container.get("type") == "WORKER":
        return str(container.get("worker", SOME_WORKER))
    if _get(body, "autoAssign") is not None:
        return SOME_WORKER
    return None


@dataclass(slots=True)
class Predictor:
    """The target's state as far as webhooks depend on it, advanced call by call.

    Feed every call of a trace in send order to :meth:`events`.  Workers start off duty
    with no location (as created); a task has no worker until a create or update gives it
    one.  Rules beyond the per-op table (see ``EVENTS_BY_OP``'s comment):

    * ``driver.duty`` fires workerDuty only when it changes the duty.
    * ``driver.start`` fires taskEta only when the worker's location is known (the
      replay's taskEta threshold, ``REPLAY_ETA_THRESHOLD_S``, is a day, which every ETA
      inside a city meets); otherwise the first location update of the worker while the
      task is active fires it, and that ``driver.move`` carries it.
    * ``driver.move`` fires taskArrival for the worker's active task when the new location
      is within ``REPLAY_ARRIVAL_THRESHOLD_M`` of its destination, once per task; a move
      that is not an arrival causes nothing.
    * ``task.assign`` fires taskAssigned only when the task changes worker (a task created
      in a worker's container fires none for that worker); ``task.unassign`` fires
      taskUnassigned only for a task in a worker's container.
    """

    on_duty: dict[int, bool] = field(default_factory=dict)
    located: set[int] = field(default_factory=set)
    #: task -> the worker reference of its container (absent: none)
    holder: dict[int, str] = field(default_factory=dict)
    #: task -> (lat, lon) of its destination
    dest: dict[int, tuple[float, float]] = field(default_factory=dict)
    #: worker -> its active task, and back
    active: dict[int, int] = field(default_factory=dict)
    started_by: dict[int, int] = field(default_factory=dict)
    #: tasks started without a known worker location: taskEta still to come
    eta_pending: set[int] = field(default_factory=set)
    arrived: set[int] = field(default_factory=set)

    def events(
        self,
        op: str,
        params: Mapping[str, str],
        body: JsonValue,
        tasks: tuple[int, ...],
        worker: int,
        defines: str,
    ) -> tuple[ExpectedEvent, ...]:
        """The events the call's success causes, and the state after it."""
        rule = _RULES.get(op)
        return NONE if rule is None else rule(self, params, body, tasks, worker, defines)

    def _worker_created(
        self, _p: Params, _b: JsonValue, _t: Tasks, worker: int, defines: str
    ) -> Events:
        self.on_duty[worker] = False
        return (ExpectedEvent("workerCreated", REF_PREFIX + defines),) if defines else NONE

    def _task_created(
        self, _p: Params, body: JsonValue, tasks: Tasks, _w: int, defines: str
    ) -> Events:
        self._created(tasks, [body])
        return (ExpectedEvent("taskCreated", REF_PREFIX + defines),) if defines else NONE

    def _batch(self, _p: Params, body: JsonValue, tasks: Tasks, _w: int, _d: str) -> Events:
        listed = _get(body, "tasks")
        self._created(tasks, listed if isinstance(listed, list) else [])
        return NONE

    def _batch_async(
        self, params: Params, body: JsonValue, tasks: Tasks, worker: int, defines: str
    ) -> Events:
        self._batch(params, body, tasks, worker, defines)
        job = "taskBatchCreateJobCompleted"
        return (ExpectedEvent(job, REF_PREFIX + defines),) if defines else NONE

    def _updated(self, params: Params, _b: JsonValue, _t: Tasks, _w: int, _d: str) -> Events:
        return (ExpectedEvent("taskUpdated", params.get("taskId", "")),)

    def _deleted(self, params: Params, _b: JsonValue, tasks: Tasks, _w: int, _d: str) -> Events:
        for tid in tasks:  # nothing more will happen to it
            self.eta_pending.discard(tid)
        return (ExpectedEvent("taskDeleted", params.get("taskId", "")),)

    def _nash_job(self, _p: Params, _b: JsonValue, _t: Tasks, _w: int, defines: str) -> Events:
        return (ExpectedEvent("delivery.created", REF_PREFIX + defines),) if defines else NONE

    def _track(self, _p: Params, body: JsonValue, _t: Tasks, _w: int, _d: str) -> Events:
        orders = _get(body, "orders")
        handles = [
            h
            for o in (orders if isinstance(orders, list) else [])
            if isinstance(h := _get(o, "order_handle"), str)
        ]
        # One delivery per value carrying every order of the call: value-major order.
        return tuple(ExpectedEvent(v, h) for v in _TRACK_VALUES for h in handles)

    def _order_done(self, params: Params, _b: JsonValue, _t: Tasks, _w: int, _d: str) -> Events:
        handle = params.get("orderHandle", "")
        return (ExpectedEvent("completed", handle),) if handle else NONE

    def _order_cancelled(
        self, params: Params, _b: JsonValue, _t: Tasks, _w: int, _d: str
    ) -> Events:
        handle = params.get("orderHandle", "")
        return (ExpectedEvent("cancelled", handle),) if handle else NONE

    def _created(self, tasks: tuple[int, ...], bodies: list[JsonValue]) -> None:
        for tid, body in zip(tasks, bodies, strict=False):
            point = _location(_get(_get(body, "destination"), "location"))
            if point is not None:
                self.dest[tid] = point
            who = _assignee(body)
            if who is not None:
                self.holder[tid] = who

    def _container(self, params: Params, body: JsonValue, tasks: Tasks, _w: int, _d: str) -> Events:
        if not tasks:
            return NONE
        tid, task_ref = tasks[0], params.get("taskId", "")
        before, after = self.holder.get(tid), _assignee(body)
        if after is None:
            self.holder.pop(tid, None)
            return (ExpectedEvent("taskUnassigned", task_ref),) if before is not None else NONE
        self.holder[tid] = after
        if before == after and after != SOME_WORKER:
            return NONE
        return (ExpectedEvent("taskAssigned", task_ref),)

    def _duty(self, params: Params, body: JsonValue, _t: Tasks, worker: int, _d: str) -> Events:
        if _location(_get(body, "location")) is not None:
            self.located.add(worker)
        on = _get(body, "onDuty")
        if not isinstance(on, bool) or self.on_duty.get(worker, False) == on:
            return NONE
        self.on_duty[worker] = on
        return (ExpectedEvent("workerDuty", params.get("workerId", "")),)

    def _start(self, params: Params, _b: JsonValue, tasks: Tasks, worker: int, _d: str) -> Events:
        if not tasks:
            return NONE
        tid, task_ref = tasks[0], params.get("taskId", "")
        self.active[worker] = tid
        self.started_by[tid] = worker
        if worker in self.located:
            return (ExpectedEvent("taskStarted", task_ref), ExpectedEvent("taskEta", task_ref))
        self.eta_pending.add(tid)
        return (ExpectedEvent("taskStarted", task_ref),)

    def _move(self, _p: Params, body: JsonValue, _t: Tasks, worker: int, _d: str) -> Events:
        point = _location(_get(body, "location"))
        if point is None:
            return NONE
        self.located.add(worker)
        tid = self.active.get(worker)
        if tid is None:
            return NONE
        task_ref = f"{REF_PREFIX}task:{tid}"
        out: list[ExpectedEvent] = []
        if tid in self.eta_pending:
            self.eta_pending.discard(tid)
            out.append(ExpectedEvent("taskEta", task_ref))
        dest = self.dest.get(tid)
        if (
            tid not in self.arrived
            and dest is not None
            and geodesic_m(point[0], point[1], dest[0], dest[1]) <= REPLAY_ARRIVAL_THRESHOLD_M
        ):
            self.arrived.add(tid)
            out.append(ExpectedEvent("taskArrival", task_ref))
        return tuple(out)

    def _complete(self, params: Params, body: JsonValue, tasks: Tasks, _w: int, _d: str) -> Events:
        if tasks:
            tid = tasks[0]
            w = self.started_by.pop(tid, None)
            if w is not None and self.active.get(w) == tid:
                del self.active[w]
            self.eta_pending.discard(tid)
        success = _get(_get(body, "completionDetails"), "success")
        name = "taskCompleted" if success is True else "taskFailed"
        return (ExpectedEvent(name, params.get("taskId", "")),)


Rule = Callable[[Predictor, Params, JsonValue, Tasks, int, str], Events]
#: The rule of each operation that causes events (an op absent here causes none).
_RULES: Final[Mapping[str, Rule]] = {
    ops.WORKER_CREATE.name: Predictor._worker_created,
    ops.TASK_CREATE.name: Predictor._task_created,
    ops.TASK_BATCH.name: Predictor._batch,
    ops.TASK_BATCH_ASYNC.name: Predictor._batch_async,
    ops.TASK_SET_DEPENDENCIES.name: Predictor._updated,
    ops.TASK_ASSIGN.name: Predictor._container,
    ops.TASK_UNASSIGN.name: Predictor._container,
    ops.DRIVER_DUTY.name: Predictor._duty,
    ops.DRIVER_START.name: Predictor._start,
    ops.DRIVER_MOVE.name: Predictor._move,
    ops.TASK_COMPLETE.name: Predictor._complete,
    ops.TASK_DELETE.name: Predictor._deleted,
    ops.NASH_BATCH_JOB.name: Predictor._nash_job,
    ops.ORDER_TRACK.name: Predictor._track,
    ops.ORDER_COMPLETE.name: Predictor._order_done,
    ops.ORDER_CANCEL.name: Predictor._order_cancelled,
}


def count_events(calls: Iterable[TraceCall]) -> EventCounts:
    """Expected events per provider and event name, sorted for stable output."""
    counts: Counter[tuple[str, str]] = Counter()
    for c in calls:
        for e in c.events:
            counts[c.provider, e.event] += 1
    out: EventCounts = {}
    for (provider, event), n in sorted(counts.items()):
        out.setdefault(provider, {})[event] = n
    return out
