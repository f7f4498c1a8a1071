"""The OpenAPI document covers every emulated route, with its answers, constraints,
seed examples and links; OPTIONS/Allow list every method; /docs serves Swagger UI."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.openapi import build_openapi
from loadtest.emulator.openapi_docs import ASSETS
from loadtest.providers import nash
from tests.loadtest.emulator.helpers import bearer, ht_auth, make_client, onfleet_auth, seed

INFRA = {"/", "/healthz", "/openapi.json", "/metrics", "/docs", "/docs/{name}"}


def _served() -> set[tuple[str, str]]:
    served = set()
    for r in create_app(EmulatorConfig()).routes:
        assert isinstance(r, Route)
        if r.path in INFRA:
            continue
        for m in r.methods or ():
            if m != "HEAD":
                served.add((m.lower(), re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", r.path)))
    return served


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    with make_client() as client:
        out: dict[str, Any] = client.get("/openapi.json").json()
    return out


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].split("/")[-1]
    out: dict[str, Any] = doc["components"]["schemas"][name]
    return out


def test_document_passes_the_spec_validator(doc: dict[str, Any]) -> None:
    validate(doc)


def test_every_served_route_is_documented_with_its_responses(doc: dict[str, Any]) -> None:
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == _served()
    for path, ops in doc["paths"].items():
        provider_paths = path.startswith(("/api/v2", "/emulator"))
        for method, op in ops.items():
            assert op["security"] and op["operationId"]
            codes = set(op["responses"])
            success = [c for c in codes if c.startswith("2")]
            assert len(success) == 1, (method, path)
            ok = op["responses"][success[0]]
            if "content" in ok:
                body = _resolve(doc, ok["content"]["application/json"]["schema"])
                # an object, an array, or the JSON null HyperTrack's custom event answers
                assert body.get("properties") or body.get("items") or body["type"] == "null", (
                    method,
                    path,
                )
            else:  # an empty body, which the route does answer
                assert "empty" in ok["description"]
            for status in ("400", "401", "404", "405", "413"):
                err = _resolve(
                    doc, op["responses"][status]["content"]["application/json"]["schema"]
                )
                assert err, (method, path, status)
            want = "OnfleetError" if provider_paths else None
            if want:
                ref = op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith(want)
            if "requestBody" in op:
                assert _resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])


def test_a_route_without_a_documented_answer_fails_the_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from loadtest.emulator import openapi_responses

    missing = dict(openapi_responses.RESPONSES)
    del missing[("get", "/api/v2/tasks/{taskId}")]
    monkeypatch.setattr(openapi_responses, "RESPONSES", missing)
    with pytest.raises(ValueError, match=r"GET /api/v2/tasks/\{taskId\}"):
        build_openapi()


def test_request_constraints_match_what_the_server_refuses(doc: dict[str, Any]) -> None:
    tasks = doc["components"]["schemas"]["TaskBatch"]["properties"]["tasks"]
    assert (tasks["minItems"], tasks["maxItems"]) == (1, 500)
    orders = doc["components"]["schemas"]["TrackRequest"]["properties"]["orders"]
    assert orders["maxItems"] == 200
    task = seed("onfleet-create-task.json")["request"]
    with make_client() as c:
        for n, status in ((0, 400), (501, 400), (1, 200), (500, 200)):
            r = c.post("/api/v2/tasks/batch", json={"tasks": [task] * n}, headers=onfleet_auth())
            assert r.status_code == status, (n, r.text[:200])
        order = {"order_handle": "o", "destination": {"address": "1 Main St"}}
        many = [dict(order, order_handle=f"o{i}") for i in range(201)]
        r = c.post("/orders/track", json={"worker_handle": "w", "orders": many}, headers=ht_auth())
        assert r.status_code == 422


def test_examples_come_from_the_seeds_and_the_server_accepts_them(doc: dict[str, Any]) -> None:
    created = seed("onfleet-create-task.json")
    post = doc["paths"]["/api/v2/tasks"]["post"]
    example = post["requestBody"]["content"]["application/json"]["example"]
    assert example == created["request"]
    schemas = doc["components"]["schemas"]
    assert schemas["OnfleetTaskOut"]["examples"] == [created["response"]]
    assert schemas["OnfleetJobStatus"]["examples"] == [seed("onfleet-batch-job-status.json")]
    assert schemas["DeftshipAnswer"]["examples"] == [seed("deftship-get-batch.json")["ready"]]
    order = seed("hypertrack-complete-order.json")["order"]
    assert schemas["HyperTrackOrderOut"]["examples"] == [order]
    with make_client() as c:
        r = c.post("/api/v2/tasks", json=example, headers=onfleet_auth())
    assert r.status_code == 200, r.text


def test_links_lead_from_creates_to_every_operation_with_a_path_id(doc: dict[str, Any]) -> None:
    from loadtest.emulator.openapi_links import FOLLOW_LINKS

    by_id = {op["operationId"]: (m, p) for p, ops in doc["paths"].items() for m, op in ops.items()}
    targets: dict[tuple[str, str], set[str]] = {}
    for ops in doc["paths"].values():
        for op in ops.values():
            for status, resp in op["responses"].items():
                for link in resp.get("links", {}).values():
                    assert status.startswith("2")
                    target = by_id[link["operationId"]]
                    params = link.get("parameters", {})
                    # a link that carries nothing is a workflow's next step (FOLLOW_LINKS)
                    follow = (*by_id[op["operationId"]], *target) in FOLLOW_LINKS
                    assert params or "requestBody" in link or follow
                    targets.setdefault(target, set()).update(params)
                    for expr in params.values():
                        assert expr.startswith("$response.body#/")
    for path, ops in doc["paths"].items():
        params = set(re.findall(r"\{(\w+)\}", path))
        for method in ops:
            if params:
                assert targets.get((method, path), set()) >= params, (method, path)
    post_task = doc["paths"]["/api/v2/tasks"]["post"]["responses"]["200"]["links"]
    assert {"get__api_v2_tasks_taskId", "put__api_v2_tasks_taskId"} <= set(post_task)
    assert {"delete__api_v2_tasks_taskId", "post__api_v2_tasks_taskId_complete"} <= set(post_task)
    job = doc["paths"]["/api/v2/tasks/batch-async"]["post"]["responses"]["200"]["links"]
    assert job["get__api_v2_tasks_batch_jobId"]["parameters"] == {"jobId": "$response.body#/jobId"}
    # a create that needs an id in its body gets it from the link's requestBody
    team = doc["paths"]["/api/v2/teams"]["post"]["responses"]["200"]["links"]
    assert team["post__api_v2_workers"]["requestBody"]["teams"] == ["$response.body#/id"]


def test_the_body_links_make_requests_the_server_accepts() -> None:
    """What a body link writes, with the producer's answer substituted, is accepted."""
    from loadtest.emulator.openapi_links import BODY_LINKS

    def fill(node: Any, answer: dict[str, Any]) -> Any:
        if isinstance(node, dict):
            return {k: fill(v, answer) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v, answer) for v in node]
        if isinstance(node, str) and "$response.body#/" in node:
            return re.sub(r"\{?\$response\.body#/([\w/]+)\}?", lambda m: at(answer, m[1]), node)
        return node

    def at(answer: Any, pointer: str) -> str:
        for part in pointer.split("/"):
            answer = answer[int(part)] if isinstance(answer, list) else answer[part]
        return str(answer)

    task = seed("onfleet-create-task.json")["request"]
    pkg = nash.package_body((37.77, -122.41), (37.79, -122.40))
    producers = {  # the other producers of body links, created with a body they accept
        "/api/v2/admins": {"name": "Ada", "email": "ada@example.com"},
        "/api/v2/tasks": task,
        "/api/v2/recipients": {"name": "Rae", "phone": "+14155550111"},
        "/api/v2/destinations": {"address": {"unparsed": "2829 Vallejo St, SF, CA, USA"}},
        "/api/v2/customFields": {
            "model": "Task",
            "field": {"key": "door", "name": "Door", "type": "single_line_text_field"},
        },
        "/v1/batch_job": nash.batch_job_body([pkg, pkg]),
    }
    with make_client() as c:
        answers: dict[str, dict[str, Any]] = {}
        team = c.post("/api/v2/teams", json={"name": "Linked"}, headers=onfleet_auth()).json()
        answers["/api/v2/teams"] = team
        for src, src_body in producers.items():
            r = c.post(src, json=src_body, headers=_auth(src))
            assert r.status_code == 200, (src, r.text)
            answers[src] = r.json()
        for _m, src, t_method, t_path, body in BODY_LINKS:
            answer = answers[src]
            path = t_path.replace("{id}", answer["id"]) if "{id}" in t_path else t_path
            r = c.request(t_method.upper(), path, json=fill(body, answer), headers=_auth(path))
            assert r.status_code == 200, (t_method, t_path, r.text)
            if t_path == "/api/v2/workers":
                answers["/api/v2/workers"] = r.json()


def _auth(path: str) -> dict[str, str]:
    if path.startswith(("/api/v2", "/emulator")):
        return onfleet_auth()
    return ht_auth() if path.startswith("/orders") else bearer()


def test_options_and_405_allow_list_every_method_of_each_path(doc: dict[str, Any]) -> None:
    with make_client() as c:
        for path, ops in doc["paths"].items():
            concrete = re.sub(r"\{\w+\}", "x1", path)
            want = {m.upper() for m in ops} | {"OPTIONS"}
            if "GET" in want:
                want.add("HEAD")
            r = c.options(concrete)
            assert r.status_code == 204, (path, r.text)
            assert set(r.headers["allow"].split(", ")) >= want, path
            other = next(m for m in ("PATCH", "PUT", "POST", "DELETE") if m not in want)
            r = c.request(other, concrete, headers=_auth(path))
            assert r.status_code == 405, (path, other, r.text)
            assert set(r.headers["allow"].split(", ")) >= want, path
        # the 405 keeps the provider's shape
        r = c.patch("/api/v2/tasks/abc", headers=onfleet_auth())
        assert r.json()["code"] == "MethodNotAllowed"
        assert r.headers["allow"] == "GET, HEAD, PUT, DELETE, OPTIONS"
        r = c.patch("/v1/jobs/abc", headers=bearer())
        assert r.json()[0]["error"]["code"] == "DISALLOWED_OPERATION"
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"
        assert c.options("/no/such/path").status_code == 404
        # a literal path is not a parameter's value: /tasks/batch is no task "batch"
        assert c.options("/api/v2/tasks/batch").headers["allow"] == "POST, OPTIONS"
        r = c.get("/api/v2/tasks/batch", headers=onfleet_auth())
        assert r.status_code == 405 and r.headers["allow"] == "POST, OPTIONS"
        r = c.patch("/orders/track", headers=ht_auth())
        assert r.status_code == 405 and r.headers["allow"] == "POST, OPTIONS"
        assert c.get("/api/v2/tasks/nosuchtask", headers=onfleet_auth()).status_code == 404


def test_docs_page_and_its_assets_are_served_without_credentials() -> None:
    with make_client() as c:  # the app has API keys: /docs needs none
        page = c.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'url: "/openapi.json"' in page.text
        assert "http://" not in page.text and "https://" not in page.text
        refs = re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.text)
        assert {r.rsplit("/", 1)[1] for r in refs} == set(ASSETS)
        for ref in refs:
            r = c.get(ref)
            assert r.status_code == 200 and len(r.content) > 0, ref
            assert r.headers["content-type"] == ASSETS[ref.rsplit("/", 1)[1]], ref
        assert b"SwaggerUIBundle" in c.get("/docs/swagger-ui-bundle.js").content
        assert c.get("/docs/core.py").status_code == 404
        assert c.get("/").json()["docs"] == "/docs"


def test_an_extra_module_adds_its_operations_responses_and_links(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The integrator's one line: a module in ``_EXTRA_MODULES`` with OPERATIONS and
    RESPONSES (and STATUS) is documented, and linked by path shape from the worker create."""
    import sys
    import types

    from pydantic import BaseModel

    from loadtest.emulator import openapi

    class ScheduleOut(BaseModel):
        entries: list[dict[str, Any]]

    class ScheduleIn(BaseModel):
        entries: list[dict[str, Any]]

    mod = types.ModuleType("fake_schema_fleet")
    path = "/api/v2/workers/{workerId}/schedule"
    mod.OPERATIONS = (  # type: ignore[attr-defined]
        ("get", path, "onfleet", "A worker's schedule", None, ()),
        ("post", path, "onfleet", "Set a worker's schedule", ScheduleIn, ()),
    )
    mod.RESPONSES = {("get", path): ScheduleOut, ("post", path): ScheduleOut}  # type: ignore[attr-defined]
    mod.STATUS = {("post", path): 201}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_schema_fleet", mod)
    monkeypatch.setattr(openapi, "_EXTRA_MODULES", ("fake_schema_fleet",))
    doc = build_openapi()
    validate(doc)
    ops = doc["paths"][path]
    assert ops["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScheduleOut"
    }
    assert "201" in ops["post"]["responses"] and "200" not in ops["post"]["responses"]
    assert ops["post"]["responses"]["400"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/OnfleetError")
    links = doc["paths"]["/api/v2/workers"]["post"]["responses"]["200"]["links"]
    assert links["get__api_v2_workers_workerId_schedule"]["parameters"] == {
        "workerId": "$response.body#/id"
    }
    mod.RESPONSES = {("get", path): ScheduleOut}  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=re.escape("POST " + path)):
        build_openapi()


def test_every_seed_example_is_valid_against_its_schema(doc: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    def check(schema: dict[str, Any], example: Any, where: str) -> None:
        errors = list(
            Draft202012Validator({**schema, "components": doc["components"]}).iter_errors(example)
        )
        assert not errors, (where, errors[0].message)

    seen = 0
    for name, schema in doc["components"]["schemas"].items():
        for example in schema.get("examples", []):
            check({"$ref": f"#/components/schemas/{name}"}, example, name)
            seen += 1
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" in body:
                check(body["schema"], body["example"], f"{method} {path}")
                seen += 1
    assert seen >= 9
