"""Webhook bodies as each provider sends them, and the models that describe them.

The builders are plain functions over JSON-shaped values: provider state calls them only
after :meth:`~loadtest.emulator.webhooks.EventSink.wants` said yes, so an emulator with no
webhook registered never builds one.  The pydantic models are the same shapes written
down once, for the OpenAPI ``webhooks`` section and for the tests that check every built
body against them (``extra="forbid"``, so a builder and its model cannot drift apart).

Choices where the public material is silent ([inf], in the emulator README):

* ``actionContext`` is ``{type: "ADMIN", id: <the organisation's admin>}`` for API calls,
  and ``{type: "WORKER", id: <worker>}`` for the driver-app routes (then ``adminId`` is
  null).
* taskBatchCreateJobCompleted carries ``jobId`` and the job's status fields at the top
  level, beside the other per-trigger extras, with an empty ``data``.
* HyperTrack's event ``version`` is ``"3.0.0"`` (the vendor's example).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from loadtest.providers.webhooks import ONFLEET_TRIGGER_IDS

#: Who caused an Onfleet event: ``("ADMIN", admin id)`` or ``("WORKER", worker id)``.
Actor = tuple[Literal["ADMIN", "WORKER"], str]

HYPERTRACK_EVENT_VERSION: Final = "3.0.0"


# -- builders -----------------------------------------------------------------------------
def onfleet_body(
    trigger: str,
    *,
    time_ms: int,
    actor: Actor,
    task_id: str | None,
    worker_id: str | None,
    data: dict[str, Any],
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One Onfleet delivery: ``{actionContext, adminId, taskId, workerId, time, triggerId,
    triggerName, data}`` plus the trigger's extras (``etaSeconds``, ``distance``, ...)."""
    kind, who = actor
    body: dict[str, Any] = {
        "actionContext": {"id": who, "type": kind},
        "adminId": who if kind == "ADMIN" else None,
        "taskId": task_id,
        "workerId": worker_id,
        "time": time_ms,
        "triggerId": ONFLEET_TRIGGER_IDS[trigger],
        "triggerName": trigger,
        "data": data,
    }
    if extras:
        body.update(extras)
    return body


def nash_body(kind: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """One Nash (Svix) delivery: ``{type, event, data}``."""
    return {"type": kind, "event": event, "data": data}


def hypertrack_event(
    value: str,
    *,
    at: str,
    device_id: str,
    worker_handle: str,
    account_id: str | None,
    order: Mapping[str, Any],
) -> dict[str, Any]:
    """One element of a HyperTrack delivery's array: an order event.  ``order`` holds the
    order's ``order_handle, route_handle, status, fulfillment_attempt, share_url,
    metadata``; ``at`` is when it happened (ISO-8601, ms, ``Z``)."""
    return {
        "created_at": at,
        "recorded_at": at,
        "device_id": device_id,
        "worker_handle": worker_handle,
        "account_id": account_id,
        "type": "order",
        "data": {"value": value, **order},
        "version": HYPERTRACK_EVENT_VERSION,
    }


def hypertrack_body(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A HyperTrack delivery is a JSON array of events."""
    return list(events)


# -- models (documentation and tests) -----------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionContext(_Strict):
    """Who caused the event: an admin (API call) or a worker (driver app)."""

    id: str
    type: Literal["ADMIN", "WORKER"]


class TaskData(_Strict):
    """``data`` of a task trigger: the task as ``GET /tasks/{id}`` shows it."""

    task: dict[str, Any]


class WorkerData(_Strict):
    """``data`` of a worker trigger: the worker as ``GET /workers/{id}`` shows it."""

    worker: dict[str, Any]


class EmptyData(_Strict):
    """``data`` of taskBatchCreateJobCompleted (its fields are at the top level)."""


class OnfleetTaskEvent(_Strict):
    """An Onfleet task trigger (taskStarted, taskCompleted, taskCreated, ...)."""

    actionContext: ActionContext
    adminId: str | None
    taskId: str
    workerId: str | None
    time: int
    triggerId: int
    triggerName: str
    data: TaskData


class OnfleetEtaEvent(OnfleetTaskEvent):
    """taskEta (1): ``etaSeconds`` from the worker's position to the destination."""

    etaSeconds: int


class OnfleetArrivalEvent(OnfleetTaskEvent):
    """taskArrival (2): ``distance`` in metres from the worker to the destination."""

    distance: float


class OnfleetWorkerEvent(_Strict):
    """An Onfleet worker trigger (workerCreated, workerDeleted)."""

    actionContext: ActionContext
    adminId: str | None
    taskId: None
    workerId: str
    time: int
    triggerId: int
    triggerName: str
    data: WorkerData


class OnfleetDutyEvent(OnfleetWorkerEvent):
    """workerDuty (5): ``status`` 1 on duty, 0 off duty."""

    status: Literal[0, 1]


class OnfleetBatchJobEvent(_Strict):
    """taskBatchCreateJobCompleted (19): the job's id, counters and task lists, as
    ``GET /tasks/batch/{jobId}`` shows them."""

    actionContext: ActionContext
    adminId: str | None
    taskId: None
    workerId: None
    time: int
    triggerId: int
    triggerName: str
    data: EmptyData
    jobId: str
    status: str
    tasksReceived: int
    tasksCreated: int
    tasksErrored: int
    errors: list[dict[str, Any]]
    failedTasks: list[Any]
    newTasks: list[dict[str, Any]]
    newTasksWithWarnings: list[dict[str, Any]]


class OnfleetGenericEvent(BaseModel):
    """A trigger the emulator accepts a webhook for but never fires."""

    actionContext: ActionContext
    adminId: str | None
    taskId: str | None
    workerId: str | None
    time: int
    triggerId: int
    triggerName: str
    data: dict[str, Any]


#: The model of each trigger the emulator fires.
ONFLEET_MODELS: Final[Mapping[str, type[BaseModel]]] = {
    "taskStarted": OnfleetTaskEvent,
    "taskEta": OnfleetEtaEvent,
    "taskArrival": OnfleetArrivalEvent,
    "taskCompleted": OnfleetTaskEvent,
    "taskFailed": OnfleetTaskEvent,
    "workerDuty": OnfleetDutyEvent,
    "taskCreated": OnfleetTaskEvent,
    "taskUpdated": OnfleetTaskEvent,
    "taskDeleted": OnfleetTaskEvent,
    "taskAssigned": OnfleetTaskEvent,
    "taskUnassigned": OnfleetTaskEvent,
    "workerCreated": OnfleetWorkerEvent,
    "workerDeleted": OnfleetWorkerEvent,
    "taskBatchCreateJobCompleted": OnfleetBatchJobEvent,
}


class NashEvent(_Strict):
    """A Nash (Svix) delivery; ``data`` is the job as ``GET /v1/jobs/{id}`` shows it."""

    type: Literal["delivery", "task", "courier_location", "shift"]
    event: str
    data: dict[str, Any]


#: Nash events the emulator fires (``"{type}.{event}"``).
NASH_EVENTS: Final = ("delivery.created",)


class HyperTrackOrderData(_Strict):
    """``data`` of a HyperTrack order event."""

    value: str
    order_handle: str
    route_handle: str
    status: str
    fulfillment_attempt: int
    share_url: str
    metadata: dict[str, Any]


class HyperTrackEvent(_Strict):
    """One element of a HyperTrack delivery's array."""

    created_at: str
    recorded_at: str
    device_id: str
    worker_handle: str
    account_id: str | None
    type: Literal["order"]
    data: HyperTrackOrderData
    version: str


#: HyperTrack order ``value``s the emulator fires, and the call that fires each.
HYPERTRACK_VALUES: Final[Mapping[str, str]] = {
    "assigned": "POST /orders/track (then started)",
    "started": "POST /orders/track",
    "completed": "POST /orders/{order_handle}/complete",
    "cancelled": "POST /orders/{order_handle}/cancel",
    "disabled": "POST /orders/{order_handle}/disable",
    "enabled": "POST /orders/{order_handle}/enable",
}
