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
)


#: Links that also write the follow-up's body, where a create needs an id in its body
#: (a worker names its teams; a task names its container): (method, path of the producer,
#: method, path of the target, the body with ``{$response...}`` expressions).  A worker's
#: phone must be unique, so it is made from the team's creation time.
BODY_LINKS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
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
    for method, path, t_method, t_path, body in BODY_LINKS:
        if (method, path) not in op_ids or (t_method, t_path) not in op_ids:
            continue
        target = op_ids[(t_method, t_path)]
        link = out.setdefault((method, path), {}).setdefault(
            target, {"operationId": target, "parameters": {}}
        )
        link["requestBody"] = body
        if not link["parameters"]:
            del link["parameters"]
    return out
