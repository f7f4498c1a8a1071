"""One task's life through the real API, delivered to a real receiver: the triggers
arrive in order, signed, taskEta once (the engine's once-per-task rule), and Onfleet's
webhook ``count`` follows."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import orjson
import pytest

from loadtest.emulator.config import WebhookConfig
from tests.loadtest.emulator.helpers import TestClient, make_client, onfleet_auth
from tests.loadtest.emulator.webhook_helpers import Receiver, wait_until

A, C = "/api/v2", "/emulator/v1"
DEST, START = [-122.41, 37.77], [-122.43, 37.78]
SECRET = "5eed" * 16


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _life(client: TestClient, n: int = 0) -> str:
    team = client.post(f"{A}/teams", json={"name": f"T{n}"}).json()["id"]
    phone = f"+1415555{n:04d}"
    w = client.post(f"{A}/workers", json={"name": "W", "phone": phone, "teams": [team]})
    wid = w.json()["id"]
    duty = client.post(f"{C}/workers/{wid}/duty", json={"onDuty": True, "location": START})
    assert duty.status_code == 200
    tid = str(client.post(f"{A}/tasks", json={"destination": {"location": DEST}}).json()["id"])
    to_worker = {"container": {"type": "WORKER", "worker": wid}}
    assert client.put(f"{A}/tasks/{tid}", json=to_worker).status_code == 200
    assert client.post(f"{C}/tasks/{tid}/start").status_code == 200
    assert client.post(f"{C}/workers/{wid}/location", json={"location": DEST}).status_code == 200
    done = {"completionDetails": {"success": True}}
    assert client.post(f"{A}/tasks/{tid}/complete", json=done).status_code == 200
    return tid


def test_one_task_life_delivered_in_order(receiver: Receiver) -> None:
    cfg = WebhookConfig(secret=SECRET, endpoints=(f"onfleet={receiver.url}",))
    with make_client(webhooks=cfg) as client:
        client.headers.update(onfleet_auth())
        tid = _life(client)
        want = [
            "taskCreated",
            "taskAssigned",
            "taskStarted",
            "taskEta",
            "taskArrival",
            "taskCompleted",
        ]
        wait_until(
            lambda: (
                [
                    b["triggerName"]
                    for b in (orjson.loads(r.body) for r in receiver.delivered())
                    if b.get("taskId") == tid
                ]
                == want
            )
        )
    for r in receiver.delivered():
        sig = hmac.new(bytes.fromhex(SECRET), r.body, hashlib.sha512).hexdigest()
        assert r.headers["x-onfleet-signature"] == sig


def test_onfleet_webhook_count_follows_deliveries(receiver: Receiver) -> None:
    with make_client() as client:
        client.headers.update(onfleet_auth())
        hook = client.post(
            f"{A}/webhooks", json={"url": receiver.url, "name": "done", "trigger": 3}
        ).json()
        for n in range(2):
            _life(client, n)
        wait_until(lambda: client.get(f"{A}/webhooks").json()[0]["count"] == 2)
        assert client.get(f"{A}/webhooks").json()[0]["id"] == hook["id"]
        assert len(receiver.delivered()) == 2
