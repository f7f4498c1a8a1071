"""Hardening regressions (issue 10): deep JSON refused at the edge in every provider's
shape, so nothing stored is impossible to serve back; a failed request's writes never
reach the store; the connection stays open after a 500; metrics label every answer by
its route; a loopback server refuses other Host names, and a non-loopback bind warns."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleetsim.commands.emulate import _announce
from loadtest.emulator.app import create_app
from loadtest.emulator.config import (
    DEMO_API_KEY,
    EmulatorConfig,
    FaultConfig,
    RateLimitConfig,
    load_profile,
)
from loadtest.emulator.http import MAX_JSON_DEPTH
from loadtest.emulator.middleware.hostguard import host_name, is_loopback
from loadtest.emulator.onfleet.state import OnfleetState
from loadtest.emulator.serve import EmulatorServer, build_app
from loadtest.providers import hypertrack, nash
from sim.errors import UserError
from tests.loadtest.emulator.helpers import (
    KEY,
    TestClient,
    bearer,
    ht_auth,
    make_client,
    onfleet_auth,
)

A = "/api/v2"


def nested(levels: int) -> Any:
    """A value of ``levels`` nested arrays around a string."""
    v: Any = "x"
    for _ in range(levels):
        v = [v]
    return v


def _onfleet_task(deep: Any) -> tuple[str, dict[str, Any]]:
    meta = [{"name": "deep", "type": "array", "value": deep}]
    return f"{A}/tasks", {"destination": {"location": [-122.41, 37.77]}, "metadata": meta}


def _onfleet_batch(deep: Any) -> tuple[str, dict[str, Any]]:
    return f"{A}/tasks/batch", {"tasks": [_onfleet_task(deep)[1]]}


def _onfleet_worker(deep: Any) -> tuple[str, dict[str, Any]]:
    return f"{A}/workers", {"name": "Deep", "phone": "4155550199", "metadata": deep}


def _ht_track(deep: Any) -> tuple[str, dict[str, Any]]:
    order = {**hypertrack.order_body("o-1", 37.39, -121.88, "drop"), "metadata": {"d": deep}}
    return "/orders/track", hypertrack.track_body("J", [order])


def _nash(deep: Any) -> tuple[str, dict[str, Any]]:
    return "/v1/batch_job", {"packages": [], "extra": deep}


def _deftship(deep: Any) -> tuple[str, dict[str, Any]]:
    return "/api/batches", {"items": [], "extra": deep}


CASES = {
    "onfleet-task": (_onfleet_task, onfleet_auth(), 400, f"{A}/tasks/all?from=0"),
    "onfleet-batch": (_onfleet_batch, onfleet_auth(), 400, f"{A}/tasks/all?from=0"),
    "onfleet-worker": (_onfleet_worker, onfleet_auth(), 400, f"{A}/workers"),
    "hypertrack": (_ht_track, ht_auth(), 422, "/orders/o-1"),
    "nash": (_nash, bearer(), 422, None),
    "deftship": (_deftship, bearer(), 422, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_deep_json_is_refused_in_the_providers_shape(name: str) -> None:
    build, headers, status, listing = CASES[name]
    path, body = build(nested(300))
    with make_client() as client:
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == status, r.text
        text = r.text
        assert f"more than {MAX_JSON_DEPTH} levels" in text
        if name.startswith("onfleet"):
            assert r.json()["code"] == "InvalidContent"
        elif name == "nash":
            assert r.json()[0]["error"]["code"] == "VALIDATION_ERRORS"
        elif name == "hypertrack":
            assert "body" in r.json()["detail"]
        else:
            assert r.json()["success"] is False
        if listing is not None:
            after = client.get(listing, headers=headers)
            assert after.status_code in (200, 404), after.text


def test_depth_at_the_bound_is_stored_and_served_back(client: TestClient) -> None:
    # The body is an object, its metadata an array of objects: three levels before the
    # value, so the value may nest MAX - 3 arrays.
    path, body = _onfleet_task(nested(MAX_JSON_DEPTH - 3))
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    listed = client.get(f"{A}/tasks/all?from=0")
    assert listed.status_code == 200
    assert listed.json()["tasks"][0]["metadata"][0]["value"] == nested(MAX_JSON_DEPTH - 3)
    path, body = _onfleet_task(nested(MAX_JSON_DEPTH - 2))
    assert client.post(path, json=body).status_code == 400


# -- a request's writes commit together ------------------------------------------------


def _db_client(db: Path) -> TestClient:
    cfg = EmulatorConfig(api_keys=(KEY,), db_path=db, seed=3)
    c = TestClient(create_app(cfg), raise_server_exceptions=False)
    c.headers.update(onfleet_auth())
    return c


def test_a_failed_request_leaves_nothing_on_disk_and_ids_are_not_reissued(
    tmp_path: Path,
) -> None:
    db = tmp_path / "emu.db"
    task = {"destination": {"location": [-122.41, 37.77]}}
    with _db_client(db) as c:
        before = c.post(f"{A}/tasks", json=task).json()["id"]
        state = c.app.state.emulator.onfleet.state  # type: ignore[attr-defined]
        real_save = state.save_task
        calls = 0

        def failing_save(t: Any) -> None:
            # An emulator bug half-way through a 6-task batch, after 3 tasks were put.
            nonlocal calls
            calls += 1
            if calls == 4:
                raise RuntimeError("bug in the middle of a batch")
            real_save(t)

        state.save_task = failing_save
        r = c.post(f"{A}/tasks/batch", json={"tasks": [task] * 6})
        assert r.status_code == 500
        state.save_task = real_save
        failed_ids = set(state.tasks) - {before}
        assert len(failed_ids) == 4  # in memory (the 4th failed to save); the client got 500
        # An unrelated request commits: it must not carry the failed request's writes.
        after = c.post(f"{A}/tasks", json=task).json()["id"]
        issued = {before, after} | failed_ids
    with _db_client(db) as c:
        listed = c.get(f"{A}/tasks/all?from=0").json()["tasks"]
        assert sorted(t["id"] for t in listed) == sorted([before, after])
        fresh = [c.post(f"{A}/tasks", json=task).json()["id"] for _ in range(20)]
        assert not issued & set(fresh)


# -- the connection survives a 500 -------------------------------------------------------


def _raw_get(sock: socket.socket, path: str) -> bytes:
    """One HTTP/1.1 GET on an open socket; the answer's head and body (Content-Length)."""
    auth = onfleet_auth()["Authorization"]
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data  # the server closed the connection
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_the_connection_stays_open_after_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(OnfleetState, "get", boom)
    with EmulatorServer(EmulatorConfig(api_keys=(KEY,))) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            first = _raw_get(sock, f"{A}/tasks/abc")
            assert first.startswith(b"HTTP/1.1 500"), first
            assert b"connection: close" not in first.lower()
            second = _raw_get(sock, f"{A}/auth/test")
            assert second.startswith(b"HTTP/1.1 200"), second
        # And a pooled client sees no reset.
        with httpx.Client(base_url=url, headers=onfleet_auth(), timeout=10) as c:
            for _ in range(3):
                assert c.get(f"{A}/tasks/abc").status_code == 500
                assert c.get(f"{A}/auth/test").status_code == 200


# -- metrics label every answer by its route ---------------------------------------------


def test_429_and_faults_are_labelled_by_route() -> None:
    limited = make_client(rate_limit=RateLimitConfig(onfleet_per_s=1, window_s=60.0))
    with limited as client:
        client.headers.update(onfleet_auth())
        assert client.get(f"{A}/tasks/abc").status_code == 404
        assert client.get(f"{A}/tasks/abc").status_code == 429
        assert client.get("/api/v2/no/such/route").status_code == 429
        metrics = client.get("/metrics").text
    assert 'route="/api/v2/tasks/{taskId}",method="GET",status="429"} 1' in metrics
    # A path no route matches stays pooled, so fuzzing cannot grow the label set.
    assert 'route="unmatched",method="GET",status="429"} 1' in metrics
    with make_client(faults=FaultConfig(error_rate=1.0)) as client:
        client.headers.update(onfleet_auth())
        assert client.post(f"{A}/tasks/batch", json={"tasks": []}).status_code == 503
        metrics = client.get("/metrics").text
    assert 'route="/api/v2/tasks/batch",method="POST",status="503"} 1' in metrics
    assert "unmatched" not in metrics


# -- binding and the Host guard ----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "loopback"),
    [
        ("127.0.0.1:8080", True),
        ("127.1.2.3", True),
        ("localhost:9", True),
        ("LOCALHOST.", True),
        ("[::1]:8080", True),
        ("evil.example:8080", False),
        ("127.0.0.1.evil.example", False),
        ("10.0.0.5:8080", False),
        ("[2001:db8::1]:80", False),
        ("", False),
    ],
)
def test_loopback_host_names(header: str, loopback: bool) -> None:
    assert is_loopback(host_name(header)) is loopback


def test_a_loopback_bind_refuses_other_host_headers() -> None:
    with EmulatorServer(EmulatorConfig(api_keys=(KEY,))) as url:
        port = url.rsplit(":", 1)[1]
        with httpx.Client(base_url=url, headers=onfleet_auth(), timeout=10) as c:
            assert c.get(f"{A}/auth/test").status_code == 200
            ok_host = c.get(f"{A}/auth/test", headers={"Host": f"localhost:{port}"})
            assert ok_host.status_code == 200
            r = c.get(f"{A}/auth/test", headers={"Host": f"rebind.example:{port}"})
            assert r.status_code == 400
            assert r.json()["code"] == "InvalidContent"
            assert "'rebind.example' is not a loopback name" in r.json()["message"]["cause"]
            n = c.get("/v1/jobs/x", headers={"Host": "rebind.example", **bearer()})
            assert n.status_code == 400 and "rebind.example" in n.json()[0]["error"]["message"]


def test_the_host_guard_remembers_verdicts_within_a_bound() -> None:
    cfg = EmulatorConfig(api_keys=(KEY,))
    with TestClient(build_app(cfg, "127.0.0.1")) as c:
        for i in range(300):  # more made-up names than the guard remembers
            r = c.get(f"{A}/auth/test", headers={**onfleet_auth(), "Host": f"h{i}.example"})
            assert r.status_code == 400
        for _ in range(2):  # a remembered verdict answers the same as a fresh one
            ok = c.get(f"{A}/auth/test", headers={**onfleet_auth(), "Host": "127.0.0.1:9"})
            assert ok.status_code == 200
            bad = c.get(f"{A}/auth/test", headers={**onfleet_auth(), "Host": "h299.example"})
            assert bad.status_code == 400 and "'h299.example'" in bad.json()["message"]["cause"]
    guard = c.app.middleware_stack  # the built stack; find the guard in it
    while guard is not None and type(guard).__name__ != "HostGuardMiddleware":
        guard = getattr(guard, "app", None)
    assert guard is not None and len(guard._allowed) <= guard._MAX_REMEMBERED


def test_a_bind_elsewhere_has_no_host_guard() -> None:
    cfg = EmulatorConfig(api_keys=(KEY,))
    # TestClient sends Host: testserver, which is not loopback.
    with TestClient(build_app(cfg, "0.0.0.0")) as c:  # built, never bound
        assert c.get(f"{A}/auth/test", headers=onfleet_auth()).status_code == 200
    with TestClient(build_app(cfg, "127.0.0.1")) as c:
        assert c.get(f"{A}/auth/test", headers=onfleet_auth()).status_code == 400


@pytest.mark.parametrize("keys", [(), (KEY,)])
def test_a_non_loopback_bind_warns_and_names_the_demo_key(
    keys: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = EmulatorConfig(api_keys=keys)
    _announce(cfg, "http://0.0.0.0:8080", "0.0.0.0")
    err = capsys.readouterr().err
    assert "warning: --host 0.0.0.0 is not loopback" in err and DEMO_API_KEY in err
    assert ("--api-key" in err) is (not keys)
    assert KEY not in err
    _announce(cfg, "http://127.0.0.1:8080", "127.0.0.1")
    assert "warning" not in capsys.readouterr().err


# -- container PUT: linear, same outcome -------------------------------------------------


def test_container_put_moves_runs_and_returns_dropped_tasks(client: TestClient) -> None:
    team = client.post(f"{A}/teams", json={"name": "T"}).json()["id"]
    w1, w2 = (
        client.post(
            f"{A}/workers", json={"name": f"W{i}", "phone": f"415555020{i}", "teams": [team]}
        ).json()["id"]
        for i in (1, 2)
    )
    a, b, c, d, x = (
        client.post(f"{A}/tasks", json={"destination": {"location": [-122.4, 37.7]}}).json()["id"]
        for _ in range(5)
    )
    put = f"{A}/containers/workers"
    assert client.put(f"{put}/{w1}", json={"tasks": [a, b, c, d]}).json()["tasks"] == [a, b, c, d]
    # The listed tasks go in as one run at the index of the list without them.
    r = client.put(f"{put}/{w1}", json={"tasks": [2, x, a]})
    assert r.json()["tasks"] == [b, c, x, a, d]
    assert client.put(f"{put}/{w1}", json={"tasks": [-1, b]}).json()["tasks"] == [c, x, a, d, b]
    # Taking a task from another worker's list removes it there.
    assert client.put(f"{put}/{w2}", json={"tasks": [b]}).json()["tasks"] == [b]
    assert client.get(f"{put}/{w1}").json()["tasks"] == [c, x, a, d]
    assert client.get(f"{A}/tasks/{b}").json()["worker"] == w2
    # Replacing the list returns the dropped tasks to the organisation, unassigned.
    assert client.put(f"{put}/{w1}", json={"tasks": [d, c]}).json()["tasks"] == [d, c]
    for tid in (x, a):
        got = client.get(f"{A}/tasks/{tid}").json()
        assert got["state"] == 0 and got["container"]["type"] == "ORGANIZATION"
    org = client.get(f"{A}/tasks/{x}").json()["organization"]
    org_tasks = client.get(f"{A}/containers/organizations/{org}").json()["tasks"]
    assert {x, a} <= set(org_tasks) and not {b, c, d} & set(org_tasks)
    assert client.get(f"{A}/tasks/{d}").json()["state"] == 1


# -- counts capped so one request cannot hold the loop -----------------------------------


def test_nash_batch_job_is_capped_at_max_packages() -> None:
    def body(n: int) -> dict[str, Any]:
        pkgs = [
            nash.package_body((37.77, -122.41), (37.70 + i / 10_000, -122.45)) for i in range(n)
        ]
        return nash.batch_job_body(pkgs)

    with make_client() as client:
        ok = client.post("/v1/batch_job", json=body(nash.MAX_PACKAGES), headers=bearer())
        assert ok.status_code == 200, ok.text[:300]
        over = client.post("/v1/batch_job", json=body(nash.MAX_PACKAGES + 1), headers=bearer())
        assert over.status_code == 422
        err = over.json()[0]["error"]
        assert err["code"] == "VALIDATION_ERRORS"
        assert f"at most {nash.MAX_PACKAGES} per batch job" in err["message"]


def test_hypertrack_track_is_capped_at_max_orders() -> None:
    def body(n: int, prefix: str) -> dict[str, Any]:
        orders = [
            hypertrack.order_body(f"{prefix}-{i}", 37.39 + i / 10_000, -121.88, "drop")
            for i in range(n)
        ]
        return hypertrack.track_body("J", orders)

    cap = hypertrack.MAX_ORDERS_PER_TRACK
    with make_client() as client:
        ok = client.post("/orders/track", json=body(cap, "a"), headers=ht_auth())
        assert ok.status_code == 200, ok.text[:300]
        over = client.post("/orders/track", json=body(cap + 1, "b"), headers=ht_auth())
        assert over.status_code == 422
        assert f"at most {cap} items" in over.json()["detail"]["body"]["orders"][0]
        assert client.get("/orders/b-0", headers=ht_auth()).status_code == 404


# -- the task cap bounds memory -----------------------------------------------------------


def test_creates_past_max_tasks_are_400_and_create_nothing(tmp_path: Path) -> None:
    task = {"destination": {"location": [-122.41, 37.77]}}
    with make_client(max_tasks=5) as client:
        client.headers.update(onfleet_auth())
        for _ in range(3):
            assert client.post(f"{A}/tasks", json=task).status_code == 200
        r = client.post(f"{A}/tasks/batch", json={"tasks": [task] * 4}).json()
        assert len(r["tasks"]) == 2 and len(r["errors"]) == 2
        assert "maximum of 5 tasks (max_tasks)" in r["errors"][0]["error"]["cause"]
        single = client.post(f"{A}/tasks", json=task)
        assert single.status_code == 400
        assert single.json()["message"]["cause"].startswith("the emulator holds its maximum")
        assert len(client.get(f"{A}/tasks/all?from=0").json()["tasks"]) == 5
    profile = tmp_path / "p.toml"
    profile.write_text('profile = "fast"\nmax_tasks = 7\n')
    assert load_profile(str(profile)).max_tasks == 7
    profile.write_text('profile = "fast"\nmax_tasks = 0\n')
    with pytest.raises(UserError, match="max_tasks"):
        load_profile(str(profile))
