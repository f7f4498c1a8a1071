"""What the emulator answers, as pydantic models for the OpenAPI document.

* The 2xx bodies of every operation of :data:`loadtest.emulator.openapi.OPERATIONS`
  (:data:`RESPONSES`), written from the route code and the vendors' examples in the
  seeds; an operation that answers an empty body maps to ``None``.
* :data:`STATUS`: the success status where it is not 200.
* Each provider's error shape (:data:`ERROR_MODELS`) and the statuses its dialect
  produces (:data:`ERROR_STATUSES`), so every 4xx/5xx the emulator can give is documented.

The models describe answers, never validate them on the hot path: the routes build
their JSON by hand.  Nested objects that the client supplied (metadata, a task body
echoed back in an error) stay free-form.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from loadtest.providers import deftship, hypertrack, nash, onfleet

_O = onfleet.BASE_PATH
_C = onfleet.CONTROL_PATH
_N = nash.BASE_PATH
_D = deftship.BASE_PATH
_H = hypertrack.BASE_PATH


# -- Onfleet ------------------------------------------------------------------------------
class OnfleetAuthTest(BaseModel):
    message: str


class OnfleetContainerRef(BaseModel):
    """``{"type": "WORKER", "worker": id}`` (or TEAM/team, ORGANIZATION/organization)."""

    type: Literal["ORGANIZATION", "TEAM", "WORKER"]
    worker: str | None = None
    team: str | None = None
    organization: str | None = None


class OnfleetCompletionDetails(BaseModel):
    events: list[Any]
    time: int | None


class OnfleetTaskOut(BaseModel):
    """A task as Onfleet answers it (POST /tasks, GET /tasks/{id}, ...)."""

    id: str = Field(min_length=1)
    timeCreated: int
    timeLastModified: int
    organization: str
    shortId: str
    trackingURL: str
    worker: str | None
    merchant: str
    executor: str
    creator: str
    dependencies: list[str]
    state: int = Field(ge=0, le=3)
    completeAfter: int | float | None
    completeBefore: int | float | None
    pickupTask: bool
    notes: str
    completionDetails: OnfleetCompletionDetails
    feedback: list[Any]
    metadata: list[Any]
    overrides: dict[str, Any]
    # Always sent by the emulator; absent from some of Onfleet's documented examples.
    quantity: float | None = None
    additionalQuantities: dict[str, Any] | None = None
    serviceTime: float | None = None
    identity: dict[str, Any] | None = None
    appearance: dict[str, Any] | None = None
    scanOnlyRequiredBarcodes: bool | None = None
    container: OnfleetContainerRef
    trackingViewed: bool | None = None
    recipients: list[dict[str, Any]]
    destination: dict[str, Any]
    didAutoAssign: bool | None = None


class OnfleetBatchErrorDetail(BaseModel):
    statusCode: int
    error: int
    message: str
    cause: Any = None


class OnfleetBatchError(BaseModel):
    error: OnfleetBatchErrorDetail
    task: Any


class OnfleetBatchResult(BaseModel):
    """POST /tasks/batch: the tasks made and one error per refused task."""

    tasks: list[OnfleetTaskOut]
    errors: list[OnfleetBatchError]


class OnfleetJobAccepted(BaseModel):
    """POST /tasks/batch-async."""

    jobId: str = Field(min_length=1)
    status: str


class OnfleetJobError(BaseModel):
    statusCode: int
    errorCode: int
    message: str
    cause: Any = None
    taskData: Any


class OnfleetJobStatus(BaseModel):
    """GET /tasks/batch/{jobId} (pending or final: the same keys)."""

    status: str
    submitted: str
    tasksReceived: int = Field(ge=0)
    tasksCreated: int = Field(ge=0)
    tasksErrored: int = Field(ge=0)
    errors: list[OnfleetJobError]
    failedTasks: list[Any]
    newTasks: list[OnfleetTaskOut]
    newTasksWithWarnings: list[OnfleetTaskOut]


class OnfleetTaskPage(BaseModel):
    """GET /tasks/all: a page of 64 at most; ``lastId`` when there is another page."""

    tasks: list[OnfleetTaskOut]
    lastId: str | None = None


class OnfleetWorkerOut(BaseModel):
    id: str = Field(min_length=1)
    timeCreated: int
    timeLastModified: int
    organization: str
    name: str
    displayName: str | None
    phone: str
    activeTask: str | None
    tasks: list[str]
    onDuty: bool
    isResponding: bool
    timeLastSeen: int | None
    capacity: float | None
    additionalCapacities: dict[str, Any]
    userData: dict[str, Any]
    accountStatus: str
    metadata: list[Any]
    imageUrl: str | None
    teams: list[str]
    vehicle: dict[str, Any] | None
    location: list[float] | None
    delayTime: float | None
    hasRecentlyUsedSpoofedLocations: bool


class OnfleetWorkerList(RootModel[list[OnfleetWorkerOut]]):
    pass


class OnfleetTeamOut(BaseModel):
    id: str = Field(min_length=1)
    timeCreated: int
    timeLastModified: int
    name: str
    workers: list[str]
    managers: list[str]
    hub: str | None
    tasks: list[str]
    enableSelfAssignment: bool


class OnfleetTeamList(RootModel[list[OnfleetTeamOut]]):
    pass


class OnfleetContainerOut(BaseModel):
    """A worker's, team's or the organisation's container (the ordered task ids)."""

    id: str
    timeCreated: int
    timeLastModified: int
    organization: str
    type: Literal["ORGANIZATION", "TEAM", "WORKER"]
    activeTask: str | None
    tasks: list[str]
    worker: str | None = None
    team: str | None = None


class OnfleetErrorMessage(BaseModel):
    error: int
    message: str
    cause: Any = None
    request: str
    remoteAddress: str


class OnfleetError(BaseModel):
    """Onfleet's error body (also the emulator's own routes and the driver app)."""

    model_config = ConfigDict(extra="forbid")
    code: str
    message: OnfleetErrorMessage


# -- Nash -------------------------------------------------------------------------------
class NashJobOut(BaseModel):
    """A Nash job (POST /v1/batch_job, GET /v1/jobs/{id}); the keys the seed marks
    required, the configurations and batch free-form beneath."""

    id: str = Field(min_length=1)
    createdAt: str
    portalUrl: str
    isActive: bool
    isBatch: bool
    externalIdentifier: str | None
    jobMetadata: Any
    optionsGroup: Any
    shortReferenceCode: str | None
    jobConfigurations: list[dict[str, Any]]
    batch: dict[str, Any]


class NashErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class NashErrorItem(BaseModel):
    error: NashErrorBody
    response_status: str
    RequestID: str


class NashError(RootModel[list[NashErrorItem]]):
    """Nash's error body: an array of one error (the id repeated in X-REQUEST-ID)."""

    root: list[NashErrorItem] = Field(min_length=1)


# -- Deftship -----------------------------------------------------------------------------
class DeftshipResults(BaseModel):
    total_count: int = Field(ge=0)
    valid_count: int = Field(ge=0)
    invalid_count: int = Field(ge=0)
    completed_count: int = Field(ge=0)
    failed_count: int = Field(ge=0)
    completion_percentage: str


class DeftshipItem(BaseModel):
    id: str
    status: Literal["valid", "invalid", "completed", "failed", "validating"]
    errors: Any = None
    shipment_order: dict[str, Any] | None


class DeftshipItemPage(BaseModel):
    """Laravel's paginator over a batch's items (100 a page)."""

    current_page: int = Field(ge=1)
    data: list[DeftshipItem]
    first_page_url: str
    next_page_url: str | None
    prev_page_url: str | None
    path: str
    per_page: int
    to: int | None
    # Laravel's paginator sends ``from`` (a Python keyword).
    from_: int | None = Field(alias="from")


class DeftshipBatchOut(BaseModel):
    id: str = Field(min_length=1)
    status: str
    default_service: str
    default_shipper_id: str
    results: DeftshipResults | None = None
    labels: list[str] | None = None
    items: DeftshipItemPage | None = None


class DeftshipAnswer(BaseModel):
    """``{success: true, data: batch}`` (the items page on GET only)."""

    success: Literal[True]
    data: DeftshipBatchOut


class DeftshipError(BaseModel):
    """Laravel's error body (``data.errors`` per field on a 422)."""

    success: Literal[False]
    message: str
    data: Any = None


# -- HyperTrack ---------------------------------------------------------------------------
class HyperTrackOrderOut(BaseModel):
    """An order (GET /orders/{handle}, and the answer of each order action)."""

    order_handle: str = Field(min_length=1)
    fulfillment_attempt: int = Field(ge=0)
    status: str
    destination: dict[str, Any]
    ops_group_handle: str | None
    track_mode: str
    risk_status: bool
    risks: dict[str, str]
    scheduled_at: str | None
    type: str
    type_index: int
    metadata: dict[str, Any] | None
    share_url: str
    worker_handle: str | None
    created_at: str
    route_handle: str | None
    timeline: list[dict[str, Any]]


class HyperTrackRouteOut(BaseModel):
    """POST /orders/track: the route the orders joined."""

    route_handle: str
    status: str
    version: int
    embed_url: str
    worker_handle: str | None
    orders: list[HyperTrackOrderOut]


class HyperTrackError(BaseModel):
    """``{detail: {location: {field: [reason]}}, message}``."""

    detail: dict[str, Any]
    message: str


# -- the tables ---------------------------------------------------------------------------
class EmulatorInfo(BaseModel):
    """``GET /emulator/v1/info``: what a replay checks its ``--speedup`` against."""

    service: str
    time_scale: float = Field(gt=0)
    profile: str
    version: str


RESPONSES: dict[tuple[str, str], type[BaseModel] | None] = {
    ("get", f"{_C}/info"): EmulatorInfo,
    ("get", f"{_O}/auth/test"): OnfleetAuthTest,
    ("post", f"{_O}/tasks"): OnfleetTaskOut,
    ("post", f"{_O}/tasks/batch"): OnfleetBatchResult,
    ("post", f"{_O}/tasks/batch-async"): OnfleetJobAccepted,
    ("get", f"{_O}/tasks/batch/{{jobId}}"): OnfleetJobStatus,
    ("get", f"{_O}/tasks/all"): OnfleetTaskPage,
    ("get", f"{_O}/tasks/shortId/{{shortId}}"): OnfleetTaskOut,
    ("get", f"{_O}/tasks/{{taskId}}"): OnfleetTaskOut,
    ("put", f"{_O}/tasks/{{taskId}}"): OnfleetTaskOut,
    ("delete", f"{_O}/tasks/{{taskId}}"): None,
    ("post", f"{_O}/tasks/{{taskId}}/complete"): None,
    ("post", f"{_O}/workers"): OnfleetWorkerOut,
    ("get", f"{_O}/workers"): OnfleetWorkerList,
    ("get", f"{_O}/workers/{{workerId}}"): OnfleetWorkerOut,
    ("delete", f"{_O}/workers/{{workerId}}"): None,
    ("post", f"{_O}/teams"): OnfleetTeamOut,
    ("get", f"{_O}/teams"): OnfleetTeamList,
    ("get", f"{_O}/teams/{{teamId}}"): OnfleetTeamOut,
    ("get", f"{_O}/containers/workers/{{id}}"): OnfleetContainerOut,
    ("put", f"{_O}/containers/workers/{{id}}"): OnfleetContainerOut,
    ("get", f"{_O}/containers/teams/{{id}}"): OnfleetContainerOut,
    ("get", f"{_O}/containers/organizations/{{id}}"): OnfleetContainerOut,
    ("post", f"{_C}/workers/{{workerId}}/duty"): OnfleetWorkerOut,
    ("post", f"{_C}/workers/{{workerId}}/location"): OnfleetWorkerOut,
    ("post", f"{_C}/tasks/{{taskId}}/start"): OnfleetTaskOut,
    ("post", f"{_N}/batch_job"): NashJobOut,
    ("get", f"{_N}/jobs/{{jobId}}"): NashJobOut,
    ("post", _D): DeftshipAnswer,
    ("get", f"{_D}/{{batchId}}"): DeftshipAnswer,
    ("put", f"{_D}/{{batchId}}/add-items"): DeftshipAnswer,
    ("put", f"{_D}/{{batchId}}/remove-items"): DeftshipAnswer,
    ("post", f"{_D}/{{batchId}}/ship"): DeftshipAnswer,
    ("post", f"{_H}/track"): HyperTrackRouteOut,
    ("get", f"{_H}/{{handle}}"): HyperTrackOrderOut,
    **{
        ("post", f"{_H}/{{handle}}/{a}"): HyperTrackOrderOut
        for a in ("complete", "cancel", "disable", "enable")
    },
}

#: The success status where it is not 200.
STATUS: dict[tuple[str, str], int] = {}

#: Each provider's error body.
ERROR_MODELS: dict[str, type[BaseModel]] = {
    "onfleet": OnfleetError,
    "nash": NashError,
    "deftship": DeftshipError,
    "hypertrack": HyperTrackError,
}

# What every dialect can answer on any route: 400 (the Host guard, Onfleet's validation),
# 401, 404, 405 (another method of the path), 413 (body cap), 500 (a bug, in the
# provider's shape) and 503 (fault injection's default status).
_COMMON = (400, 401, 404, 405, 413, 500, 503)
#: The error statuses each provider's routes and middleware can answer.
ERROR_STATUSES: dict[str, tuple[int, ...]] = {
    # 409 (a conflicting state), 412 (a container lock timed out), 429 (the rate limit)
    "onfleet": (*_COMMON, 409, 412, 429),
    "nash": (*_COMMON, 409, 422, 429),
    "deftship": (*_COMMON, 409, 422, 429),
    "hypertrack": (*_COMMON, 409, 422, 429),
}
