"""The OpenAPI document's ``webhooks`` section describes every delivery, and the webhook
registration routes are documented exactly when the app serves them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loadtest.emulator.openapi import WEBHOOK_OPERATIONS, build_openapi
from loadtest.emulator.webhooks.payloads import ONFLEET_MODELS
from loadtest.providers.webhooks import ONFLEET_TRIGGERS
from tests.loadtest.emulator.helpers import make_client


def served_doc() -> dict[str, Any]:
    with make_client() as client:
        doc: dict[str, Any] = client.get("/openapi.json").json()
    return doc


def test_webhooks_section_has_every_event_with_resolvable_schemas() -> None:
    doc = served_doc()
    hooks = doc["webhooks"]
    schemas = doc["components"]["schemas"]
    expected = {f"onfleet.{n}" for n in ONFLEET_TRIGGERS.values()}
    expected |= {"onfleet.validation", "nash.delivery.created", "hypertrack.order"}
    assert set(hooks) == expected
    for name, trigger_id in ((n, i) for i, n in ONFLEET_TRIGGERS.items()):
        op = hooks[f"onfleet.{name}"]["post"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        ref, consts = schema["allOf"]
        model = ref["$ref"].split("/")[-1]
        assert model in schemas
        if name in ONFLEET_MODELS:
            assert model == ONFLEET_MODELS[name].__name__
        else:
            assert model == "OnfleetGenericEvent" and "never fires" in op["description"]
        assert consts["properties"]["triggerId"] == {"const": trigger_id}
        assert {p["name"] for p in op["parameters"]} >= {"X-Onfleet-Signature"}
    # The extras are in the trigger models' schemas.
    assert "etaSeconds" in schemas["OnfleetEtaEvent"]["properties"]
    assert "distance" in schemas["OnfleetArrivalEvent"]["properties"]
    assert "status" in schemas["OnfleetDutyEvent"]["properties"]
    assert "newTasksWithWarnings" in schemas["OnfleetBatchJobEvent"]["properties"]
    ht = hooks["hypertrack.order"]["post"]["requestBody"]["content"]["application/json"]
    assert ht["schema"]["type"] == "array"
    nash = hooks["nash.delivery.created"]["post"]
    assert {p["name"] for p in nash["parameters"]} == {
        "svix-id",
        "svix-timestamp",
        "svix-signature",
    }
    assert "check" in {p["name"] for p in hooks["onfleet.validation"]["get"]["parameters"]}


async def _endpoint(request: Request) -> Response:
    return Response()


def test_registration_routes_documented_only_when_served() -> None:
    registration = {(m, p) for m, p, *_ in WEBHOOK_OPERATIONS}
    assert {p for _, p in registration} == {
        "/api/v2/webhooks",
        "/api/v2/webhooks/{id}",
        "/emulator/v1/webhooks",
        "/emulator/v1/webhooks/{id}",
        "/emulator/v1/webhooks/emit",
    }

    def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
        return {(m, p) for p, ops in doc["paths"].items() for m in ops} & registration

    assert documented(build_openapi()) == registration
    assert documented(build_openapi([])) == set()
    only_onfleet = [
        Route("/api/v2/webhooks", _endpoint, methods=["POST", "GET"]),
        Route("/api/v2/webhooks/{id}", _endpoint, methods=["DELETE"]),
    ]
    doc = build_openapi(only_onfleet)
    assert documented(doc) == {
        ("post", "/api/v2/webhooks"),
        ("get", "/api/v2/webhooks"),
        ("delete", "/api/v2/webhooks/{id}"),
    }
    body = doc["paths"]["/api/v2/webhooks"]["post"]["requestBody"]["content"]
    model = body["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(doc["components"]["schemas"][model]["properties"]) == {
        "url",
        "name",
        "trigger",
        "threshold",
    }
