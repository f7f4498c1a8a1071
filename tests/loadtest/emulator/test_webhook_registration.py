"""Webhook registration: Onfleet's /webhooks (CRUD, validation, the ?check handshake),
the emulator's route for Nash and HyperTrack, the loopback guard, persistence."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtest.emulator.config import WebhookConfig
from loadtest.emulator.serve import free_port
from loadtest.emulator.webhooks.guard import Guard, Refused, parse_url
from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET, nash_signing_secret
from tests.loadtest.emulator.helpers import TestClient, make_client, onfleet_auth
from tests.loadtest.emulator.webhook_helpers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    with make_client() as c:
        c.headers.update(onfleet_auth())
        yield c


def _create(c: TestClient, url: str, trigger: int = 3, **extra: Any) -> httpx.Response:
    return c.post(
        "/api/v2/webhooks", json={"url": url, "name": "hook", "trigger": trigger, **extra}
    )


def _error(resp: httpx.Response) -> tuple[int, str]:
    body = resp.json()
    return body["message"]["error"], body["message"]["cause"]


def test_create_list_delete(app_client: TestClient, receiver: Receiver) -> None:
    resp = _create(app_client, receiver.url)
    assert resp.status_code == 200, resp.text
    hook = resp.json()
    assert set(hook) == {"id", "name", "url", "trigger", "threshold", "count", "isEnabled"}
    assert len(hook["id"]) == 24 and hook["trigger"] == 3 and hook["count"] == 0
    assert hook["isEnabled"] is True and hook["threshold"] is None
    assert len(receiver.checks) == 1  # the handshake ran once
    assert app_client.get("/api/v2/webhooks").json() == [hook]
    assert app_client.delete(f"/api/v2/webhooks/{hook['id']}").status_code == 200
    assert app_client.get("/api/v2/webhooks").json() == []
    gone = app_client.delete(f"/api/v2/webhooks/{hook['id']}")
    assert gone.status_code == 404


def test_threshold_triggers(app_client: TestClient, receiver: Receiver) -> None:
    missing = _create(app_client, receiver.url, trigger=1)
    assert missing.status_code == 400 and "threshold" in _error(missing)[1]
    for _ in range(10):
        assert _create(app_client, receiver.url, trigger=2, threshold=150).status_code == 200
    over = _create(app_client, receiver.url, trigger=2, threshold=150)
    assert over.status_code == 400 and "10 webhooks" in _error(over)[1]
    eta = _create(app_client, receiver.url, trigger=1, threshold=300)
    assert eta.status_code == 200 and eta.json()["threshold"] == 300


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "http://127.0.0.1:1/hook", "trigger": 11}, "not a known trigger"),
        ({"url": "http://127.0.0.1:1/hook", "trigger": True}, "not a known trigger"),
        ({"url": "http://127.0.0.1:1/hook"}, "not a known trigger"),
        ({"url": "ftp://127.0.0.1/hook", "trigger": 3}, "http:// or https://"),
        ({"url": 5, "trigger": 3}, "non-empty string"),
        ({"url": "http://127.0.0.1:1/hook", "trigger": 3, "name": ["x"]}, "name"),
    ],
)
def test_validation_errors(app_client: TestClient, body: dict[str, Any], fragment: str) -> None:
    resp = app_client.post("/api/v2/webhooks", json=body)
    assert resp.status_code == 400, resp.text
    code, cause = _error(resp)
    assert code == 1000 and fragment in cause
    assert app_client.get("/api/v2/webhooks").json() == []


def test_body_not_an_object(app_client: TestClient) -> None:
    resp = app_client.post("/api/v2/webhooks", content=b"[1]")
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidContent"


@pytest.mark.parametrize("mode", ["204", "wrong"])
def test_handshake_fails(app_client: TestClient, receiver: Receiver, mode: str) -> None:
    receiver.check = mode
    resp = _create(app_client, receiver.url)
    assert resp.status_code == 400
    code, cause = _error(resp)
    assert code == 1008, cause
    assert app_client.get("/api/v2/webhooks").json() == []


def test_handshake_refused_connection(app_client: TestClient) -> None:
    resp = _create(app_client, f"http://127.0.0.1:{free_port()}/hook")
    assert resp.status_code == 400 and _error(resp)[0] == 1008
    assert app_client.get("/api/v2/webhooks").json() == []


def test_handshake_timeout(receiver: Receiver) -> None:
    # A port that accepts but never answers: a listening socket nobody reads.
    from loadtest.emulator.serve import bind

    sock = bind()
    sock.listen(8)
    try:
        cfg = WebhookConfig(handshake_timeout_s=0.3)
        with make_client(webhooks=cfg) as c:
            c.headers.update(onfleet_auth())
            resp = _create(c, f"http://127.0.0.1:{sock.getsockname()[1]}/hook")
            assert resp.status_code == 400 and _error(resp)[0] == 1008
            assert "within 0.3 s" in _error(resp)[1]
    finally:
        sock.close()


def test_remote_url_refused_without_flag(app_client: TestClient) -> None:
    resp = _create(app_client, "http://192.0.2.10/hook")
    assert resp.status_code == 400
    code, cause = _error(resp)
    assert code == 1000 and "--allow-remote-webhooks" in cause and "192.0.2.10" in cause


def test_guard_decisions() -> None:
    async def run() -> None:
        strict, lax = Guard(False), Guard(True)
        remote = parse_url("http://192.0.2.10:8000/hook")
        with pytest.raises(Refused, match="allow-remote-webhooks"):
            await strict.address(remote)
        assert await lax.address(remote) is None  # sent as is; nothing is sent here
        assert await strict.address(parse_url("http://127.0.0.5/x")) == "127.0.0.5"
        assert await strict.address(parse_url("http://[::1]:9/x")) == "::1"
        # A name is resolved, and an http request goes to the checked address.
        url, headers = await strict.target(parse_url("http://localhost:9000/x?a=1"))
        assert url.host in ("127.0.0.1", "::1") and headers == {"Host": "localhost:9000"}
        assert url.port == 9000 and url.query == b"a=1"

    asyncio.run(run())


def test_emulator_route_nash_and_hypertrack(app_client: TestClient, receiver: Receiver) -> None:
    nash = app_client.post(
        "/emulator/v1/webhooks",
        json={"provider": "nash", "url": receiver.url, "events": ["delivery.created"]},
    )
    assert nash.status_code == 200, nash.text
    assert nash.json()["secret"] == nash_signing_secret(DEMO_WEBHOOK_SECRET)
    assert nash.json()["events"] == ["delivery.created"]
    ht = app_client.post(
        "/emulator/v1/webhooks", json={"provider": "hypertrack", "url": receiver.url}
    )
    assert ht.status_code == 200 and ht.json()["secret"] is None and ht.json()["events"] is None
    listed = app_client.get("/emulator/v1/webhooks").json()
    assert {h["id"] for h in listed} == {nash.json()["id"], ht.json()["id"]}
    # Not Onfleet webhooks: Onfleet's list stays empty.
    assert app_client.get("/api/v2/webhooks").json() == []
    assert app_client.delete(f"/emulator/v1/webhooks/{ht.json()['id']}").status_code == 200
    assert len(app_client.get("/emulator/v1/webhooks").json()) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"provider": "onfleet", "url": "http://127.0.0.1:1/h"}, "POST /api/v2/webhooks"),
        ({"provider": "nash", "url": "http://127.0.0.1:1/h", "events": ["nope"]}, "unknown nash"),
        ({"provider": "hypertrack", "url": "http://127.0.0.1:1/h", "events": ["x"]}, "unknown"),
        ({"provider": "nash", "url": "http://192.0.2.1/h"}, "--allow-remote-webhooks"),
    ],
)
def test_emulator_route_errors(app_client: TestClient, body: dict[str, Any], fragment: str) -> None:
    resp = app_client.post("/emulator/v1/webhooks", json=body)
    assert resp.status_code == 400 and fragment in resp.json()["message"]["cause"]


def test_secret_in_no_other_answer(receiver: Receiver) -> None:
    secret = "ab" * 32
    with make_client(webhooks=WebhookConfig(secret=secret)) as c:
        c.headers.update(onfleet_auth())
        hook = _create(c, receiver.url).json()
        texts = [
            c.get("/api/v2/webhooks").text,
            str(hook),
            c.get("/metrics").text,
            c.get("/openapi.json").text,
        ]
    assert not any(secret in t for t in texts)


def test_registrations_persist_with_db(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "emu.db"
    with make_client(db_path=db) as c:
        c.headers.update(onfleet_auth())
        hook = _create(c, receiver.url).json()
        nash = c.post("/emulator/v1/webhooks", json={"provider": "nash", "url": receiver.url})
        gone = _create(c, receiver.url, trigger=6).json()
        assert c.delete(f"/api/v2/webhooks/{gone['id']}").status_code == 200
    with make_client(db_path=db) as c:
        c.headers.update(onfleet_auth())
        assert c.get("/api/v2/webhooks").json() == [hook]
        assert [h["id"] for h in c.get("/emulator/v1/webhooks").json()] == [nash.json()["id"]]
