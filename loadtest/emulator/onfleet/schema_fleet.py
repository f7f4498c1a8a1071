"""OpenAPI operations and 2xx response schemas of the fleet routes (fleet_api.py).

``OPERATIONS`` uses the ``Op`` shape of :mod:`loadtest.emulator.openapi`: (method, path,
provider, summary, body model, query parameters); ``RESPONSES`` maps (method, path) to
the pydantic model of the 2xx body (a RootModel for arrays).  The deletes answer
Onfleet's empty 200 body, so they have no entry.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from loadtest.providers import onfleet

_O = onfleet.BASE_PATH

Query = tuple[tuple[str, str, bool], ...]
Op = tuple[str, str, str, str, type[BaseModel] | None, Query]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Organization(_Open):
    id: str
    timeCreated: int
    timeLastModified: int
    name: str
    email: str
    image: str | None
    timezone: str
    country: str
    delegatees: list[str]


class Delegatee(_Open):
    id: str
    name: str
    email: str
    timezone: str
    country: str


class Admin(_Open):
    id: str
    timeCreated: int
    timeLastModified: int
    organization: str
    email: str
    type: str
    name: str
    isActive: bool
    isReadOnly: bool
    isAccountOwner: bool
    phone: str | None
    metadata: list[dict[str, Any]]
    teams: list[str]


class Admins(RootModel[list[Admin]]):
    pass


class Worker(_Open):
    id: str
    timeCreated: int
    timeLastModified: int
    organization: str
    name: str
    phone: str
    activeTask: str | None
    tasks: list[str]
    onDuty: bool
    teams: list[str]
    capacity: float | None
    vehicle: dict[str, Any] | None
    location: list[float] | None
    metadata: list[dict[str, Any]]


def _none_required(schema: dict[str, Any]) -> None:
    schema.pop("required", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)  # absent, not null: the field was not asked for


_OPTIONAL: dict[str, Any] = {
    name: (f.annotation, Field(default=None)) for name, f in Worker.model_fields.items()
}
#: A worker, or only the fields ``filter`` asked for: a worker's fields, none required.
WorkerFields: type[BaseModel] = create_model(
    "WorkerFields",
    __config__=ConfigDict(extra="allow", json_schema_extra=_none_required),
    **_OPTIONAL,
)


class WorkerList(RootModel[list[WorkerFields]]):
    pass


class Workers(RootModel[list[Worker]]):
    pass


class WorkersNear(BaseModel):
    workers: list[Worker]


class TaskPage(BaseModel):
    tasks: list[dict[str, Any]]
    lastId: str | None = None


class ScheduleEntry(BaseModel):
    date: str
    timezone: str
    shifts: list[list[int]]


class Schedule(BaseModel):
    entries: list[ScheduleEntry]


class Team(_Open):
    id: str
    timeCreated: int
    timeLastModified: int
    name: str
    workers: list[str]
    managers: list[str]
    hub: str | None
    tasks: list[str]


class EstimateStep(BaseModel):
    location: list[float] = Field(min_length=2, max_length=2)
    travelTime: int = Field(ge=0)
    distance: float = Field(ge=0)
    serviceTime: int = Field(ge=0)
    arrivalTime: int
    completionTime: int


class Estimate(BaseModel):
    workerId: str
    vehicle: str
    steps: list[EstimateStep]


class Dispatch(BaseModel):
    dispatchId: str
    assignedTasks: list[str]


class Driver(BaseModel):
    name: str
    phone: str


class Manifest(BaseModel):
    manifestDate: int
    departureTime: int
    driver: Driver
    vehicle: dict[str, Any] | None
    hubAddress: str
    turnByTurn: list[dict[str, Any]]
    totalDistance: float = Field(ge=0)
    totalDuration: int = Field(ge=0)
    tasks: list[dict[str, Any]]


class Container(_Open):
    id: str
    organization: str
    type: str
    activeTask: str | None
    tasks: list[str]


class Hub(BaseModel):
    id: str
    name: str
    location: list[float] = Field(min_length=2, max_length=2)
    address: dict[str, str]
    teams: list[str]


class Hubs(RootModel[list[Hub]]):
    pass


_WORKER_Q: Query = (
    ("filter", "string", False),
    ("phones", "string", False),
    ("states", "string", False),
    ("teams", "string", False),
)
_TASKS_Q: Query = (
    ("from", "integer", False),
    ("to", "integer", False),
    ("lastId", "string", False),
    ("isPickupTask", "string", False),
)
_LOCATION_Q: Query = (
    ("longitude", "number", True),
    ("latitude", "number", True),
    ("radius", "number", False),
)
_ESTIMATE_Q: Query = (
    ("pickupLocation", "string", False),
    ("dropoffLocation", "string", False),
    ("pickupTime", "integer", False),
    ("serviceTime", "integer", False),
    ("restrictedVehicleTypes", "string", False),
)

_KINDS = (("workers", "worker"), ("teams", "team"), ("organizations", "organisation"))

OPERATIONS: tuple[Op, ...] = (
    ("get", f"{_O}/organization", "onfleet", "Get the organisation", None, ()),
    ("get", f"{_O}/organizations/{{orgId}}", "onfleet", "Get a (delegatee) organisation", None, ()),
    ("get", f"{_O}/admins", "onfleet", "List administrators", None, ()),
    ("post", f"{_O}/admins", "onfleet", "Create an administrator", onfleet.AdminCreate, ()),
    (
        "post",
        f"{_O}/admins/metadata",
        "onfleet",
        "Administrators whose metadata match",
        None,
        (),
    ),
    (
        "put",
        f"{_O}/admins/{{adminId}}",
        "onfleet",
        "Update an administrator",
        onfleet.AdminUpdate,
        (),
    ),
    ("delete", f"{_O}/admins/{{adminId}}", "onfleet", "Delete an administrator", None, ()),
    ("get", f"{_O}/workers", "onfleet", "List workers (filtered)", None, _WORKER_Q),
    ("get", f"{_O}/workers/location", "onfleet", "On-duty workers near a point", None, _LOCATION_Q),
    ("post", f"{_O}/workers/metadata", "onfleet", "Workers whose metadata match", None, ()),
    (
        "get",
        f"{_O}/workers/{{workerId}}",
        "onfleet",
        "Get a worker",
        None,
        (("filter", "string", False),),
    ),
    ("put", f"{_O}/workers/{{workerId}}", "onfleet", "Update a worker", onfleet.WorkerUpdate, ()),
    ("delete", f"{_O}/workers/{{workerId}}", "onfleet", "Delete a worker", None, ()),
    (
        "get",
        f"{_O}/workers/{{workerId}}/tasks",
        "onfleet",
        "A worker's tasks (paged)",
        None,
        _TASKS_Q,
    ),
    ("get", f"{_O}/workers/{{workerId}}/schedule", "onfleet", "A worker's schedule", None, ()),
    (
        "post",
        f"{_O}/workers/{{workerId}}/schedule",
        "onfleet",
        "Set a worker's schedule (merged by date)",
        onfleet.WorkerSchedule,
        (),
    ),
    (
        "post",
        f"{_O}/integrations/marketplace",
        "onfleet",
        "A worker's delivery manifest from a hub",
        onfleet.ManifestRequest,
        (("startDate", "integer", False), ("endDate", "integer", False)),
    ),
    ("put", f"{_O}/teams/{{teamId}}", "onfleet", "Update a team", onfleet.TeamUpdate, ()),
    ("delete", f"{_O}/teams/{{teamId}}", "onfleet", "Delete a team", None, ()),
    ("get", f"{_O}/teams/{{teamId}}/tasks", "onfleet", "A team's tasks (paged)", None, _TASKS_Q),
    (
        "get",
        f"{_O}/teams/{{teamId}}/estimate",
        "onfleet",
        "Worker ETA for a team",
        None,
        _ESTIMATE_Q,
    ),
    (
        "post",
        f"{_O}/teams/{{teamId}}/dispatch",
        "onfleet",
        "Auto-dispatch a team's tasks",
        onfleet.TeamDispatch,
        (),
    ),
    *(
        ("get", f"{_O}/containers/{kind}/{{id}}", "onfleet", f"Get a {what} container", None, ())
        for kind, what in _KINDS
    ),
    *(
        (
            "put",
            f"{_O}/containers/{kind}/{{id}}",
            "onfleet",
            f"Insert tasks into a {what} container"
            + (" (or replace its list)" if kind == "workers" else ""),
            onfleet.ContainerUpdate,
            (),
        )
        for kind, what in (*_KINDS, ("organization", "organisation"))
    ),
    (
        "put",
        f"{_O}/containers/{{id}}",
        "onfleet",
        "Update the container of a worker, team or organisation by its id",
        onfleet.ContainerUpdate,
        (),
    ),
    ("get", f"{_O}/hubs", "onfleet", "List hubs", None, ()),
    ("post", f"{_O}/hubs", "onfleet", "Create a hub", onfleet.HubCreate, ()),
    ("put", f"{_O}/hubs/{{hubId}}", "onfleet", "Update a hub", onfleet.HubUpdate, ()),
)

RESPONSES: dict[tuple[str, str], type[BaseModel] | None] = {
    ("get", f"{_O}/organization"): Organization,
    ("get", f"{_O}/organizations/{{orgId}}"): Delegatee,
    ("get", f"{_O}/admins"): Admins,
    ("post", f"{_O}/admins"): Admin,
    ("post", f"{_O}/admins/metadata"): Admins,
    ("put", f"{_O}/admins/{{adminId}}"): Admin,
    ("get", f"{_O}/workers"): WorkerList,
    ("get", f"{_O}/workers/location"): WorkersNear,
    ("post", f"{_O}/workers/metadata"): Workers,
    ("get", f"{_O}/workers/{{workerId}}"): WorkerFields,
    ("put", f"{_O}/workers/{{workerId}}"): Worker,
    ("get", f"{_O}/workers/{{workerId}}/tasks"): TaskPage,
    ("get", f"{_O}/workers/{{workerId}}/schedule"): Schedule,
    ("post", f"{_O}/workers/{{workerId}}/schedule"): Schedule,
    ("post", f"{_O}/integrations/marketplace"): Manifest,
    ("put", f"{_O}/teams/{{teamId}}"): Team,
    ("get", f"{_O}/teams/{{teamId}}/tasks"): TaskPage,
    ("get", f"{_O}/teams/{{teamId}}/estimate"): Estimate,
    ("post", f"{_O}/teams/{{teamId}}/dispatch"): Dispatch,
    **{("get", f"{_O}/containers/{kind}/{{id}}"): Container for kind, _ in _KINDS},
    **{("put", f"{_O}/containers/{kind}/{{id}}"): Container for kind, _ in _KINDS},
    ("put", f"{_O}/containers/organization/{{id}}"): Container,
    ("put", f"{_O}/containers/{{id}}"): Container,
    ("get", f"{_O}/hubs"): Hubs,
    ("post", f"{_O}/hubs"): Hub,
    ("put", f"{_O}/hubs/{{hubId}}"): Hub,
    # empty 200 bodies (openapi.py: None)
    ("delete", "/api/v2/admins/{adminId}"): None,
    ("delete", "/api/v2/workers/{workerId}"): None,
    ("delete", "/api/v2/teams/{teamId}"): None,
}
