"""The OpenAPI 3.1 document of every emulated route (served at ``/openapi.json``).

Request bodies use the provider modules' pydantic models, so the document, the load
test's bodies and the fuzz tests share one definition.  Each operation names its
provider's security scheme.  The ``webhooks`` section describes every event the emulator
sends (one entry per Onfleet trigger, Nash's ``delivery.created``, HyperTrack's order
array), with the payload models of :mod:`loadtest.emulator.webhooks.payloads`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from http import HTTPStatus
from importlib import resources
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from loadtest.emulator.openapi_constraints import constrain, query_schema
from loadtest.emulator.openapi_links import links_for
from loadtest.emulator.webhooks import payloads
from loadtest.providers import deftship, hypertrack, nash, onfleet, webhooks

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
    ("delete", f"{_O}/workers/{{workerId}}", "onfleet", "Delete a worker", None, ()),
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
    (
        "get",
        f"{_C}/info",
        "onfleet",
        "Emulator only: the clock's time scale (--time-scale), the profile and the version",
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
)


# -- webhook registration (the delivery engine's routes, modelled in webhooks/schema.py) --
#: Documented only when the app serves them, so the document never lists a route that
#: answers 404.
WEBHOOK_OPERATIONS: tuple[Op, ...] = _engine_operations()

_SECURITY = {
    "onfleet": "onfleetBasic",
    "nash": "nashBearer",
    "deftship": "deftshipBearer",
    "hypertrack": "hypertrackBasic",
}


def _path_params(path: str) -> list[str]:
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]


def _served(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    out = set()
    for r in routes:
        if isinstance(r, Route):
            out |= {(m.lower(), r.path) for m in r.methods or ()}
    return out


def _op_id(method: str, path: str) -> str:
    return f"{method}_{path}".replace("/", "_").replace("{", "").replace("}", "").replace("-", "_")


#: The modules whose routes the document covers besides :data:`OPERATIONS` and the webhook
#: engine's: each exports ``OPERATIONS: tuple[Op, ...]`` and ``RESPONSES: dict[(method,
#: path), model | None]`` (None: an empty body), and may export ``STATUS: dict[(method,
#: path), int]`` for a success status other than 200.  Adding a provider module's routes
#: to the document is one line here (e.g. "loadtest.emulator.onfleet.schema_fleet").
_EXTRA_MODULES: tuple[str, ...] = (
    "loadtest.emulator.onfleet.schema_fleet",
    "loadtest.emulator.onfleet.schema_tasks",
    "loadtest.emulator.nash.schema",
    "loadtest.emulator.hypertrack.schema",
)


def _sources() -> list[
    tuple[tuple[Op, ...], dict[tuple[str, str], Any], dict[tuple[str, str], int]]
]:
    """(operations, responses, statuses) of every module the document covers."""
    from loadtest.emulator import openapi_responses
    from loadtest.emulator.webhooks import schema as engine_schema

    out = [
        (OPERATIONS, openapi_responses.RESPONSES, openapi_responses.STATUS),
        (WEBHOOK_OPERATIONS, engine_schema.RESPONSES, engine_schema.STATUS),
    ]
    for name in _EXTRA_MODULES:
        mod = importlib.import_module(name)
        out.append((mod.OPERATIONS, mod.RESPONSES, getattr(mod, "STATUS", {})))
    return out


def _examples() -> dict[str, Any]:
    """The vendors' examples from the seeds, by component schema name."""
    text = resources.files("loadtest.emulator").joinpath("openapi_examples.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def build_openapi(routes: Iterable[BaseRoute] | None = None) -> dict[str, Any]:
    """The document (built on first request; a few milliseconds).  ``routes``: the app's,
    to leave out webhook registration routes it does not serve (None: all).

    Raises ``ValueError`` for an operation without a documented response (a route added
    without its ``RESPONSES`` row), so the OpenAPI tests catch it."""
    from loadtest.emulator.openapi_responses import ERROR_MODELS, ERROR_STATUSES

    served = None if routes is None else _served(routes)
    ops: list[Op] = []
    responses: dict[tuple[str, str], type[BaseModel] | None] = {}
    statuses: dict[tuple[str, str], int] = {}
    for source_ops, source_responses, source_status in _sources():
        for src_op in source_ops:
            key = (src_op[0], src_op[1])
            if source_ops is WEBHOOK_OPERATIONS and served is not None and key not in served:
                continue
            if key not in source_responses:
                raise ValueError(f"{key[0].upper()} {key[1]}: no RESPONSES entry for its answer")
            ops.append(src_op)
            responses[key] = source_responses[key]
        statuses.update(source_status)
    models: set[type[BaseModel]] = {op[4] for op in ops if op[4] is not None}
    models |= {m for m in responses.values() if m is not None}
    models |= set(ERROR_MODELS.values())
    models |= set(_PAYLOAD_MODELS)
    refs, top = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: (m.__name__, m.__module__))],
        ref_template="#/components/schemas/{model}",
    )
    schemas = top.get("$defs", {})

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return dict(refs[(model, "validation")])

    examples = _examples()
    for name, example in examples["responses"].items():
        if name in schemas:
            schemas[name].setdefault("examples", [example])
    op_ids = {(op[0], op[1]): _op_id(op[0], op[1]) for op in ops}
    links = links_for(op_ids, op_ids)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, provider, summary, model, query in ops:
        key = (method, path)
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
            {"name": n, "in": "query", "required": req, "schema": query_schema(path, n, t)}
            for n, t, req in query
        ]
        success: dict[str, Any] = {"description": "Success"}
        answer = responses[key]
        if answer is None:
            success["description"] = "Success (an empty body)"
        else:
            success["content"] = {"application/json": {"schema": ref(answer)}}
        if key in links:
            success["links"] = links[key]
        op_responses: dict[str, Any] = {str(statuses.get(key, 200)): success}
        error = ERROR_MODELS[provider]
        for status in ERROR_STATUSES[provider]:
            entry: dict[str, Any] = {
                "description": f"{HTTPStatus(status).phrase}, in the {provider} error shape",
                "content": {"application/json": {"schema": ref(error)}},
            }
            if status == 405:
                entry["headers"] = {
                    "Allow": {
                        "description": "Every method the path serves",
                        "schema": {"type": "string"},
                    }
                }
            op_responses[str(status)] = entry
        op: dict[str, Any] = {
            "operationId": op_ids[key],
            "summary": summary,
            "tags": [provider],
            "security": [{_SECURITY[provider]: []}],
            "parameters": params,
            "responses": op_responses,
        }
        if model is not None:
            body: dict[str, Any] = {"schema": ref(model)}
            if model.__name__ in examples["requests"]:
                body["example"] = examples["requests"][model.__name__]
            op["requestBody"] = {"required": True, "content": {"application/json": body}}
        paths.setdefault(path, {})[method] = op
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "fleetsim platform emulator",
            "version": "1.0.0",
            "description": "Onfleet v2, Nash, Deftship and HyperTrack as emulated by "
            "fleetsim; /emulator/v1 routes are emulator-only.  Every path also answers "
            "OPTIONS with an Allow header that lists its methods.",
        },
        "paths": paths,
        "webhooks": _webhooks(),
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
    doc = _unqualified(doc)
    constrain(doc["components"]["schemas"])
    return doc


def _unqualified(doc: dict[str, Any]) -> dict[str, Any]:
    """Name the models pydantic had to qualify (two providers' ``Address``, as
    ``loadtest__providers__onfleet__Address``) ``OnfleetAddress``, titles included: client
    generators name classes by title and refuse two alike."""
    schemas = doc["components"]["schemas"]
    renames: dict[str, str] = {}
    for key in list(schemas):
        if "__" in key:
            *module, cls = key.split("__")
            new = "".join(part.title() for part in module[-1].split("_")) + cls
            renames[f"#/components/schemas/{key}"] = f"#/components/schemas/{new}"
            schemas[new] = schemas.pop(key)
            schemas[new]["title"] = new
    if not renames:
        return doc

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: renames.get(v, v) if k == "$ref" and isinstance(v, str) else walk(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(doc)
    return out


# -- the webhooks section -----------------------------------------------------------------
_PAYLOAD_MODELS: tuple[type[BaseModel], ...] = (
    *dict.fromkeys(payloads.ONFLEET_MODELS.values()),
    payloads.OnfleetGenericEvent,
    payloads.NashEvent,
    payloads.HyperTrackEvent,
)

#: When the emulator fires each Onfleet trigger (the README has the whole table).
_ONFLEET_FIRES = {
    "taskStarted": "The driver app starts the task.",
    "taskEta": "At start and at each driver-app location update during the active task, "
    "when the ETA (geodesic distance / eta_speed_mps) is within the webhook's threshold "
    "(seconds); once per task per webhook.",
    "taskArrival": "At each driver-app location update during the active task, when the "
    "distance to the destination is within the webhook's threshold (metres); once per "
    "task per webhook.",
    "taskCompleted": "POST /tasks/{id}/complete with completionDetails.success true.",
    "taskFailed": "POST /tasks/{id}/complete with completionDetails.success false.",
    "workerDuty": "The driver app changes the worker's duty (status 1 on, 0 off).",
    "taskCreated": "POST /tasks (never /tasks/batch nor an async job).",
    "taskUpdated": "PUT /tasks/{id} with fields other than the container.",
    "taskDeleted": "DELETE /tasks/{id}.",
    "taskAssigned": "The task moves into a worker's container (PUT /tasks/{id} container, "
    "PUT /containers/workers/{id}); not for tasks created already assigned.",
    "taskUnassigned": "The task leaves a worker for a team or the organisation.",
    "workerCreated": "POST /workers.",
    "workerDeleted": "A worker is deleted (the emulator has no delete route yet).",
    "taskBatchCreateJobCompleted": "An async batch job ends (POST /tasks/batch-async).",
}


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _event(
    op_id: str,
    provider: str,
    summary: str,
    description: str,
    schema: dict[str, Any],
    headers: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "post": {
            "operationId": op_id,
            "summary": summary,
            "description": description,
            "tags": [provider],
            "parameters": headers,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            },
            "responses": {
                "200": {"description": "Delivered"},
                "default": {"description": "Not delivered: retried on the provider's schedule"},
            },
        }
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _webhooks() -> dict[str, Any]:
    """Every delivery the emulator sends, by ``{provider}.{event}``."""
    onfleet_headers = [
        _header(
            webhooks.ONFLEET_SIGNATURE_HEADER,
            "Hex HMAC-SHA512 of the raw body, keyed by the bytes of the hex webhook secret",
        ),
        _header(webhooks.ONFLEET_DELIVERY_ID_HEADER, "Stable delivery id, for deduplication"),
    ]
    out: dict[str, Any] = {
        "onfleet.validation": {
            "get": {
                "operationId": "webhook_onfleet_validation",
                "summary": "Onfleet's handshake when a webhook is created",
                "description": "The receiver must answer 200 with the check value as the "
                "body; anything else (204 included) fails the creation with 400/1008.",
                "tags": ["onfleet"],
                "parameters": [
                    {
                        "name": webhooks.ONFLEET_CHECK_PARAM,
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The check value echoed",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        }
    }
    for tid, name in sorted(webhooks.ONFLEET_TRIGGERS.items()):
        model = payloads.ONFLEET_MODELS.get(name, payloads.OnfleetGenericEvent)
        fires = _ONFLEET_FIRES.get(name, "Accepted for registration; the emulator never fires it.")
        schema = {
            "allOf": [
                _ref(model),
                {
                    "type": "object",
                    "properties": {"triggerId": {"const": tid}, "triggerName": {"const": name}},
                },
            ]
        }
        out[f"onfleet.{name}"] = _event(
            f"webhook_onfleet_{name}",
            "onfleet",
            f"Onfleet trigger {tid}: {name}",
            fires,
            schema,
            onfleet_headers,
        )
    svix = [
        _header("svix-id", "Stable message id (deduplication)"),
        _header("svix-timestamp", "Seconds since the epoch"),
        _header("svix-signature", "v1,<base64 HMAC-SHA256>, keyed by the whsec_ secret"),
    ]
    for event in payloads.NASH_EVENTS:
        kind, _, what = event.partition(".")
        schema = {
            "allOf": [
                _ref(payloads.NashEvent),
                {
                    "type": "object",
                    "properties": {"type": {"const": kind}, "event": {"const": what}},
                },
            ]
        }
        out[f"nash.{event}"] = _event(
            f"webhook_nash_{kind}_{what}",
            "nash",
            f"Nash {event} (Svix)",
            "POST /v1/batch_job creates a job (an idempotent replay sends nothing); data is "
            "the job as created.",
            schema,
            svix,
        )
    values = list(payloads.HYPERTRACK_VALUES)
    out["hypertrack.order"] = _event(
        "webhook_hypertrack_order",
        "hypertrack",
        "HyperTrack order events (a JSON array)",
        "One delivery per value per API call, with one event per order the call changed: "
        + "; ".join(f"{v}: {call}" for v, call in payloads.HYPERTRACK_VALUES.items())
        + ".",
        {
            "type": "array",
            "minItems": 1,
            "items": {
                "allOf": [
                    _ref(payloads.HyperTrackEvent),
                    {
                        "type": "object",
                        "properties": {
                            "data": {
                                "type": "object",
                                "properties": {"value": {"enum": values}},
                            }
                        },
                    },
                ]
            },
        },
        [
            _header(webhooks.HYPERTRACK_SIGNATURE_HEADER, "Hex HMAC-SHA256 of the raw body"),
            _header(webhooks.HYPERTRACK_DELIVERY_ID_HEADER, "Stable message id (retries keep it)"),
        ],
    )
    return out
