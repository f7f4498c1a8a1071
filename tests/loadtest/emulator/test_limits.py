"""Rate limit and its headers, the container lock's 412, body cap, auth and malformed input
across all four providers."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import httpx
import pytest

from loadtest.emulator.app import create_app
from loadtest.emulator.config import DEMO_API_KEY, EmulatorConfig, RateLimitConfig
from loadtest.emulator.nash.routes import NashApi
from loadtest.emulator.onfleet.state import OnfleetState
from tests.loadtest.emulator.helpers import (
    KEY,
    TestClient,
    bearer,
    ht_auth,
    make_client,
    onfleet_auth,
)

T = "/api/v2/tasks"


def test_rate_limit_headers_and_429() -> None:
    cfg = {"rate_limit": RateLimitConfig(onfleet_per_s=5, nash_per_s=3, window_s=60.0)}
    with make_client(**cfg) as client:
        client.headers.update(onfleet_auth())
        seen = []
        for _ in range(5):
            r = client.get("/api/v2/auth/test")
            assert r.status_code == 200
            assert r.headers["X-RateLimit-Limit"] == "5"
            seen.append(int(r.headers["X-RateLimit-Remaining"]))
        assert seen == [5, 4, 3, 2, 1]  # a 2xx never shows 0
        r = client.get("/api/v2/tasks/all?from=0")
        assert r.status_code == 429
        assert r.headers["X-RateLimit-Remaining"] == "0"
        j = r.json()
        assert j["code"] == "TooManyRequests" and j["message"]["error"] == 2300
        # Errors count and carry the headers too (every response).
        bad = client.get("/api/v2/tasks/x", headers={"Authorization": "Basic eA=="})
        assert bad.status_code == 429 and "X-RateLimit-Limit" in bad.headers
        # Nash has its own budget and its own 429 shape.
        for _ in range(3):
            assert client.get("/v1/jobs/job_x", headers=bearer()).status_code == 404
        r = client.get("/v1/jobs/job_x", headers=bearer())
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert r.json()[0]["error"]["code"] == "TOO_MANY_REQUESTS"


def test_rolling_window_refills() -> None:
    import time

    with make_client(rate_limit=RateLimitConfig(onfleet_per_s=3, window_s=0.3)) as client:
        client.headers.update(onfleet_auth())
        codes = [client.get("/api/v2/auth/test").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        time.sleep(0.35)
        assert client.get("/api/v2/auth/test").status_code == 200


def test_headers_on_every_onfleet_response_in_fast_profile(client: TestClient) -> None:
    for r in (
        client.get("/api/v2/tasks/nope"),
        client.post("/api/v2/tasks", content=b"{"),
        client.get("/api/v2/auth/test"),
        client.get("/api/v2/nowhere"),
    ):
        assert int(r.headers["X-RateLimit-Remaining"]) > 0
        assert "X-RateLimit-Limit" in r.headers


def test_container_lock_412_under_contention() -> None:
    app = create_app(
        EmulatorConfig(api_keys=(KEY,), container_lock_hold_ms=200.0, container_lock_wait_ms=20.0)
    )

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://emu", headers=onfleet_auth()
        ) as c:
            body = {"destination": {"location": [-122.4, 37.7]}}
            rs = await asyncio.gather(*(c.post("/api/v2/tasks", json=body) for _ in range(3)))
            return [r.status_code for r in rs]

    codes = asyncio.run(go())
    assert sorted(codes) == [200, 412, 412]


def test_body_cap_413_in_provider_shapes() -> None:
    with make_client(max_body_bytes=1000) as client:
        big = b'{"tasks": [' + b" " * 2000 + b"]}"
        r = client.post("/api/v2/tasks/batch", content=big, headers=onfleet_auth())
        assert r.status_code == 413 and r.json()["code"] == "PayloadTooLarge"
        assert "1000" in r.text or "MiB" in r.json()["message"]["message"]
        r = client.post("/v1/batch_job", content=big, headers=bearer())
        assert r.status_code == 413 and isinstance(r.json(), list)
        r = client.post("/api/batches", content=big, headers=bearer())
        assert r.status_code == 413 and r.json()["success"] is False
        r = client.post("/orders/track", content=big, headers=ht_auth())
        assert r.status_code == 413 and set(r.json()) == {"detail", "message"}

        def chunks():  # no Content-Length: still capped
            yield b'{"tasks": ['
            yield b" " * 2000
            yield b"]}"

        r = client.post("/api/v2/tasks/batch", content=chunks(), headers=onfleet_auth())
        assert r.status_code == 413


@pytest.mark.parametrize(
    ("path", "headers", "check"),
    [
        (
            "/api/v2/auth/test",
            {},
            lambda j: j["message"]["error"] == 1102 and j["code"] == "InvalidCredentials",
        ),
        (
            "/api/v2/auth/test",
            onfleet_auth("wrong-key-0000"),
            lambda j: j["message"]["error"] == 1102,
        ),
        (
            "/api/v2/auth/test",
            {"Authorization": "Basic !!!"},
            lambda j: j["message"]["error"] == 1102,
        ),
        ("/emulator/v1/tasks/x/start", {}, lambda j: j["message"]["error"] == 1102),
        (
            "/v1/jobs/job_1",
            bearer("wrong-key-0000"),
            lambda j: (
                j[0]["error"]["code"] == "UNAUTHORIZED"
                and j[0]["response_status"].startswith("401")
            ),
        ),
        ("/api/batches/1", {}, lambda j: j == {"success": False, "message": "Unauthenticated."}),
        (
            "/orders/o1",
            {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
            lambda j: set(j) == {"detail", "message"},
        ),
    ],
)
def test_auth_401_shapes(path: str, headers: dict[str, str], check: object) -> None:
    with make_client() as client:
        method = client.post if "start" in path else client.get
        r = method(path, headers=headers)
        assert r.status_code == 401
        assert check(r.json())  # type: ignore[operator]


def test_password_is_ignored_and_demo_key_works_without_keys() -> None:
    with TestClient(create_app(EmulatorConfig())) as client:
        auth = base64.b64encode(f"{DEMO_API_KEY}:whatever".encode()).decode()
        r = client.get("/api/v2/auth/test", headers={"Authorization": f"Basic {auth}"})
        assert r.status_code == 200
    with make_client() as client:  # keys configured: the demo key no longer works
        assert (
            client.get("/api/v2/auth/test", headers=onfleet_auth(DEMO_API_KEY)).status_code == 401
        )


@pytest.mark.parametrize(
    ("method", "path", "headers", "shape"),
    [
        ("POST", "/api/v2/tasks", onfleet_auth(), "onfleet"),
        ("POST", "/api/v2/tasks/batch", onfleet_auth(), "onfleet"),
        ("PUT", "/api/v2/containers/workers/x", onfleet_auth(), "onfleet"),
        ("POST", "/v1/batch_job", bearer(), "nash"),
        ("POST", "/api/batches", bearer(), "deftship"),
        ("POST", "/orders/track", ht_auth(), "hypertrack"),
    ],
)
@pytest.mark.parametrize("payload", [b"{not json", b"", b"[1,2]", b'"str"', b"\xff\xfe"])
def test_malformed_bodies_get_provider_4xx(
    method: str, path: str, headers: dict[str, str], shape: str, payload: bytes
) -> None:
    with make_client() as client:
        r = client.request(method, path, content=payload, headers=headers)
        assert 400 <= r.status_code < 500, r.text
        j = r.json()
        if shape == "onfleet":
            assert set(j) == {"code", "message"} and isinstance(j["message"]["error"], int)
        elif shape == "nash":
            assert isinstance(j, list) and j[0]["error"]["code"]
        elif shape == "deftship":
            assert j["success"] is False and j["message"]
        else:
            assert set(j) == {"detail", "message"}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/api/v2/tasks/nope", onfleet_auth(), 404),
        ("GET", "/api/v2/tasks/shortId/nope", onfleet_auth(), 404),
        ("DELETE", "/api/v2/tasks/nope", onfleet_auth(), 404),
        ("POST", "/api/v2/tasks/nope/complete", onfleet_auth(), 404),
        ("PATCH", "/api/v2/tasks", onfleet_auth(), 405),
        ("GET", "/api/v2/no/such/route", onfleet_auth(), 404),
        ("GET", "/v1/jobs/job_nope", bearer(), 404),
        ("DELETE", "/v1/batch_job", bearer(), 405),
        ("GET", "/api/batches/nope", bearer(), 404),
        ("POST", "/api/batches/nope/ship", bearer(), 404),
        ("GET", "/orders/nope", ht_auth(), 404),
        ("POST", "/orders/nope/complete", ht_auth(), 404),
        ("PUT", "/orders/track", ht_auth(), 405),
    ],
)
def test_unknown_ids_and_wrong_methods(
    method: str, path: str, headers: dict[str, str], status: int
) -> None:
    with make_client() as client:
        r = client.request(method, path, headers=headers, json={})
        assert r.status_code == status, r.text
        j = r.json()
        if path.startswith("/api/v2"):
            assert j["message"]["error"] in (1402, 1403)
        elif path.startswith("/v1"):
            assert j[0]["response_status"].startswith(str(status))
        elif path.startswith("/api/batches"):
            assert j["success"] is False
            if status == 404:
                assert j["message"] == "Batch not found."
        else:
            assert set(j) == {"detail", "message"}


def test_driver_app_is_not_rate_limited() -> None:
    with make_client(rate_limit=RateLimitConfig(onfleet_per_s=2, window_s=60.0)) as client:
        client.headers.update(onfleet_auth())
        for _ in range(5):
            r = client.post("/emulator/v1/workers/nobody/location", json={"location": [1, 2]})
            assert r.status_code == 404
        assert client.get("/api/v2/auth/test").status_code == 200


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("simulated bug")


@pytest.mark.parametrize("limit", [None, 20])
def test_500_carries_rate_limit_headers(monkeypatch: pytest.MonkeyPatch, limit: int | None) -> None:
    monkeypatch.setattr(OnfleetState, "get", _boom)
    cfg = EmulatorConfig(api_keys=(KEY,), rate_limit=RateLimitConfig(onfleet_per_s=limit))
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        r = client.get(f"{T}/abc", headers=onfleet_auth())
        metrics = client.get("/metrics").text
    assert r.status_code == 500, r.text
    assert "X-RateLimit-Limit" in r.headers and int(r.headers["X-RateLimit-Remaining"]) >= 1
    j = r.json()
    assert j["code"] == "InternalServerError" and j["message"]["error"] == 2500
    assert j["message"]["cause"] == "RuntimeError"
    assert 'route="/api/v2/tasks/{taskId}",method="GET",status="500"' in metrics


def test_500_logs_the_trace(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The catch-all answers and logs instead of re-raising (a re-raise makes uvicorn close
    # the connection), so the trace must still reach the server's error log.
    monkeypatch.setattr(OnfleetState, "get", _boom)
    with make_client() as client, caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        assert client.get(f"{T}/abc", headers=onfleet_auth()).status_code == 500
    (rec,) = [r for r in caplog.records if r.name == "uvicorn.error"]
    assert rec.exc_info is not None and "simulated bug" in str(rec.exc_info[1])
    assert "GET /api/v2/tasks/abc" in rec.getMessage()


def test_nash_500_has_one_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NashApi, "get_job", _boom)
    cfg = EmulatorConfig(api_keys=(KEY,))
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        r = client.get("/v1/jobs/job_1", headers=bearer())
    assert r.status_code == 500
    j = r.json()
    assert j[0]["error"]["code"] == "INTERNAL_SERVER_ERROR"
    assert r.headers["X-REQUEST-ID"] == j[0]["RequestID"]


def test_nash_request_id_header_matches_body() -> None:
    with make_client() as client:
        for r in (
            client.get("/v1/jobs/job_nope", headers=bearer()),  # 404 from the handler
            client.post("/v1/batch_job", json={"packages": []}, headers=bearer()),  # 422
            client.get("/v1/jobs/job_nope", headers=bearer("wrong-key-000")),  # 401
        ):
            assert r.status_code >= 400
            assert r.headers["X-REQUEST-ID"] == r.json()[0]["RequestID"]


def test_413_code_per_provider() -> None:
    big = b'{"packages": [' + b" " * 2000 + b"]}"
    with make_client(max_body_bytes=1000) as client:
        nash = client.post("/v1/batch_job", content=big, headers=bearer())
        onfleet = client.post("/api/v2/tasks/batch", content=big, headers=onfleet_auth())
    assert nash.status_code == 413
    assert nash.json()[0]["error"]["code"] == "VALIDATION_ERRORS"
    assert nash.json()[0]["response_status"].startswith("413")
    assert onfleet.status_code == 413 and onfleet.json()["code"] == "PayloadTooLarge"


def test_429_reports_the_client_address() -> None:
    with make_client(rate_limit=RateLimitConfig(onfleet_per_s=1, window_s=60.0)) as client:
        client.headers.update(onfleet_auth())
        assert client.get("/api/v2/auth/test").status_code == 200
        r = client.get("/api/v2/auth/test")
    assert r.status_code == 429
    # Starlette's test client connects as ("testclient", 50000).
    assert r.json()["message"]["remoteAddress"] == "testclient"
