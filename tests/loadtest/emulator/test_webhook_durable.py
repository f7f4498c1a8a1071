"""The durable outbox: ``kill -9`` of a real ``fleetsim emulate --db`` with deliveries
pending (a receiver that failed them, and some in flight), then a restart on the same
file: every acknowledged event is delivered, and a duplicate only ever repeats the same
delivery id (the documented at-least-once re-send)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path

import httpx
import orjson

from loadtest.emulator.serve import EmulatorProcess
from tests.loadtest.emulator.helpers import KEY, onfleet_auth
from tests.loadtest.emulator.webhook_helpers import Receiver, wait_until


def _start(db: Path, receiver: Receiver) -> EmulatorProcess:
    return EmulatorProcess(
        "--api-key",
        KEY,
        "--db",
        str(db),
        "--webhook",
        f"onfleet={receiver.url}/flag",
        "--webhook-time-factor",
        "1",  # a failed delivery waits 30 min: still pending at the kill
    )


def _emit(c: httpx.Client, i: int) -> None:
    resp = c.post(
        "/emulator/v1/webhooks/emit",
        json={"provider": "onfleet", "name": "taskCompleted", "subject": f"t{i}", "body": {"i": i}},
    )
    assert resp.status_code == 202 and resp.json()["deliveries"] == 2, resp.text


def test_kill9_then_restart_delivers_everything(tmp_path: Path) -> None:
    db = tmp_path / "emu.db"
    n_failed, n_total = 20, 50
    with Receiver() as receiver:
        emu = _start(db, receiver)
        try:
            with httpx.Client(base_url=emu.url, headers=onfleet_auth(), timeout=10) as c:
                hook = c.post(
                    "/api/v2/webhooks",
                    json={"url": f"{receiver.url}/api", "name": "h", "trigger": 3},
                )
                assert hook.status_code == 200, hook.text
                receiver.fail_next = 10**6
                for i in range(n_failed):
                    _emit(c, i)
                # Every one of them was tried once and failed: all are waiting for a retry.
                receiver.wait_for(2 * n_failed, ok_only=False)
                receiver.fail_next = 0
                for i in range(n_failed, n_total):
                    _emit(c, i)
        finally:
            emu.kill()
            emu.stop()  # reaps and closes its log
        before = len(receiver.delivered())
        assert before < 2 * n_total  # the failed ones are still owed
        emu = _start(db, receiver)
        try:
            wait_until(lambda: _complete(receiver, n_total), timeout_s=20)
            metrics = httpx.get(f"{emu.url}/metrics", timeout=5).text
            assert "fleetsim_emulator_webhook_outbox_depth 0" in metrics
        finally:
            emu.stop()
    ids: dict[tuple[str, int], set[str]] = defaultdict(set)
    for r in receiver.delivered():
        ids[(r.path, orjson.loads(r.body)["i"])].add(r.headers["x-fleetsim-delivery-id"])
    assert set(ids) == {(p, i) for p in ("/hook/flag", "/hook/api") for i in range(n_total)}
    # A duplicate is a re-send of the same delivery, never a new one.
    assert all(len(v) == 1 for v in ids.values())
    # After the clean stop, the rows say delivered (the marks were committed).
    with sqlite3.connect(db) as con:
        states = con.execute(
            "select json_extract(body, '$.state'), count(*) from records "
            "where kind = 'webhook-delivery' group by 1"
        ).fetchall()
    assert dict(states) == {"delivered": 2 * n_total}


def _complete(receiver: Receiver, n: int) -> bool:
    seen = {(r.path, orjson.loads(r.body)["i"]) for r in receiver.delivered()}
    return len(seen) == 2 * n


def _states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select json_extract(body, '$.state'), count(*) from records "
            "where kind = 'webhook-delivery' group by 1"
        ).fetchall()
    return dict(rows)


def test_clean_stop_keeps_pending_and_a_gone_endpoint_drops_them(tmp_path: Path) -> None:
    from loadtest.emulator.config import WebhookConfig
    from tests.loadtest.emulator.helpers import make_client

    db = tmp_path / "emu.db"
    with Receiver() as receiver:
        receiver.status = 500
        flag = WebhookConfig(endpoints=(f"onfleet={receiver.url}",))
        with make_client(db_path=db, webhooks=flag) as c:
            c.headers.update(onfleet_auth())
            for i in range(3):
                _emit_one(c, i)
            receiver.wait_for(3, ok_only=False)
        assert _states(db) == {"pending": 3}
        # Same flag after a clean stop: resumed and delivered.
        receiver.status = 200
        with make_client(db_path=db, webhooks=flag) as c:
            receiver.wait_for(3)
            wait_until(lambda: _states(db) == {"delivered": 3})
        # Pending rows whose endpoint is gone at start are dropped, counted and marked.
        receiver.status = 500
        with make_client(db_path=db, webhooks=flag) as c:
            c.headers.update(onfleet_auth())
            _emit_one(c, 9)
            wait_until(lambda: len(receiver.received) >= 7)
        with make_client(db_path=db) as c:
            text = c.get("/metrics").text
            assert 'trigger="taskCompleted",outcome="dropped"} 1' in text
        assert _states(db) == {"delivered": 3, "dropped": 1}


def _emit_one(c: object, i: int) -> None:
    resp = c.post(  # type: ignore[attr-defined]
        "/emulator/v1/webhooks/emit",
        json={"provider": "onfleet", "name": "taskCompleted", "subject": f"t{i}", "body": {"i": i}},
    )
    assert resp.status_code == 202 and resp.json()["deliveries"] == 1, resp.text
