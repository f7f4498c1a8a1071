"""OpenAPI ``links``: which answer gives the id that a follow-up call needs.

A :data:`PRODUCERS` row says "the 2xx answer of this operation holds, at these JSON
pointers, the values of the path parameters of every operation under this template".
The template's ``{}`` slots stand for any parameter name, so a route added later under
``/api/v2/workers/{id}/...`` is linked from the worker create without a new row: the
links follow the paths, and schemathesis' stateful mode reaches every operation that has
a producer (the test checks that it does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from loadtest.providers import deftship, hypertrack, nash, onfleet

_O = onfleet.BASE_PATH
_C = onfleet.CONTROL_PATH
_N = nash.BASE_PATH
_H = hypertrack.BASE_PATH
_HC = hypertrack.CONTROL_PATH

#: (method, path of the producing operation, target template, JSON pointers per slot)
Producer = tuple[str, str, str, tuple[str, ...]]

PRODUCERS: tuple[Producer, ...] = (
    # a task id -> get / update / delete / complete / clone ..., and the driver app
    ("post", f"{_O}/tasks", f"{_O}/tasks/{{}}", ("/id",)),
    ("post", f"{_O}/tasks", f"{_C}/tasks/{{}}", ("/id",)),
    ("post", f"{_O}/tasks", f"{_O}/tasks/shortId/{{}}", ("/shortId",)),
    ("post", f"{_O}/tasks", f"{_O}/containers/organizations/{{}}", ("/organization",)),
    ("post", f"{_O}/tasks/batch", f"{_O}/tasks/{{}}", ("/tasks/0/id",)),
    ("post", f"{_O}/tasks/batch-async", f"{_O}/tasks/batch/{{}}", ("/jobId",)),
    # a worker id -> get / update / delete / tasks / schedule, its container, driver app
    ("post", f"{_O}/workers", f"{_O}/workers/{{}}", ("/id",)),
    ("post", f"{_O}/workers", f"{_O}/containers/workers/{{}}", ("/id",)),
    ("post", f"{_O}/workers", f"{_C}/workers/{{}}", ("/id",)),
    # a team id -> get / update / delete / tasks / estimate / dispatch, its container
    ("post", f"{_O}/teams", f"{_O}/teams/{{}}", ("/id",)),
    ("post", f"{_O}/teams", f"{_O}/containers/teams/{{}}", ("/id",)),
    # a Nash job id -> get and the job's follow-ups
    ("post", f"{nash.BASE_PATH}/batch_job", f"{nash.BASE_PATH}/jobs/{{}}", ("/id",)),
    # a Deftship batch id -> get / add / remove / ship
    ("post", deftship.BASE_PATH, f"{deftship.BASE_PATH}/{{}}", ("/data/id",)),
    # a HyperTrack order handle -> get and the order actions
    (
        "post",
        f"{hypertrack.BASE_PATH}/track",
        f"{hypertrack.BASE_PATH}/{{}}",
        ("/orders/0/order_handle",),
    ),
    # a list's first element -> the calls on it
    ("get", f"{_O}/tasks/all", f"{_O}/tasks/{{}}", ("/tasks/0/id",)),
    ("get", f"{_O}/workers", f"{_O}/workers/{{}}", ("/0/id",)),
    ("get", f"{_O}/teams", f"{_O}/teams/{{}}", ("/0/id",)),
    ("get", f"{_O}/webhooks", f"{_O}/webhooks/{{}}", ("/0/id",)),
    ("get", f"{_C}/webhooks", f"{_C}/webhooks/{{}}", ("/0/id",)),
    # a webhook or endpoint id -> delete
    ("post", f"{_O}/webhooks", f"{_O}/webhooks/{{}}", ("/id",)),
    ("post", f"{_C}/webhooks", f"{_C}/webhooks/{{}}", ("/id",)),
    # the organisation, administrators, hubs, containers by id
    ("get", f"{_O}/organization", f"{_O}/organizations/{{}}", ("/id",)),
    ("post", f"{_O}/admins", f"{_O}/admins/{{}}", ("/id",)),
    ("get", f"{_O}/admins", f"{_O}/admins/{{}}", ("/0/id",)),
    ("post", f"{_O}/hubs", f"{_O}/hubs/{{}}", ("/id",)),
    ("get", f"{_O}/hubs", f"{_O}/hubs/{{}}", ("/0/id",)),
    ("post", f"{_O}/tasks", f"{_O}/containers/organization/{{}}", ("/organization",)),
    ("post", f"{_O}/workers", f"{_O}/containers/{{}}", ("/id",)),
    # recipients (by id, name, phone), destinations, route plans, custom fields
    ("post", f"{_O}/recipients", f"{_O}/recipients/{{}}", ("/id",)),
    ("post", f"{_O}/recipients", f"{_O}/recipients/name/{{}}", ("/name",)),
    ("post", f"{_O}/recipients", f"{_O}/recipients/phone/{{}}", ("/phone",)),
    ("post", f"{_O}/destinations", f"{_O}/destinations/{{}}", ("/id",)),
    ("post", f"{_O}/routePlans", f"{_O}/routePlans/{{}}", ("/id",)),
    ("get", f"{_O}/routePlans", f"{_O}/routePlans/{{}}", ("/0/id",)),
    ("post", f"{_O}/customFields", f"{_O}/customFields/{{}}", ("/model",)),
    # a Nash job's batch and its first package (after the job's own row: two ids win)
    ("post", f"{_N}/batch_job", f"{_N}/jobs/{{}}/batch/{{}}", ("/id", "/batch/id")),
    ("post", f"{_N}/batch_job", f"{_N}/jobs/{{}}/{{}}", ("/id", "/jobConfigurations/0/id")),
    # a HyperTrack plan: its orders, its route and worker in the driver app
    ("post", _H, f"{_H}/{{}}", ("/orders/0/order_handle",)),
    ("get", _H, f"{_H}/{{}}", ("/orders/0/order_handle",)),
    ("post", _H, f"{_HC}/routes/{{}}", ("/route_handle",)),
    ("post", _H, f"{_HC}/workers/{{}}", ("/worker_handle",)),
    ("post", _H, f"{_HC}/orders/{{}}", ("/orders/0/order_handle",)),
    # a tracked route (its orders assigned at once): the driver app starts it, moves,
    # and completes its order
    ("post", f"{_H}/track", f"{_HC}/routes/{{}}", ("/route_handle",)),
    ("post", f"{_H}/track", f"{_HC}/workers/{{}}", ("/worker_handle",)),
    ("post", f"{_H}/track", f"{_HC}/orders/{{}}", ("/orders/0/order_handle",)),
)


_META = [{"name": "linked", "type": "string", "value": "$response.body#/id"}]
_QUOTE = "$response.body#/batch/quotes/0/id"

#: Links that also write the follow-up's body, where a create needs an id in its body
#: (a worker names its teams; a task names its container): (method, path of the producer,
#: method, path of the target, the body with ``{$response...}`` expressions).  A worker's
#: phone must be unique, so it is made from the team's creation time.
BODY_LINKS: tuple[tuple[str, str, str, str, Any], ...] = (
    (
        "post",
        f"{_O}/teams",
        "post",
        f"{_O}/workers",
        {
            "name": "Linked worker",
            "phone": "+1{$response.body#/timeCreated}",
            "teams": ["$response.body#/id"],
        },
    ),
    (
        "post",
        f"{_O}/teams",
        "post",
        f"{_O}/tasks",
        {
            "destination": {"address": {"unparsed": "2829 Vallejo St, SF, CA, USA"}},
            "container": {"type": "TEAM", "team": "$response.body#/id"},
        },
    ),
    (
        "post",
        f"{_O}/workers",
        "post",
        f"{_O}/tasks",
        {
            "destination": {"location": [-122.4438337, 37.7940329]},
            "container": {"type": "WORKER", "worker": "$response.body#/id"},
        },
    ),
    (
        "post",
        f"{_O}/workers",
        "put",
        f"{_O}/containers/workers/{{id}}",
        {"tasks": []},
    ),
    # the operations that take no id in their path: their body names what was created
    *(
        ("post", f"{_O}/{kind}", "post", f"{_O}/{kind}/metadata", _META)
        for kind in ("admins", "workers", "tasks", "recipients", "destinations")
    ),
    (
        "post",
        f"{_O}/tasks",
        "post",
        f"{_O}/tasks/autoAssign",
        {"tasks": ["$response.body#/id"], "options": {"mode": "distance"}},
    ),
    *(
        (
            "post",
            f"{_O}/customFields",
            method,
            f"{_O}/customFields",
            {"model": "$response.body#/model", "field": {"key": "$response.body#/key"}},
        )
        for method in ("put", "delete")
    ),
    ("post", f"{_N}/batch_job", "post", f"{_N}/select_quote", {"quoteId": _QUOTE}),
)

#: A body link whose target needs a second answer's id too: the delivery manifest names a
#: hub and a worker, and no one answer holds both, so this link reaches the operation with
#: the worker's id alone and the server's documented 400/404 (tested as documented, not
#: as accepted).
UNFED_LINKS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    (
        "post",
        f"{_O}/workers",
        "post",
        f"{_O}/integrations/marketplace",
        {"path": "providers/manifest/generate?hubId=none&workerId={$response.body#/id}"},
    ),
)

#: Links that fill a target's query parameters (``query.{name}``): the hub's location
#: is the point whose nearby on-duty workers are listed.
QUERY_LINKS: tuple[tuple[str, str, str, str, dict[str, str]], ...] = (
    # the tasks listed from a task's creation on
    (
        "post",
        f"{_O}/tasks",
        "get",
        f"{_O}/tasks/all",
        {"query.from": "$response.body#/timeCreated"},
    ),
    (
        "post",
        f"{_O}/hubs",
        "get",
        f"{_O}/workers/location",
        {
            "query.longitude": "$response.body#/location/0",
            "query.latitude": "$response.body#/location/1",
        },
    ),
)


#: Links that carry nothing: the target needs no value from the answer, but is the
#: workflow's next call (a stateful client reaches it from there): (method, path of the
#: source, method, path of the target).
FOLLOW_LINKS: tuple[tuple[str, str, str, str], ...] = (
    # a plan's orders are on a route; more orders are tracked straight away
    ("post", _H, "post", f"{_H}/track"),
    # a registered endpoint gets a test event; the organisation's key and the emulator
    ("post", f"{_C}/webhooks", "post", f"{_C}/webhooks/emit"),
    ("get", f"{_O}/organization", "get", f"{_O}/auth/test"),
    ("get", f"{_O}/organization", "get", f"{_C}/info"),
    # the on-duty workers near a point (a new worker is off duty: an empty list)
    ("post", f"{_O}/workers", "get", f"{_O}/workers/location"),
)


def _matcher(template: str) -> re.Pattern[str]:
    """``/a/{}/b/{}`` -> a regex matching ``/a/{x}/b/{y}`` and anything below it."""
    parts = [re.escape(p) for p in template.split("{}")]
    return re.compile(r"\{(\w+)\}".join(parts) + r"(?:/.*)?$")


def links_for(
    ops: Iterable[tuple[str, str]], op_ids: dict[tuple[str, str], str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The ``links`` object of each producing operation, over the documented ``ops``."""
    ops = list(ops)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for method, path, template, pointers in PRODUCERS:
        if (method, path) not in op_ids:
            continue
        rx = _matcher(template)
        for t_method, t_path in ops:
            if (t_method, t_path) == (method, path):
                continue
            m = rx.match(t_path)
            if m is None:
                continue
            params = {
                name: f"$response.body#{ptr}"
                for name, ptr in zip(m.groups(), pointers, strict=True)
            }
            target = op_ids[(t_method, t_path)]
            out.setdefault((method, path), {})[target] = {
                "operationId": target,
                "parameters": params,
            }
    for method, path, t_method, t_path, body in (*BODY_LINKS, *UNFED_LINKS):
        if (method, path) not in op_ids or (t_method, t_path) not in op_ids:
            continue
        target = op_ids[(t_method, t_path)]
        link = out.setdefault((method, path), {}).setdefault(
            target, {"operationId": target, "parameters": {}}
        )
        link["requestBody"] = body
        if not link["parameters"]:
            del link["parameters"]
    for method, path, t_method, t_path in FOLLOW_LINKS:
        if (method, path) in op_ids and (t_method, t_path) in op_ids:
            target = op_ids[(t_method, t_path)]
            out.setdefault((method, path), {})[target] = {"operationId": target}
    for method, path, t_method, t_path, query in QUERY_LINKS:
        if (method, path) not in op_ids or (t_method, t_path) not in op_ids:
            continue
        target = op_ids[(t_method, t_path)]
        out.setdefault((method, path), {})[target] = {"operationId": target, "parameters": query}
    return out
