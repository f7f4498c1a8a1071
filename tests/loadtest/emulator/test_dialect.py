"""The provider dialect: each provider's own error shape and 4xx for bad JSON, an unknown
route, a missing or wrong credential, an over-size body and the rate limit; and the
provider resolved once per request, the handlers answering in the dialect kept in scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.responses import Response

import loadtest.emulator.dialect as dialect_mod
import loadtest.emulator.middleware.dialect as dialect_mw
from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig, FaultConfig, RateLimitConfig
from loadtest.emulator.dialect import (
    DEFTSHIP,
    DRIVER_APP,
    EMULATOR,
    HYPERTRACK,
    NASH,
    ONFLEET,
    OPEN,
    PROVIDERS,
    Dialect,
    OnfleetDialect,
    resolve,
)
from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.state import OnfleetState
from tests.loadtest.emulator.helpers import KEY, TestClient, bearer, ht_auth, onfleet_auth


def _onfleet(r: httpx.Response, status: int) -> dict[str, Any]:
    j = r.json()
    assert set(j) == {"code", "message"}
    assert set(j["message"]) == {"error", "message", "cause", "request", "remoteAddress"}
    assert isinstance(j["message"]["error"], int)
    return {"code": j["code"], "sub": j["message"]["error"]}


def _nash(r: httpx.Response, status: int) -> dict[str, Any]:
    j = r.json()
    assert isinstance(j, list) and len(j) == 1
    assert set(j[0]) == {"error", "response_status", "RequestID"}
    assert j[0]["response_status"].startswith(f"{status} ")
    assert r.headers["X-REQUEST-ID"] == j[0]["RequestID"]
    return {"code": j[0]["error"]["code"]}


def _deftship(r: httpx.Response, status: int) -> dict[str, Any]:
    j = r.json()
    assert j["success"] is False and isinstance(j["message"], str)
    assert set(j) <= {"success", "message", "data"}
    return {"message": j["message"]}


def _hypertrack(r: httpx.Response, status: int) -> dict[str, Any]:
    j = r.json()
    assert set(j) == {"detail", "message"} and isinstance(j["detail"], dict)
    return {"message": j["message"], "detail": j["detail"]}


Shape = Callable[[httpx.Response, int], dict[str, Any]]
# provider -> (a POST route, a path no route matches, good credentials, shape reader)
PROVIDER_CASES: dict[str, tuple[str, str, dict[str, str], Shape]] = {
    "onfleet": ("/api/v2/tasks", "/api/v2/no/such/route", onfleet_auth(), _onfleet),
    "nash": ("/v1/batch_job", "/v1/no/such/route", bearer(), _nash),
    "deftship": ("/api/batches", "/api/batches/1/no/such", bearer(), _deftship),
    "hypertrack": ("/orders/track", "/orders/x/no/such", ht_auth(), _hypertrack),
}
# What each provider says, by case (a subset of the body the shape reader returns).
EXPECTED: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {
    ("onfleet", "bad_json"): (400, {"code": "InvalidContent", "sub": 1005}),
    ("nash", "bad_json"): (422, {"code": "VALIDATION_ERRORS"}),
    ("deftship", "bad_json"): (422, {}),
    ("hypertrack", "bad_json"): (422, {"message": "Validation error"}),
    ("onfleet", "no_route"): (404, {"code": "ResourceNotFound", "sub": 1402}),
    ("nash", "no_route"): (404, {"code": "MISSING_RESOURCE"}),
    ("deftship", "no_route"): (404, {"message": "The requested resource does not exist."}),
    ("hypertrack", "no_route"): (404, {"message": "The requested resource does not exist."}),
    ("onfleet", "no_credential"): (401, {"code": "InvalidCredentials", "sub": 1102}),
    ("nash", "no_credential"): (401, {"code": "UNAUTHORIZED"}),
    ("deftship", "no_credential"): (401, {"message": "Unauthenticated."}),
    ("hypertrack", "no_credential"): (
        401,
        {"message": "Unauthorized: send Basic AccountID:SecretKey."},
    ),
    ("onfleet", "too_large"): (413, {"code": "PayloadTooLarge", "sub": 1006}),
    ("nash", "too_large"): (413, {"code": "VALIDATION_ERRORS"}),
    ("deftship", "too_large"): (413, {}),
    ("hypertrack", "too_large"): (413, {}),
    ("onfleet", "wrong_method"): (405, {"code": "MethodNotAllowed", "sub": 1403}),
    ("nash", "wrong_method"): (405, {"code": "DISALLOWED_OPERATION"}),
    ("deftship", "wrong_method"): (405, {}),
    ("hypertrack", "wrong_method"): (405, {}),
}


def _client(**overrides: Any) -> TestClient:
    cfg = EmulatorConfig(api_keys=(KEY,), **overrides)
    return TestClient(create_app(cfg), raise_server_exceptions=False)


def _request(client: TestClient, provider: str, case: str) -> httpx.Response:
    post, unrouted, auth, _ = PROVIDER_CASES[provider]
    if case == "bad_json":
        return client.post(post, content=b"{not json", headers=auth)
    if case == "no_route":
        return client.get(unrouted, headers=auth)
    if case == "no_credential":
        return client.post(post, json={})
    if case == "wrong_credential":
        wrong = {"onfleet": onfleet_auth, "hypertrack": ht_auth}.get(provider, bearer)("wrong-0")
        return client.post(post, json={}, headers=wrong)
    if case == "too_large":
        return client.post(post, content=b"{" + b" " * 2000 + b"}", headers=auth)
    assert case == "wrong_method"
    return client.patch(post, headers=auth)


@pytest.mark.parametrize("provider", list(PROVIDER_CASES))
@pytest.mark.parametrize(
    "case",
    ["bad_json", "no_route", "no_credential", "wrong_credential", "too_large", "wrong_method"],
)
def test_each_provider_answers_in_its_own_shape(provider: str, case: str) -> None:
    with _client(max_body_bytes=1000) as client:
        r = _request(client, provider, case)
    status, expected = EXPECTED[(provider, "no_credential" if case == "wrong_credential" else case)]
    assert r.status_code == status, r.text
    seen = PROVIDER_CASES[provider][3](r, status)
    assert {k: seen[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("onfleet", {"code": "TooManyRequests", "sub": 2300}),
        ("nash", {"code": "TOO_MANY_REQUESTS"}),
    ],
)
def test_rate_limited_requests_get_the_providers_429(
    provider: str, expected: dict[str, Any]
) -> None:
    path = {"onfleet": "/api/v2/tasks/x", "nash": "/v1/jobs/x"}[provider]
    auth = PROVIDER_CASES[provider][2]
    with _client(rate_limit=RateLimitConfig(onfleet_per_s=1, nash_per_s=1, window_s=60.0)) as c:
        assert c.get(path, headers=auth).status_code == 404
        r = c.get(path, headers=auth)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    seen = PROVIDER_CASES[provider][3](r, 429)
    assert {k: seen[k] for k in expected} == expected


def test_deftship_and_hypertrack_have_no_rate_limit() -> None:
    # API-NOTES: HyperTrack publishes no limit and Deftship none at all.
    with _client(rate_limit=RateLimitConfig(onfleet_per_s=1, nash_per_s=1, window_s=60.0)) as c:
        codes = [c.get("/api/batches/nope", headers=bearer()).status_code for _ in range(3)]
        codes += [c.get("/orders/nope", headers=ht_auth()).status_code for _ in range(3)]
    assert codes == [404] * 6


@pytest.mark.parametrize("dialect", PROVIDERS, ids=lambda d: d.name)
def test_every_dialect_words_a_429(dialect: Dialect) -> None:
    provider = {ONFLEET: "onfleet", NASH: "nash", DEFTSHIP: "deftship", HYPERTRACK: "hypertrack"}
    r = _as_httpx(dialect.response(dialect.too_many_requests(7), "10.0.0.1"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    PROVIDER_CASES[provider[dialect]][3](r, 429)


def _as_httpx(resp: Response) -> httpx.Response:
    return httpx.Response(resp.status_code, headers=dict(resp.headers), content=resp.body)


@pytest.mark.parametrize("dialect", PROVIDERS, ids=lambda d: d.name)
def test_invalid_has_one_signature_for_every_provider(dialect: Dialect) -> None:
    exc = dialect.invalid("must be an object", "orders[0]", location="body")
    assert 400 <= exc.status < 500
    body = dialect.body(exc, "127.0.0.1", "rid")
    if dialect is HYPERTRACK:
        assert body == {
            "detail": {"body": {"orders[0]": ["must be an object"]}},
            "message": "Validation error",
        }
    elif dialect is NASH:
        assert body[0]["error"] == {"code": "VALIDATION_ERRORS", "message": "must be an object"}
    elif dialect is DEFTSHIP:
        assert body == {"success": False, "message": "must be an object"}
    else:
        assert body["message"]["cause"] == "must be an object" and body["message"]["error"] == 1000


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v2/tasks/batch", ONFLEET),
        ("/v1/jobs/job_1", NASH),
        ("/api/batches/12/ship", DEFTSHIP),
        ("/orders/track", HYPERTRACK),
        ("/emulator/v1/tasks/x/start", DRIVER_APP),
        ("/metrics", OPEN),
        ("/", OPEN),
        ("/nowhere", EMULATOR),
    ],
)
def test_resolve_maps_base_paths_to_dialects(path: str, expected: Dialect) -> None:
    assert resolve(path) is expected


def test_the_emulators_own_paths_speak_onfleet_with_their_own_policies() -> None:
    assert all(isinstance(d, OnfleetDialect) for d in (DRIVER_APP, OPEN, EMULATOR))
    assert DRIVER_APP.authenticates and not DRIVER_APP.limited and not DRIVER_APP.faulted
    assert not OPEN.authenticates and not OPEN.limited and not OPEN.faulted
    assert not EMULATOR.authenticates and EMULATOR.faulted
    assert all(d.authenticates and d.limited and d.faulted for d in PROVIDERS)


class _Tagged(OnfleetDialect):
    """Onfleet's dialect, marking every answer it renders."""

    def response(self, exc: ApiError, client_ip: str = "127.0.0.1") -> Response:
        r = super().response(exc, client_ip)
        r.headers["x-dialect"] = "tagged"
        return r


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("simulated bug")


def test_provider_is_resolved_once_and_every_answer_uses_the_scoped_dialect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tagged = _Tagged("onfleet")  # the name keys the rate budget
    calls: list[str] = []

    def counting(path: str) -> Dialect:
        calls.append(path)
        return tagged if path.startswith("/api/v2") else resolve(path)

    def never(path: str) -> Dialect:
        raise AssertionError(f"{path} resolved a second time")

    monkeypatch.setattr(dialect_mw, "resolve", counting)
    monkeypatch.setattr(dialect_mod, "resolve", never)  # the fallback of dialect_of
    monkeypatch.setattr(OnfleetState, "get_worker", _boom)
    T = "/api/v2/tasks"
    with _client(
        max_body_bytes=1000, rate_limit=RateLimitConfig(onfleet_per_s=8, window_s=60.0)
    ) as c:
        auth = onfleet_auth()
        answers = [
            c.get(f"{T}/all?from=0", headers=auth),  # 200
            c.get(f"{T}/all?from=0"),  # 401 from the auth middleware
            c.post(T, content=b"{not", headers=auth),  # 400 from a handler's read_json
            c.get(f"{T}/nope", headers=auth),  # 404 ApiError from the state
            c.get("/api/v2/no/route", headers=auth),  # 404 from the router
            c.patch(T, headers=auth),  # 405 from the router
            c.post(T, content=b" " * 2000, headers=auth),  # 413 from the body cap
            c.get("/api/v2/workers/w", headers=auth),  # 500 from the catch-all
            c.get(f"{T}/all?from=0", headers=auth),  # 429 from the rate limiter
        ]
    statuses = [r.status_code for r in answers]
    assert statuses == [200, 401, 400, 404, 404, 405, 413, 500, 429]
    assert [r.headers.get("x-dialect") for r in answers] == [None] + ["tagged"] * 8
    assert len(calls) == len(answers)


def test_injected_faults_use_the_scoped_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    tagged = _Tagged("onfleet")  # the name keys the rate budget
    monkeypatch.setattr(dialect_mw, "resolve", lambda path: tagged)
    with _client(faults=FaultConfig(error_rate=1.0)) as c:
        r = c.get("/api/v2/tasks/x", headers=onfleet_auth())
    assert r.status_code == 503 and r.headers["x-dialect"] == "tagged"
    assert r.json()["message"]["error"] == 2500
