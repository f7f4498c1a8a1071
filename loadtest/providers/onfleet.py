"""Onfleet API v2: request bodies, error codes and body builders (API-NOTES §1).

The models describe what a client may send.  They are the contract the load test writes
traces with and the schemas of the emulator's OpenAPI document.  The emulator's hot path
validates with hand-written checks that produce the same errors Onfleet does (per-task
errors inside a batch, numbered subcodes), because per-task model validation costs more
than the whole budget of the 500-task batch path.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

BASE_PATH = "/api/v2"
MAX_BATCH = 500
MAX_NOTES = 10_000
PAGE_SIZE = 64
CONTAINER_CAP = 10_000
RATE_LIMIT_PER_S = 20

# Error subcodes (API-NOTES §1.2): ``message.error`` of an error body.
E_INVALID_VALUES = 1000
E_NOTHING_TO_UPDATE = 1002
E_UPDATE_MISSING = 1003
E_NOT_UNIQUE = 1004
E_WRONG_TYPES = 1005
E_FILE_TOO_LARGE = 1006
E_TIME_CONSTRAINTS = 1009
E_PHONE = 1010
E_GEOCODING = 1011
E_KEY_INVALID = 1102
E_NOT_FOUND = 1402  # [inf] 14xx are not stored; Onfleet answers ResourceNotFound
E_METHOD = 1403  # [inf]
E_PRECONDITION = 1600  # [inf] container lock contention (412)
E_RATE_LIMIT = 2300
E_INTERNAL = 2500

#: The ``code`` of an error body by HTTP status (API-NOTES §1.2; 404/405/412/413 [inf]).
ERROR_NAMES = {
    400: "InvalidContent",
    401: "InvalidCredentials",
    404: "ResourceNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}

MSG_INVALID_VALUES = "The values of one or more parameters are invalid."
MSG_NOT_FOUND = "The requested resource does not exist."
MSG_RATE_LIMIT = "You have exceeded our per-second request limit. Please slow down."
CAUSE_GEOCODING = "Geocoding errors found. "


class Address(BaseModel):
    """A structured address, or ``{"unparsed": "..."}``."""

    model_config = ConfigDict(extra="allow")
    number: str | None = None
    street: str | None = None
    apartment: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    country: str | None = None
    name: str | None = None
    unparsed: str | None = None


class Destination(BaseModel):
    """A destination: an address to geocode, or a ``location`` ``[lng, lat]`` that skips it."""

    model_config = ConfigDict(extra="allow")
    address: Address | None = None
    location: list[float] | None = Field(default=None, min_length=2, max_length=2)
    notes: str | None = None


class Recipient(BaseModel):
    """A recipient; the phone is normalised to E.164."""

    model_config = ConfigDict(extra="allow")
    name: str
    phone: str
    notes: str | None = None
    skipSMSNotifications: bool | None = None


class AutoAssign(BaseModel):
    """autoAssign options at task creation (API-NOTES §1.7)."""

    mode: Literal["distance", "load"]
    team: str | None = None
    maxAssignedTaskCount: int | None = None
    considerDependencies: bool | None = None
    excludedWorkerIds: list[str] | None = None


class Container(BaseModel):
    """Where to append the task: ``{"type": "WORKER", "worker": id}`` and so on."""

    model_config = ConfigDict(extra="allow")
    type: Literal["ORGANIZATION", "TEAM", "WORKER"]
    worker: str | None = None
    team: str | None = None
    organization: str | None = None


class TaskCreate(BaseModel):
    """Body of POST /tasks, and one element of a batch."""

    model_config = ConfigDict(extra="allow")
    destination: Destination | str
    recipients: list[Recipient | str] = Field(default_factory=list, max_length=1)
    merchant: str | None = None
    executor: str | None = None
    completeAfter: int | None = None
    completeBefore: int | None = None
    pickupTask: bool | None = None
    dependencies: list[str] | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    autoAssign: AutoAssign | None = None
    container: Container | None = None
    quantity: float | None = None
    serviceTime: float | None = None
    recipientName: str | None = None
    recipientNotes: str | None = None
    recipientSkipSMSNotifications: bool | None = None
    useMerchantForProxy: bool | None = None
    metadata: list[dict[str, Any]] | None = None


class TaskUpdate(BaseModel):
    """Body of PUT /tasks/{id}: any subset of the creation fields."""

    model_config = ConfigDict(extra="allow")
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    completeAfter: int | None = None
    completeBefore: int | None = None
    pickupTask: bool | None = None
    dependencies: list[str] | None = None
    quantity: float | None = None
    serviceTime: float | None = None
    destination: Destination | str | None = None
    recipients: list[Recipient | str] | None = Field(default=None, max_length=1)
    container: Container | None = None
    metadata: list[dict[str, Any]] | None = None


class TaskBatch(BaseModel):
    """Body of POST /tasks/batch and /tasks/batch-async (at most 500 tasks)."""

    tasks: list[TaskCreate]


class CompletionDetails(BaseModel):
    success: bool
    notes: str | None = None


class TaskComplete(BaseModel):
    """Body of POST /tasks/{id}/complete."""

    completionDetails: CompletionDetails


class Vehicle(BaseModel):
    type: Literal["CAR", "BICYCLE", "MOTORCYCLE", "TRUCK"]
    description: str | None = None
    licensePlate: str | None = None
    color: str | None = None


class WorkerCreate(BaseModel):
    """Body of POST /workers: name, phone and teams are required."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    phone: str
    teams: list[str] = Field(min_length=1)
    vehicle: Vehicle | None = None
    capacity: float | None = None


class TeamCreate(BaseModel):
    """Body of POST /teams."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    workers: list[str] = Field(default_factory=list)
    managers: list[str] = Field(default_factory=list)
    hub: str | None = None


class ContainerUpdate(BaseModel):
    """Body of PUT /containers/workers/{id}: the ordered task list to hold."""

    tasks: list[str | int]
    considerDependencies: bool | None = None


# -- the emulator-only driver app (never sent to a real endpoint) ----------------------
CONTROL_PATH = "/emulator/v1"


class DutyChange(BaseModel):
    """Driver app: go on or off duty (optionally reporting where)."""

    onDuty: bool
    location: list[float] | None = Field(default=None, min_length=2, max_length=2)


class Move(BaseModel):
    """Driver app: report the phone's position ``[lng, lat]``."""

    location: list[float] = Field(min_length=2, max_length=2)


# -- builders for the load test -------------------------------------------------------
def task_body(
    lat: float,
    lon: float,
    *,
    notes: str = "",
    pickup: bool = False,
    complete_after_ms: int | None = None,
    complete_before_ms: int | None = None,
    quantity: float = 0.0,
    service_min: float = 0.0,
    dependencies: list[str] | None = None,
    recipient: tuple[str, str] | None = None,
    auto_assign_mode: Literal["distance", "load"] | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """A POST /tasks body.  With ``address`` the server geocodes; otherwise the
    ``location`` skips geocoding (the maintainers' advice for batch speed)."""
    dest: dict[str, Any] = (
        {"address": {"unparsed": address}} if address is not None else {"location": [lon, lat]}
    )
    body: dict[str, Any] = {"destination": dest, "pickupTask": pickup, "notes": notes}
    if recipient is not None:
        body["recipients"] = [{"name": recipient[0], "phone": recipient[1]}]
    if complete_after_ms is not None:
        body["completeAfter"] = complete_after_ms
    if complete_before_ms is not None:
        body["completeBefore"] = complete_before_ms
    if quantity:
        body["quantity"] = quantity
    if service_min:
        body["serviceTime"] = service_min
    if dependencies:
        body["dependencies"] = dependencies
    if auto_assign_mode is not None:
        body["autoAssign"] = {"mode": auto_assign_mode}
    return body


def batch_body(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """A POST /tasks/batch (or batch-async) body."""
    return {"tasks": tasks}


def complete_body(success: bool = True, notes: str | None = None) -> dict[str, Any]:
    """A POST /tasks/{id}/complete body."""
    details: dict[str, Any] = {"success": success}
    if notes is not None:
        details["notes"] = notes
    return {"completionDetails": details}


def auth_headers(api_key: str) -> dict[str, str]:
    """Request headers for an Onfleet key: Basic, the key as user, an empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()}


# -- reading answers (pure functions over decoded JSON) ---------------------------------
#: Task ``state`` values (Onfleet: 0 unassigned, 1 assigned, 2 active, 3 completed).
TASK_ACTIVE = 2
TASK_COMPLETED = 3
#: Async batch job states that are not final (the emulator's and the SDK mocks' words).
JOB_PENDING = frozenset(
    {
        "pending",
        "processing",
        "queued",
        "running",
        "inprogress",
        "in_progress",
        "started",
        "created",
        "validating",
    }
)
#: Async batch job states that are final and mean the job itself failed.
JOB_FAILED = frozenset({"failed", "error", "errored", "cancelled", "canceled", "aborted"})


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """A synchronous ``POST /tasks/batch`` answer: the tasks made and the per-task errors."""

    tasks: list[Any]
    errors: list[Any]


def batch_answer(data: Any) -> BatchAnswer:
    if not isinstance(data, dict):
        return BatchAnswer([], [])
    return BatchAnswer(list(data.get("tasks", [])), list(data.get("errors", [])))


@dataclass(frozen=True, slots=True)
class JobStatus:
    """An async batch job's status: ``final`` once it stops changing; ``failed`` when the
    job itself failed; the tasks it made (``new_tasks``) and the counts it reports."""

    final: bool
    failed: bool = False
    new_tasks: tuple[Any, ...] = ()
    created: int = 0
    errored: int = 0


def job_status(data: Any) -> JobStatus:
    """Read ``GET /tasks/batch/{jobId}``."""
    status = str(data.get("status", "")).lower() if isinstance(data, dict) else ""
    if status in JOB_PENDING or not isinstance(data, dict):
        return JobStatus(final=False)
    new = (*data.get("newTasks", []), *data.get("newTasksWithWarnings", []))
    return JobStatus(
        final=True,
        failed=status in JOB_FAILED,
        new_tasks=new,
        created=int(data.get("tasksCreated", len(new))),
        errored=int(data.get("tasksErrored", 0)),
    )


def task_state(data: Any) -> int:
    """A task's ``state`` (-1 if the answer has none)."""
    state = data.get("state", -1) if isinstance(data, dict) else -1
    return state if isinstance(state, int) and not isinstance(state, bool) else -1


def created_id(data: Any) -> str | None:
    """The server id an answer gives the object it made: ``jobId`` (async batch), ``id``
    (team, worker, task, Nash job) or ``data.id`` (Deftship batch)."""
    if not isinstance(data, dict):
        return None
    sid = data.get("jobId") or data.get("id")
    inner = data.get("data")
    if sid is None and isinstance(inner, dict):
        sid = inner.get("id")
    if isinstance(sid, str | int) and not isinstance(sid, bool):
        return str(sid)
    return None


# -- organisation, admins, workers, teams, hubs (request bodies) ----------------------
class MetadataEntry(BaseModel):
    """One metadata entry; ``value`` has the JSON type ``type`` names."""

    name: str = Field(min_length=1)
    type: Literal["boolean", "number", "string", "object", "array"]
    value: Any
    subtype: Literal["boolean", "number", "string", "object"] | None = None
    visibility: list[Literal["api", "dashboard", "worker"]] | None = None


class AdminCreate(BaseModel):
    """Body of POST /admins: name and a unique email are required."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    email: str = Field(min_length=3)
    phone: str | None = None
    type: Literal["super", "standard"] | None = None
    isReadOnly: bool | None = None
    metadata: list[MetadataEntry] | None = None


class AdminUpdate(BaseModel):
    """Body of PUT /admins/{id}: any of these fields, at least one."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)
    email: str | None = Field(default=None, min_length=3)
    phone: str | None = None
    isReadOnly: bool | None = None
    metadata: list[MetadataEntry] | None = None


class WorkerUpdate(BaseModel):
    """Body of PUT /workers/{id}: any of these fields, at least one."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)
    phone: str | None = None
    teams: list[str] | None = Field(default=None, min_length=1)
    capacity: float | None = Field(default=None, ge=0)
    vehicle: Vehicle | None = None
    metadata: list[MetadataEntry] | None = None


class ScheduleEntry(BaseModel):
    """One day of a worker's schedule: shifts are ``[start, end]`` epoch ms."""

    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    timezone: str = Field(min_length=1)
    shifts: list[list[int]] = Field(max_length=24)


class WorkerSchedule(BaseModel):
    """Body of POST /workers/{id}/schedule (and the answer of GET)."""

    entries: list[ScheduleEntry] = Field(min_length=1, max_length=400)


class TeamUpdate(BaseModel):
    """Body of PUT /teams/{id}: any of these fields, at least one."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)
    workers: list[str] | None = None
    managers: list[str] | None = None
    hub: str | None = None
    enableSelfAssignment: bool | None = None


class TeamDispatch(BaseModel):
    """Body of POST /teams/{id}/dispatch (optional; the emulator reads maxTasksPerRoute)."""

    model_config = ConfigDict(extra="allow")
    maxTasksPerRoute: int | None = Field(default=None, ge=1, le=10_000)


class HubCreate(BaseModel):
    """Body of POST /hubs: a name and an address (geocoded unless location is given)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    address: Address
    location: list[float] | None = Field(default=None, min_length=2, max_length=2)
    teams: list[str] | None = None


class HubUpdate(BaseModel):
    """Body of PUT /hubs/{id}: any of these fields, at least one."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)
    address: Address | None = None
    location: list[float] | None = Field(default=None, min_length=2, max_length=2)
    teams: list[str] | None = None


class ManifestRequest(BaseModel):
    """Body of POST /integrations/marketplace (the delivery manifest)."""

    path: str = Field(pattern=r"^/?providers/manifest/generate\?")
    method: Literal["GET"] = "GET"


# -- task operations, recipients, destinations, route plans, custom fields ------------
MAX_AUTO_ASSIGN = 100  # [inf] tasks per POST /tasks/autoAssign


class MetadataQuery(RootModel[list[MetadataEntry]]):
    """Body of POST /{tasks,recipients,destinations}/metadata: entries every match holds."""

    root: list[MetadataEntry] = Field(min_length=1, max_length=50)


class CloneOverrides(BaseModel):
    """What a clone may change (Onfleet's clone reference); times must be in the future."""

    model_config = ConfigDict(extra="forbid")
    destination: Destination | str | None = None
    recipients: list[Recipient | str] | None = Field(default=None, max_length=1)
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    pickupTask: bool | None = None
    serviceTime: float | None = Field(default=None, ge=0)
    metadata: list[MetadataEntry] | None = None
    completeAfter: int | None = None
    completeBefore: int | None = None


class CloneOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    includeMetadata: bool | None = None
    includeBarcodes: bool | None = None
    includeDependencies: bool | None = None
    overrides: CloneOverrides | None = None


class TaskClone(BaseModel):
    """Body of POST /tasks/{id}/clone (optional; no body copies the task as it is)."""

    options: CloneOptions | None = None


class AutoAssignBatchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["distance", "load"]
    teams: list[str] | None = None
    maxAssignedTaskCount: int | None = Field(default=None, ge=0)
    considerDependencies: bool | None = None
    excludedWorkerIds: list[str] | None = None
    restrictAutoAssignmentToTeam: bool | None = None


class TaskAutoAssign(BaseModel):
    """Body of POST /tasks/autoAssign: unassigned task ids and the dispatch options."""

    tasks: list[str] = Field(min_length=1, max_length=MAX_AUTO_ASSIGN)
    options: AutoAssignBatchOptions


class RecipientCreate(BaseModel):
    """Body of POST /recipients; the phone must be new to the organisation."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    phone: str
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    skipSMSNotifications: bool | None = None
    metadata: list[MetadataEntry] | None = None


class RecipientUpdate(BaseModel):
    """Body of PUT /recipients/{id}: any of the recipient's own fields."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)
    phone: str | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    skipSMSNotifications: bool | None = None
    metadata: list[MetadataEntry] | None = None


class DestinationCreate(Destination):
    """Body of POST /destinations: an address to geocode or a location, with metadata."""

    metadata: list[MetadataEntry] | None = None


class RoutePlanCreate(BaseModel):
    """Body of POST /routePlans (``tasks``, or ``taskIds`` as the reference table says)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    startTime: int = Field(ge=0)
    tasks: list[str] | None = None
    taskIds: list[str] | None = None
    color: str | None = None
    vehicleType: Literal["CAR", "MOTORCYCLE", "BICYCLE", "TRUCK"] | None = None
    worker: str | None = None
    team: str | None = None
    startAt: Literal["HUB", "WORKER_LOCATION", "WORKER_ADDRESS"] | None = None
    endAt: Literal["HUB", "WORKER_LOCATION", "WORKER_ADDRESS"] | None = None
    startingHubId: str | None = None
    endingHubId: str | None = None
    endTime: int | None = Field(default=None, ge=0)
    timezone: str | None = None


class RoutePlanUpdate(BaseModel):
    """Body of PUT /routePlans/{id}: any plan field but its tasks."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)
    startTime: int | None = Field(default=None, ge=0)
    color: str | None = None
    vehicleType: Literal["CAR", "MOTORCYCLE", "BICYCLE", "TRUCK"] | None = None
    worker: str | None = None
    team: str | None = None
    startAt: Literal["HUB", "WORKER_LOCATION", "WORKER_ADDRESS"] | None = None
    endAt: Literal["HUB", "WORKER_LOCATION", "WORKER_ADDRESS"] | None = None
    startingHubId: str | None = None
    endingHubId: str | None = None
    endTime: int | None = Field(default=None, ge=0)
    timezone: str | None = None


class RoutePlanTasks(BaseModel):
    """Body of PUT /routePlans/{id}/tasks: task ids appended to the plan."""

    tasks: list[str] = Field(min_length=1)


class CustomFieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    name: str | None = None
    type: (
        Literal[
            "single_line_text_field",
            "multi_line_text_field",
            "boolean",
            "number",
            "decimal",
            "integer",
            "date",
            "url",
            "email",
        ]
        | None
    ) = None
    description: str | None = None
    asArray: bool | None = None
    visibility: list[Literal["admin", "api", "dispatcher", "worker"]] | None = None
    editability: list[Literal["admin", "api", "dispatcher", "worker"]] | None = None
    contexts: list[Any] | None = None
    value: Any = None


class CustomFieldBody(BaseModel):
    """Body of POST, PUT and DELETE /customFields (create needs name and type)."""

    model: Literal["Task", "Worker"]
    field: CustomFieldSpec
