"""Every link of the document, walked deterministically: the producer is called with a
body the server accepts, the link's expressions are evaluated against its answer, the
target is called with them, and both answers must match the document (a documented
status, a body valid against its schema).  With the producers themselves this reaches
every operation (the three that take no id, ``GET /auth/test``, the emulator's info and
the test-event route, through links that carry nothing); schemathesis' random stateful
run is in ``test_fuzz.py``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from loadtest.providers import deftship, hypertrack, nash
from tests.loadtest.emulator.helpers import (
    TestClient,
    bearer,
    ht_auth,
    make_client,
    onfleet_auth,
    seed,
)
from tests.loadtest.emulator.webhook_helpers import Receiver

_TO = deftship.address("Ana", "1 Main St", "SF", "94103", "CA")
_PKG = nash.package_body((37.77, -122.41), (37.79, -122.40))

#: A body the server accepts, for each operation that takes one (by method and path).
GOOD: dict[tuple[str, str], Any] = {
    ("post", "/api/v2/tasks"): seed("onfleet-create-task.json")["request"],
    ("post", "/api/v2/tasks/batch"): {"tasks": [seed("onfleet-create-task.json")["request"]]},
    ("post", "/api/v2/tasks/batch-async"): {"tasks": [seed("onfleet-create-task.json")["request"]]},
    ("post", "/api/v2/teams"): {"name": "Walkers"},
    ("put", "/api/v2/tasks/{taskId}"): {"notes": "updated by the link walk"},
    ("post", "/api/v2/tasks/{taskId}/complete"): {"completionDetails": {"success": True}},
    ("put", "/api/v2/containers/workers/{id}"): {"tasks": []},
    ("post", "/emulator/v1/workers/{workerId}/duty"): {"onDuty": True},
    ("post", "/emulator/v1/workers/{workerId}/location"): {"location": [-122.41, 37.77]},
    ("post", "/v1/batch_job"): nash.batch_job_body([_PKG, _PKG]),
    ("post", "/api/batches"): deftship.batch_body([deftship.shipment_body(_TO)]),
    ("put", "/api/batches/{batchId}/add-items"): {"batch_shipments": [deftship.shipment_body(_TO)]},
    ("put", "/api/batches/{batchId}/remove-items"): {"batch_shipment_ids": ["not-an-item"]},
    ("post", "/orders/track"): hypertrack.track_body(
        "ana", [hypertrack.order_body("walk-1", 37.77, -122.41)]
    ),
    **{
        ("post", f"/orders/{{handle}}/{a}"): {} for a in ("complete", "cancel", "disable", "enable")
    },
    ("post", "/emulator/v1/webhooks"): {"provider": "nash", "url": "http://127.0.0.1:9/hook"},
    ("post", "/api/v2/admins"): {"name": "Ada", "email": "ada@example.com"},
    ("put", "/api/v2/admins/{adminId}"): {"name": "Ada L."},
    ("put", "/api/v2/workers/{workerId}"): {"name": "Ana B."},
    ("put", "/api/v2/teams/{teamId}"): {"name": "Runners"},
    ("post", "/api/v2/hubs"): {
        "name": "Depot",
        "address": {"unparsed": "2829 Vallejo St, SF, CA, USA"},
        "location": [-122.4438337, 37.7940329],
    },
    ("put", "/api/v2/hubs/{hubId}"): {"name": "Depot 2"},
    ("post", "/api/v2/workers/{workerId}/schedule"): {
        "entries": [{"date": "2026-12-08", "timezone": "UTC", "shifts": [[0, 3600000]]}]
    },
    ("post", "/api/v2/teams/{teamId}/dispatch"): {},
    ("put", "/api/v2/containers/teams/{id}"): {"tasks": []},
    ("put", "/api/v2/containers/organizations/{id}"): {"tasks": []},
    ("put", "/api/v2/containers/organization/{id}"): {"tasks": []},
    ("put", "/api/v2/containers/{id}"): {"tasks": []},
    ("post", "/api/v2/tasks/{taskId}/clone"): {},
    ("post", "/api/v2/recipients"): {"name": "Rae", "phone": "+14155550111"},
    ("put", "/api/v2/recipients/{recipientId}"): {"notes": "ring twice"},
    ("post", "/api/v2/destinations"): {"address": {"unparsed": "2829 Vallejo St, SF, CA, USA"}},
    ("post", "/api/v2/routePlans"): {"name": "Morning", "startTime": 1796700000000},
    ("put", "/api/v2/routePlans/{routePlanId}"): {"name": "Evening"},
    ("post", "/api/v2/customFields"): {
        "model": "Task",
        "field": {"key": "door", "name": "Door", "type": "single_line_text_field"},
    },
    ("patch", "/v1/jobs/{jobId}/{cfgId}"): {"dropoffFirstName": "Bea"},
    ("post", "/orders"): hypertrack.track_body(
        "ana", [hypertrack.order_body("plan-1", 37.77, -122.41)]
    ),
    ("patch", "/orders/{handle}"): {"scheduled_at": "2026-12-08T10:00:00Z"},
    ("post", "/orders/{handle}/events"): {"type": "door_photo"},
    ("post", "/emulator/v1/hypertrack/workers/{worker}/location"): {"location": [-122.41, 37.77]},
    ("post", "/emulator/v1/hypertrack/orders/{handle}/complete"): {},
}
# None: the key check, the test event and the emulator's info take no id, and are reached
# by links that carry nothing (openapi_links.FOLLOW_LINKS).
NOT_LINKED: set[tuple[str, str]] = set()


def _auth(path: str) -> dict[str, str]:
    if path.startswith(("/api/v2", "/emulator")):
        return onfleet_auth()
    return ht_auth() if path.startswith("/orders") else bearer()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def client(receiver: Receiver) -> Iterator[TestClient]:
    with make_client() as c:
        GOOD[("post", "/api/v2/webhooks")] = {"url": receiver.url, "trigger": 3}
        yield c


class Walk:
    """Calls operations and checks each answer against the document."""

    def __init__(self, client: TestClient) -> None:
        self.c = client
        self.doc: dict[str, Any] = client.get("/openapi.json").json()
        self.reached: set[tuple[str, str]] = set()
        self.last_status = 0
        self.n = 0  # producer calls, for unique phones and handles

    def call(self, method: str, template: str, params: dict[str, str], body: Any) -> Any:
        path = template
        query = {"from": "0"} if template == "/api/v2/tasks/all" else {}
        for name, value in params.items():
            if name.startswith("query."):
                query[name.removeprefix("query.")] = value
            path = path.replace(f"{{{name.removeprefix('path.')}}}", value)
        r = self.c.request(
            method.upper(),
            path,
            json=body,
            params=query,
            headers=_auth(template),
        )
        op = self.doc["paths"][template][method]
        assert str(r.status_code) in op["responses"], (method, path, r.status_code, r.text)
        documented = op["responses"][str(r.status_code)]
        if "content" in documented:
            schema = {
                **documented["content"]["application/json"]["schema"],
                "components": self.doc["components"],
            }
            errors = list(Draft202012Validator(schema).iter_errors(r.json()))
            assert not errors, (method, path, errors[0].message)
        else:
            assert r.content == b"", (method, path)
        self.reached.add((method, template))
        self.last_status = r.status_code
        return r.json() if r.content else None

    def producer(self, method: str, template: str) -> Any:
        """The producer's answer (a team first where a worker needs one)."""
        body = GOOD.get((method, template))
        self.n += 1
        if (method, template) == ("post", "/api/v2/workers"):
            team = self.call("post", "/api/v2/teams", {}, GOOD[("post", "/api/v2/teams")])
            body = {
                "name": "Ana",
                "phone": f"+1415555{self.n:04d}",
                "teams": [team["id"]],
            }
        if method == "get" and template in ("/api/v2/workers", "/api/v2/tasks/all"):
            self.producer("post", "/api/v2/workers" if "workers" in template else "/api/v2/tasks")
        if (method, template) in (("post", "/orders/track"), ("post", "/orders")):
            order = hypertrack.order_body(f"walk-{self.n}", 37.77, -122.41)  # a new handle
            body = hypertrack.track_body(f"ana-{self.n}", [order])
        if (method, template) == ("post", "/api/v2/admins"):  # e-mails are unique
            body = {"name": "Ada", "email": f"ada{self.n}@example.com"}
        if (method, template) == ("post", "/api/v2/recipients"):  # phones are unique
            body = {"name": "Rae", "phone": f"+1415556{self.n:04d}"}
        if (method, template) == ("post", "/api/v2/customFields"):  # keys are unique
            body = {
                "model": "Task",
                "field": {"key": f"k{self.n}", "name": "K", "type": "single_line_text_field"},
            }
        if method == "get" and template in ("/api/v2/hubs", "/api/v2/routePlans", "/orders"):
            self.producer("post", template)  # the list's first element is linked
        if method == "get" and template == "/api/v2/teams":
            self.producer("post", "/api/v2/teams")
        if method == "get" and template.endswith("/webhooks"):
            self.producer("post", template)
        answer = self.call(method, template, {}, body)
        assert self.last_status < 300, (method, template, answer)
        return answer


def _pointer(answer: Any, expr: str) -> Any:
    node = answer
    for part in expr.split("#/", 1)[1].split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _fill(node: Any, answer: Any) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, answer) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, answer) for v in node]
    if isinstance(node, str) and "$response.body#/" in node:
        if node.startswith("$response"):
            return _pointer(answer, node)
        return re.sub(
            r"\{(\$response\.body#/[\w/]+)\}", lambda m: str(_pointer(answer, m.group(1))), node
        )
    return node


def test_every_link_leads_to_a_documented_answer(client: TestClient) -> None:
    walk = Walk(client)
    by_id = {
        op["operationId"]: (m, p) for p, ops in walk.doc["paths"].items() for m, op in ops.items()
    }
    links = 0
    for path, ops in walk.doc["paths"].items():
        for method, op in ops.items():
            for status, resp in op["responses"].items():
                for link in resp.get("links", {}).values():
                    assert status.startswith("2")
                    answer = walk.producer(method, path)
                    t_method, t_path = by_id[link["operationId"]]
                    params = {
                        name: str(_pointer(answer, expr))
                        for name, expr in link.get("parameters", {}).items()
                    }
                    if "requestBody" in link:
                        body = _fill(link["requestBody"], answer)
                    else:
                        body = GOOD.get((t_method, t_path))
                    walk.call(t_method, t_path, params, body)
                    links += 1
    assert links >= 40, links
    documented = {(m, p) for p, ops in walk.doc["paths"].items() for m in ops}
    assert documented - walk.reached == NOT_LINKED
