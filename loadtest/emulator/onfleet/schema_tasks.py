"""OpenAPI material for the task operations, recipients, destinations, route plans and
custom fields (:mod:`routes_tasks`): :data:`OPERATIONS` in ``openapi.py``'s ``Op`` shape
(method, path, provider, summary, body model, query parameters) and :data:`RESPONSES`,
the pydantic model of each operation's 2xx body (operations answering an empty body, the
DELETEs, have none).  The integrator wires both into ``openapi.py``; a test checks them
against the routes and the answers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, RootModel

from loadtest.providers import onfleet

# (method, path, provider, summary, body model, query parameters), as in openapi.py.
Op = tuple[str, str, str, str, type[BaseModel] | None, tuple[tuple[str, str, bool], ...]]

_O = onfleet.BASE_PATH
_PLAN_Q = (
    ("workerId", "string", False),
    ("startTimeFrom", "integer", False),
    ("startTimeTo", "integer", False),
    ("createdTimeFrom", "integer", False),
    ("createdTimeTo", "integer", False),
    ("hasTasks", "boolean", False),
    ("limit", "integer", False),
)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TaskAnswer(_Open):
    """A task (the keys every task carries; the seeds hold the rest)."""

    id: str
    shortId: str
    state: Literal[0, 1, 2, 3]
    worker: str | None
    destination: dict[str, Any]
    recipients: list[dict[str, Any]]
    metadata: list[Any]
    sourceTaskId: str | None = None
    routePlan: str | None = None


class TaskList(RootModel[list[TaskAnswer]]):
    pass


class AutoAssignAnswer(BaseModel):
    """Answer of POST /tasks/autoAssign: task id -> the worker it went to."""

    assignedTasksCount: int
    assignedTasks: dict[str, str]


class RecipientAnswer(_Open):
    id: str
    name: str
    phone: str
    notes: str
    skipSMSNotifications: bool
    metadata: list[Any]
    organization: str
    timeCreated: int
    timeLastModified: int


class RecipientList(RootModel[list[RecipientAnswer]]):
    pass


class DestinationAnswer(_Open):
    id: str
    location: list[float]
    address: dict[str, str]
    notes: str
    metadata: list[Any]
    timeCreated: int
    timeLastModified: int


class DestinationList(RootModel[list[DestinationAnswer]]):
    pass


class RoutePlanAnswer(_Open):
    id: str
    name: str
    state: str
    color: str | None
    tasks: list[str]
    taskStates: list[int]
    organization: str
    team: str | None
    worker: str | None
    vehicleType: str | None
    startTime: int
    endTime: int | None
    startAt: str | None
    endAt: str | None
    startingHubId: str | None
    endingHubId: str | None
    shortId: str
    timeCreated: int
    timeLastModified: int
    timezone: str | None


class RoutePlanList(RootModel[list[RoutePlanAnswer]]):
    pass


class CustomFieldAnswer(_Open):
    key: str
    name: str
    type: str
    description: str | None
    asArray: bool
    visibility: list[str]
    editability: list[str]
    model: Literal["Task", "Worker"]


class CustomFieldList(BaseModel):
    fields: list[CustomFieldAnswer]


OPERATIONS: tuple[Op, ...] = (
    ("post", f"{_O}/tasks/{{taskId}}/clone", "onfleet", "Clone a task", onfleet.TaskClone, ()),
    (
        "post",
        f"{_O}/tasks/autoAssign",
        "onfleet",
        "Auto-assign unassigned tasks",
        onfleet.TaskAutoAssign,
        (),
    ),
    (
        "post",
        f"{_O}/tasks/metadata",
        "onfleet",
        "Tasks whose metadata matches",
        onfleet.MetadataQuery,
        (),
    ),
    ("post", f"{_O}/recipients", "onfleet", "Create a recipient", onfleet.RecipientCreate, ()),
    ("get", f"{_O}/recipients/{{recipientId}}", "onfleet", "Get a recipient", None, ()),
    (
        "put",
        f"{_O}/recipients/{{recipientId}}",
        "onfleet",
        "Update a recipient",
        onfleet.RecipientUpdate,
        (),
    ),
    ("get", f"{_O}/recipients/name/{{name}}", "onfleet", "Find a recipient by name", None, ()),
    (
        "get",
        f"{_O}/recipients/phone/{{phone}}",
        "onfleet",
        "Find a recipient by phone",
        None,
        (),
    ),
    (
        "post",
        f"{_O}/recipients/metadata",
        "onfleet",
        "Recipients whose metadata matches",
        onfleet.MetadataQuery,
        (),
    ),
    (
        "post",
        f"{_O}/destinations",
        "onfleet",
        "Create a destination",
        onfleet.DestinationCreate,
        (),
    ),
    ("get", f"{_O}/destinations/{{destinationId}}", "onfleet", "Get a destination", None, ()),
    (
        "post",
        f"{_O}/destinations/metadata",
        "onfleet",
        "Destinations whose metadata matches",
        onfleet.MetadataQuery,
        (),
    ),
    ("post", f"{_O}/routePlans", "onfleet", "Create a route plan", onfleet.RoutePlanCreate, ()),
    ("get", f"{_O}/routePlans", "onfleet", "List route plans", None, _PLAN_Q),
    ("get", f"{_O}/routePlans/{{routePlanId}}", "onfleet", "Get a route plan", None, ()),
    (
        "put",
        f"{_O}/routePlans/{{routePlanId}}",
        "onfleet",
        "Update a route plan",
        onfleet.RoutePlanUpdate,
        (),
    ),
    ("delete", f"{_O}/routePlans/{{routePlanId}}", "onfleet", "Delete a route plan", None, ()),
    (
        "put",
        f"{_O}/routePlans/{{routePlanId}}/tasks",
        "onfleet",
        "Add tasks to a route plan",
        onfleet.RoutePlanTasks,
        (),
    ),
    (
        "post",
        f"{_O}/customFields",
        "onfleet",
        "Create a custom field",
        onfleet.CustomFieldBody,
        (),
    ),
    ("get", f"{_O}/customFields/{{model}}", "onfleet", "List a model's custom fields", None, ()),
    (
        "put",
        f"{_O}/customFields",
        "onfleet",
        "Update a custom field",
        onfleet.CustomFieldBody,
        (),
    ),
    (
        "delete",
        f"{_O}/customFields",
        "onfleet",
        "Delete a custom field",
        onfleet.CustomFieldBody,
        (),
    ),
)

RESPONSES: dict[tuple[str, str], type[BaseModel] | None] = {
    ("post", f"{_O}/tasks/{{taskId}}/clone"): TaskAnswer,
    ("post", f"{_O}/tasks/autoAssign"): AutoAssignAnswer,
    ("post", f"{_O}/tasks/metadata"): TaskList,
    ("post", f"{_O}/recipients"): RecipientAnswer,
    ("get", f"{_O}/recipients/{{recipientId}}"): RecipientAnswer,
    ("put", f"{_O}/recipients/{{recipientId}}"): RecipientAnswer,
    ("get", f"{_O}/recipients/name/{{name}}"): RecipientAnswer,
    ("get", f"{_O}/recipients/phone/{{phone}}"): RecipientAnswer,
    ("post", f"{_O}/recipients/metadata"): RecipientList,
    ("post", f"{_O}/destinations"): DestinationAnswer,
    ("get", f"{_O}/destinations/{{destinationId}}"): DestinationAnswer,
    ("post", f"{_O}/destinations/metadata"): DestinationList,
    ("post", f"{_O}/routePlans"): RoutePlanAnswer,
    ("get", f"{_O}/routePlans"): RoutePlanList,
    ("get", f"{_O}/routePlans/{{routePlanId}}"): RoutePlanAnswer,
    ("put", f"{_O}/routePlans/{{routePlanId}}"): RoutePlanAnswer,
    ("put", f"{_O}/routePlans/{{routePlanId}}/tasks"): RoutePlanAnswer,
    ("post", f"{_O}/customFields"): CustomFieldAnswer,
    ("get", f"{_O}/customFields/{{model}}"): CustomFieldList,
    ("put", f"{_O}/customFields"): CustomFieldAnswer,
    # empty 200 bodies (openapi.py: None)
    ("delete", "/api/v2/routePlans/{routePlanId}"): None,
    ("delete", "/api/v2/customFields"): None,
}
