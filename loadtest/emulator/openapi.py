"""The OpenAPI 3.1 document of every emulated route (served at ``/openapi.json``).

Request bodies use the provider modules' pydantic models, so the document, the load
test's bodies and the fuzz tests share one definition.  Each operation names its
provider's security scheme.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from loadtest.providers import deftship, hypertrack, nash, onfleet

# (method, path, provider, summary, body model, query parameters)
Op = tuple[str, str, str, str, type[BaseModel] | None, tuple[tuple[str, str, bool], ...]]

_O = onfleet.BASE_PATH
_C = onfleet.CONTROL_PATH
_LIST_Q = (
    ("from", "integer", True),
    ("to", "integer", False),
    ("lastId", "string", False),
    ("state", "string", False),
    ("worker", "string", False),
)
_HT_Q = (
    ("type", "string", False),
    ("type_index", "integer", False),
    ("fulfillment_attempt", "integer", False),
)


def _engine_operations() -> tuple[Op, ...]:
    """The webhook engine's registration and test-event routes (webhooks/schema.py)."""
    from loadtest.emulator.webhooks.schema import OPERATIONS as engine_ops

    return engine_ops


OPERATIONS: tuple[Op, ...] = (
    ("get", f"{_O}/auth/test", "onfleet", "Check the API key", None, ()),
    ("post", f"{_O}/tasks", "onfleet", "Create a task", onfleet.TaskCreate, ()),
    ("post", f"{_O}/tasks/batch", "onfleet", "Create up to 500 tasks", onfleet.TaskBatch, ()),
    (
        "post",
        f"{_O}/tasks/batch-async",
        "onfleet",
        "Submit an async batch job",
        onfleet.TaskBatch,
        (),
    ),
    ("get", f"{_O}/tasks/batch/{{jobId}}", "onfleet", "Async batch job status", None, ()),
    ("get", f"{_O}/tasks/all", "onfleet", "List tasks (64 per page)", None, _LIST_Q),
    ("get", f"{_O}/tasks/shortId/{{shortId}}", "onfleet", "Get a task by short id", None, ()),
    ("get", f"{_O}/tasks/{{taskId}}", "onfleet", "Get a task", None, ()),
    ("put", f"{_O}/tasks/{{taskId}}", "onfleet", "Update a task", onfleet.TaskUpdate, ()),
    ("delete", f"{_O}/tasks/{{taskId}}", "onfleet", "Delete a task", None, ()),
    (
        "post",
        f"{_O}/tasks/{{taskId}}/complete",
        "onfleet",
        "Complete an active task",
        onfleet.TaskComplete,
        (),
    ),
    ("post", f"{_O}/workers", "onfleet", "Create a worker", onfleet.WorkerCreate, ()),
    ("get", f"{_O}/workers", "onfleet", "List workers", None, ()),
    ("get", f"{_O}/workers/{{workerId}}", "onfleet", "Get a worker", None, ()),
    ("post", f"{_O}/teams", "onfleet", "Create a team", onfleet.TeamCreate, ()),
    ("get", f"{_O}/teams", "onfleet", "List teams", None, ()),
    ("get", f"{_O}/teams/{{teamId}}", "onfleet", "Get a team", None, ()),
    ("get", f"{_O}/containers/workers/{{id}}", "onfleet", "A worker's container", None, ()),
    (
        "put",
        f"{_O}/containers/workers/{{id}}",
        "onfleet",
        "Set a worker's tasks",
        onfleet.ContainerUpdate,
        (),
    ),
    ("get", f"{_O}/containers/teams/{{id}}", "onfleet", "A team's container", None, ()),
    (
        "get",
        f"{_O}/containers/organizations/{{id}}",
        "onfleet",
        "The organisation container",
        None,
        (),
    ),
    (
        "post",
        f"{_C}/workers/{{workerId}}/duty",
        "onfleet",
        "Emulator only: the driver goes on or off duty",
        onfleet.DutyChange,
        (),
    ),
    (
        "post",
        f"{_C}/workers/{{workerId}}/location",
        "onfleet",
        "Emulator only: the driver's phone reports its position",
        onfleet.Move,
        (),
    ),
    (
        "post",
        f"{_C}/tasks/{{taskId}}/start",
        "onfleet",
        "Emulator only: the driver starts an assigned task",
        None,
        (),
    ),
    ("post", f"{nash.BASE_PATH}/batch_job", "nash", "Create a batch job", nash.BatchJobCreate, ()),
    ("get", f"{nash.BASE_PATH}/jobs/{{jobId}}", "nash", "Get a job", None, ()),
    ("post", deftship.BASE_PATH, "deftship", "Create a batch", deftship.BatchCreate, ()),
    (
        "get",
        f"{deftship.BASE_PATH}/{{batchId}}",
        "deftship",
        "Get a batch (paginated items)",
        None,
        (("status", "string", False), ("page", "integer", False)),
    ),
    (
        "put",
        f"{deftship.BASE_PATH}/{{batchId}}/add-items",
        "deftship",
        "Add items",
        deftship.AddItems,
        (),
    ),
    (
        "put",
        f"{deftship.BASE_PATH}/{{batchId}}/remove-items",
        "deftship",
        "Remove items",
        deftship.RemoveItems,
        (),
    ),
    ("post", f"{deftship.BASE_PATH}/{{batchId}}/ship", "deftship", "Ship a ready batch", None, ()),
    (
        "post",
        f"{hypertrack.BASE_PATH}/track",
        "hypertrack",
        "Track orders",
        hypertrack.TrackRequest,
        (),
    ),
    ("get", f"{hypertrack.BASE_PATH}/{{handle}}", "hypertrack", "Get an order", None, _HT_Q),
    *(
        (
            "post",
            f"{hypertrack.BASE_PATH}/{{handle}}/{a}",
            "hypertrack",
            f"{a.title()} an order",
            hypertrack.OrderAction,
            _HT_Q,
        )
        for a in ("complete", "cancel", "disable", "enable")
    ),
    *_engine_operations(),
)

_SECURITY = {
    "onfleet": "onfleetBasic",
    "nash": "nashBearer",
    "deftship": "deftshipBearer",
    "hypertrack": "hypertrackBasic",
}


def _path_params(path: str) -> list[str]:
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]


def build_openapi() -> dict[str, Any]:
    """The document (built on first request; a few milliseconds)."""
    models = sorted({op[4] for op in OPERATIONS if op[4] is not None}, key=lambda m: m.__name__)
    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for method, path, provider, summary, model, query in OPERATIONS:
        params: list[dict[str, Any]] = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
            }
            for p in _path_params(path)
        ]
        params += [
            {"name": n, "in": "query", "required": req, "schema": {"type": t}}
            for n, t, req in query
        ]
        op: dict[str, Any] = {
            "operationId": f"{method}_{path}".replace("/", "_")
            .replace("{", "")
            .replace("}", "")
            .replace("-", "_"),
            "summary": summary,
            "tags": [provider],
            "security": [{_SECURITY[provider]: []}],
            "parameters": params,
            "responses": {
                "200": {"description": "Success", "content": {"application/json": {}}},
                "4XX": {
                    "description": f"The {provider} error shape",
                    "content": {"application/json": {}},
                },
            },
        }
        if model is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                    }
                },
            }
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fleetsim platform emulator",
            "version": "1.0.0",
            "description": "Onfleet v2, Nash, Deftship and HyperTrack as emulated by "
            "fleetsim; /emulator/v1 routes are emulator-only.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "onfleetBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "API key as the user name, empty password",
                },
                "nashBearer": {"type": "http", "scheme": "bearer"},
                "deftshipBearer": {"type": "http", "scheme": "bearer"},
                "hypertrackBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "AccountID:SecretKey",
                },
            },
        },
    }
