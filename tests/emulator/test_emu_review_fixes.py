"""Regressions from a review of the emulator: each test failed before its fix.

Nash type confusion (500), failed PUTs that still changed the task, a 500 without the
rate-limit headers, Nash request ids and 413 code, dependency cycles, profile ranges and
the 429's remoteAddress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from emu_helpers import KEY, TestClient, bearer, make_client, onfleet_auth

from fleetsim.cli import main
from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig, RateLimitConfig, load_profile
from loadtest.emulator.nash.routes import NashApi
from loadtest.emulator.onfleet.state import OnfleetState
from sim.errors import UserError

T = "/api/v2/tasks"


def _pkg(**extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "packageDeliveryMode": "now",
        "pickupLatitude": 37.7,
        "pickupLongitude": -122.4,
        "dropoffAddress": "2 Elm St",
    }
    p.update(extra)
    return p


# -- 1. Nash: a non-string Address is a 422, never a 500 ----------------------------------
@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], 5, True, 1.5])
@pytest.mark.parametrize("key", ["pickupAddress", "dropoffAddress"])
def test_emu_nash_non_string_address_is_422(key: str, value: Any) -> None:
    pkg = _pkg(dropoffLatitude=37.8, dropoffLongitude=-122.3, **{key: value})
    with make_client() as client:
        r = client.post("/v1/batch_job", json={"packages": [pkg, pkg]}, headers=bearer())
    assert r.status_code == 422, r.text
    err = r.json()
    assert isinstance(err, list) and err[0]["error"]["code"] == "VALIDATION_ERRORS"
    assert key in err[0]["error"]["message"]
    assert err[0]["response_status"].startswith("422")


def test_emu_nash_reviewer_repro_is_422() -> None:
    pkg = _pkg(pickupAddress={"a": 1})
    with make_client() as client:
        r = client.post("/v1/batch_job", json={"packages": [pkg, pkg]}, headers=bearer())
    assert r.status_code == 422 and r.json()[0]["error"]["code"] == "VALIDATION_ERRORS"


# -- 2. PUT /tasks/{id}: a 400 changes nothing (memory and SQLite agree) -------------------
@pytest.mark.parametrize(
    "update",
    [
        {"notes": "CHANGED", "container": {"type": "WORKER", "worker": "nope"}},
        {"destination": {"location": [2, 2]}, "recipients": ["unknown"]},
        {"notes": "CHANGED", "recipients": [{"id": "unknownRecipientId00000000"}]},
        {"notes": "CHANGED", "container": {"type": "TEAM", "team": "nope"}},
        {"notes": "CHANGED", "dependencies": ["no-such-task"]},
    ],
)
def test_emu_failed_update_leaves_task_unchanged(tmp_path: Path, update: dict[str, Any]) -> None:
    db = tmp_path / "emu.db"
    with make_client(db_path=db) as client:
        client.headers.update(onfleet_auth())
        r = client.post(T, json={"destination": {"location": [-122.41, 37.77]}, "notes": "v1"})
        assert r.status_code == 200, r.text
        before = r.json()
        r = client.put(f"{T}/{before['id']}", json=update)
        assert r.status_code == 400, r.text
        in_memory = client.get(f"{T}/{before['id']}").json()
    with make_client(db_path=db) as client:  # what SQLite kept
        client.headers.update(onfleet_auth())
        on_disk = client.get(f"{T}/{before['id']}").json()
    for view in (in_memory, on_disk):
        assert view["notes"] == "v1"
        assert view["destination"]["location"] == before["destination"]["location"]
        assert view["recipients"] == before["recipients"]
        assert view["container"] == before["container"]
        assert view["timeLastModified"] == before["timeLastModified"]


def test_emu_failed_update_over_cap_leaves_task_unchanged() -> None:
    with make_client(container_cap=2) as capped:
        capped.headers.update(onfleet_auth())
        team = capped.post("/api/v2/teams", json={"name": "T", "workers": [], "managers": []})
        assert team.status_code == 200, team.text
        worker = capped.post(
            "/api/v2/workers",
            json={"name": "W", "phone": "+14155550100", "teams": [team.json()["id"]]},
        )
        assert worker.status_code == 200, worker.text
        to_worker = {"container": {"type": "WORKER", "worker": worker.json()["id"]}}
        loc = {"destination": {"location": [-122.41, 37.77]}}
        for _ in range(2):  # fill the worker to the cap, one at a time (org cap is 2 too)
            tid = capped.post(T, json=loc).json()["id"]
            assert capped.put(f"{T}/{tid}", json=to_worker).status_code == 200
        c = capped.post(T, json={**loc, "notes": "c"}).json()
        r = capped.put(f"{T}/{c['id']}", json={"notes": "CHANGED", **to_worker})
        assert r.status_code == 400, r.text
        after = capped.get(f"{T}/{c['id']}").json()
        assert after["notes"] == "c" and after["container"] == c["container"]


# -- 3. an unexpected exception's 500 still carries the rate-limit headers -----------------
def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("simulated bug")


@pytest.mark.parametrize("limit", [None, 20])
def test_emu_500_carries_rate_limit_headers(
    monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
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


def test_emu_500_still_raises_for_a_raising_test_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OnfleetState, "get", _boom)
    with make_client() as client, pytest.raises(RuntimeError, match="simulated bug"):
        client.get(f"{T}/abc", headers=onfleet_auth())


def test_emu_nash_500_has_one_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NashApi, "get_job", _boom)
    cfg = EmulatorConfig(api_keys=(KEY,))
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        r = client.get("/v1/jobs/job_1", headers=bearer())
    assert r.status_code == 500
    j = r.json()
    assert j[0]["error"]["code"] == "INTERNAL_SERVER_ERROR"
    assert r.headers["X-REQUEST-ID"] == j[0]["RequestID"]


# -- 4. Nash: X-REQUEST-ID is the body's RequestID ----------------------------------------
def test_emu_nash_request_id_header_matches_body() -> None:
    with make_client() as client:
        for r in (
            client.get("/v1/jobs/job_nope", headers=bearer()),  # 404 from the handler
            client.post("/v1/batch_job", json={"packages": []}, headers=bearer()),  # 422
            client.get("/v1/jobs/job_nope", headers=bearer("wrong-key-000")),  # 401
        ):
            assert r.status_code >= 400
            assert r.headers["X-REQUEST-ID"] == r.json()[0]["RequestID"]


# -- 5. the 413 uses each provider's own code --------------------------------------------
def test_emu_413_code_per_provider() -> None:
    big = b'{"packages": [' + b" " * 2000 + b"]}"
    with make_client(max_body_bytes=1000) as client:
        nash = client.post("/v1/batch_job", content=big, headers=bearer())
        onfleet = client.post("/api/v2/tasks/batch", content=big, headers=onfleet_auth())
    assert nash.status_code == 413
    assert nash.json()[0]["error"]["code"] == "VALIDATION_ERRORS"
    assert nash.json()[0]["response_status"].startswith("413")
    assert onfleet.status_code == 413 and onfleet.json()["code"] == "PayloadTooLarge"


# -- 6. PUT cannot close a dependency cycle ----------------------------------------------
def test_emu_update_refuses_dependency_cycle(client: TestClient) -> None:
    loc = {"destination": {"location": [-122.41, 37.77]}}
    a, b, c, d = (client.post(T, json=loc).json()["id"] for _ in range(4))
    assert client.put(f"{T}/{b}", json={"dependencies": [a]}).status_code == 200
    assert client.put(f"{T}/{c}", json={"dependencies": [b]}).status_code == 200
    # Two-task cycle and a longer one are refused, and change nothing.
    for tid, deps in ((a, [b]), (a, [c]), (a, [d, c])):
        r = client.put(f"{T}/{tid}", json={"dependencies": deps, "notes": "CHANGED"})
        assert r.status_code == 400, r.text
        j = r.json()["message"]
        assert j["error"] == 1000 and "cycle" in j["cause"]
        task = client.get(f"{T}/{tid}").json()
        assert task["dependencies"] == [] and task["notes"] == ""
    r = client.put(f"{T}/{a}", json={"dependencies": [c, b]})
    assert "->" in r.json()["message"]["cause"]
    # A diamond (d depends on b and c, both on a) is not a cycle.
    assert client.put(f"{T}/{d}", json={"dependencies": [b, c]}).status_code == 200
    assert client.put(f"{T}/{a}", json={"dependencies": [a]}).status_code == 400


# -- 7. profile values are range-checked at load ------------------------------------------
@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("[rate_limit]\nwindow_s = 0.0\n", "rate_limit.window_s", "0.0"),
        ("[rate_limit]\nwindow_s = -1\n", "rate_limit.window_s", "-1"),
        ("[rate_limit]\nwindow_s = inf\n", "rate_limit.window_s", "inf"),
        ("[faults]\nerror_rate = 5.0\n", "faults.error_rate", "5.0"),
        ("[faults]\nslow_rate = -0.1\n", "faults.slow_rate", "-0.1"),
        ("[faults]\nerror_rate = 0.6\nslow_rate = 0.6\n", "faults.error_rate", "1.2"),
        ("[faults]\nerror_status = 200\n", "faults.error_status", "200"),
        ("[faults]\nslow_ms = nan\n", "faults.slow_ms", "nan"),
        ("max_body_bytes = -1\n", "max_body_bytes", "-1"),
        ("max_body_bytes = 0\n", "max_body_bytes", "0"),
        ("seed = -3\n", "seed", "-3"),
        ("[region]\nlat = 500\n", "region.lat", "500"),
        ("[region]\nlon = -181.0\n", "region.lon", "-181.0"),
        ("[region]\nradius_m = 0\n", "region.radius_m", "0"),
        ("[region]\nfailing_markers = [1, 2]\n", "region.failing_markers[0]", "1"),
        ('[region]\nfailing_markers = ["ok", ""]\n', "region.failing_markers[1]", "''"),
        ("nash_providers = [{a = 1}]\n", "nash_providers[0]", "{'a': 1}"),
        ("api_keys = [7]\n", "api_keys[0]", "7"),
        ("async_tasks_per_s = -5.0\n", "async_tasks_per_s", "-5.0"),
        ("container_lock_wait_ms = -1\n", "container_lock_wait_ms", "-1"),
        ("[latency.default]\nmedian_ms = -1.0\n", "latency.default.median_ms", "-1.0"),
        (
            '[latency.routes."GET /x"]\np99_ms = -2\n',
            "latency.routes.GET /x.p99_ms",
            "-2",
        ),
        ("[latency]\nbatch_per_task_ms = -4.0\n", "latency.batch_per_task_ms", "-4.0"),
    ],
)
def test_emu_profile_ranges_are_checked(tmp_path: Path, text: str, key: str, value: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(UserError) as info:
        load_profile(str(p))
    msg = str(info.value)
    assert key in msg and value in msg and "allowed" in msg, msg


def test_emu_profile_in_range_edges_load(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text(
        "max_body_bytes = 1\n[faults]\nerror_rate = 1.0\nerror_status = 599\n"
        "[region]\nlat = -90\nlon = 180\nfailing_markers = []\n"
        "[rate_limit]\nwindow_s = 0.001\n"
    )
    cfg = load_profile(str(p))
    assert cfg.faults.error_rate == 1.0 and cfg.region.lat == -90.0
    assert cfg.region.failing_markers == () and cfg.rate_limit.window_s == 0.001


def test_emu_cli_bad_profile_range_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[region]\nfailing_markers = [1, 2]\n")
    assert main(["emulate", "--profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "region.failing_markers" in err


# -- 8. the 429's remoteAddress is the client's address -----------------------------------
def test_emu_429_reports_the_client_address() -> None:
    with make_client(rate_limit=RateLimitConfig(onfleet_per_s=1, window_s=60.0)) as client:
        client.headers.update(onfleet_auth())
        assert client.get("/api/v2/auth/test").status_code == 200
        r = client.get("/api/v2/auth/test")
    assert r.status_code == 429
    # Starlette's test client connects as ("testclient", 50000).
    assert r.json()["message"]["remoteAddress"] == "testclient"
