"""Webhook delivery: signatures checked by independent code (hmac, the svix library),
retries on each provider's schedule (scaled), per-subject order, thresholds, rollback,
the outbox bound and the /metrics series."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from svix.webhooks import Webhook

from loadtest.emulator.config import WebhookConfig
from loadtest.emulator.webhooks.engine import WebhookEngine
from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET, nash_signing_secret
from tests.loadtest.emulator.helpers import TestClient, make_client, onfleet_auth
from tests.loadtest.emulator.webhook_helpers import Receiver, wait_until

SECRET = "0123456789abcdef" * 4


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _client(**webhooks: Any) -> TestClient:
    c = make_client(webhooks=WebhookConfig(**{"secret": SECRET, **webhooks}))
    c.headers.update(onfleet_auth())
    return c


def _engine(c: TestClient) -> WebhookEngine:
    engine: WebhookEngine = c.app.state.emulator.rt.webhooks  # type: ignore[attr-defined]
    return engine


def _emit(c: TestClient, provider: str, name: str, subject: str, body: Any, **kw: Any) -> int:
    resp = c.post(
        "/emulator/v1/webhooks/emit",
        json={"provider": provider, "name": name, "subject": subject, "body": body, **kw},
    )
    assert resp.status_code == 202, resp.text
    n: int = resp.json()["deliveries"]
    return n


def _onfleet_hook(c: TestClient, url: str, trigger: int = 3, **extra: Any) -> dict[str, Any]:
    resp = c.post("/api/v2/webhooks", json={"url": url, "name": "h", "trigger": trigger, **extra})
    assert resp.status_code == 200, resp.text
    hook: dict[str, Any] = resp.json()
    return hook


def _metric(text: str, provider: str, trigger: str, outcome: str) -> int:
    pat = (
        r"^fleetsim_emulator_webhook_deliveries_total\{"
        + re.escape(f'provider="{provider}",trigger="{trigger}",outcome="{outcome}"')
        + r"\} (\d+)$"
    )
    m = re.search(pat, text, re.M)
    return int(m.group(1)) if m else 0


def test_onfleet_signature_by_hmac(receiver: Receiver) -> None:
    with _client() as c:
        hook = _onfleet_hook(c, receiver.url)
        body = {"taskId": "t1", "triggerId": 3, "triggerName": "taskCompleted", "data": {}}
        assert _emit(c, "onfleet", "taskCompleted", "t1", body) == 1
        (got,) = receiver.wait_for(1)
        want = hmac.new(bytes.fromhex(SECRET), got.body, hashlib.sha512).hexdigest()
        assert got.headers["x-onfleet-signature"] == want
        assert got.headers["content-type"] == "application/json"
        assert re.fullmatch(r"[0-9a-f-]{36}", got.headers["x-fleetsim-delivery-id"])
        assert orjson.loads(got.body) == body
        wait_until(lambda: c.get("/api/v2/webhooks").json()[0]["count"] == 1)
        assert c.get("/api/v2/webhooks").json()[0]["id"] == hook["id"]
        # Another trigger is not subscribed: nothing fans out.
        assert _emit(c, "onfleet", "taskStarted", "t1", body) == 0


def test_nash_verified_by_svix(receiver: Receiver) -> None:
    with _client() as c:
        reg = c.post("/emulator/v1/webhooks", json={"provider": "nash", "url": receiver.url})
        secret = reg.json()["secret"]
        assert secret == nash_signing_secret(SECRET)
        body = {"type": "delivery", "event": "created", "data": {"id": "job_1"}}
        assert _emit(c, "nash", "delivery.created", "job_1", body) == 1
        (got,) = receiver.wait_for(1)
        assert got.headers["svix-id"].startswith("msg_")
        Webhook(secret).verify(got.body, got.headers)  # raises WebhookVerificationError
        assert orjson.loads(got.body) == body
        with pytest.raises(Exception, match="signature"):
            Webhook(nash_signing_secret(DEMO_WEBHOOK_SECRET)).verify(got.body, got.headers)


def test_hypertrack_signature_by_hmac(receiver: Receiver) -> None:
    with _client() as c:
        c.post("/emulator/v1/webhooks", json={"provider": "hypertrack", "url": receiver.url})
        body = [{"type": "order", "data": {"value": "completed", "order_handle": "o1"}}]
        assert _emit(c, "hypertrack", "completed", "o1", body) == 1
        (got,) = receiver.wait_for(1)
        want = hmac.new(bytes.fromhex(SECRET), got.body, hashlib.sha256).hexdigest()
        assert got.headers["x-hypertrack-signature"] == want
        assert re.fullmatch(r"[0-9a-f-]{36}", got.headers["x-amz-sns-message-id"])


def test_three_failures_then_success(receiver: Receiver) -> None:
    # Onfleet retries every 1800 s; at 1e-5 that is 18 ms.
    with _client(time_factor=1e-5) as c:
        _onfleet_hook(c, receiver.url)
        receiver.fail_next = 3
        _emit(c, "onfleet", "taskCompleted", "t1", {"n": 1})
        receiver.wait_for(1)
        wait_until(lambda: _engine(c).depth == 0)
        attempts = receiver.received
        assert [r.status for r in attempts] == [500, 500, 500, 200]
        assert len({r.headers["x-fleetsim-delivery-id"] for r in attempts}) == 1
        metrics = c.get("/metrics").text
        assert _metric(metrics, "onfleet", "taskCompleted", "retried") == 3
        assert _metric(metrics, "onfleet", "taskCompleted", "delivered") == 1
        assert c.get("/api/v2/webhooks").json()[0]["count"] == 1


def test_schedule_runs_out(receiver: Receiver) -> None:
    # HyperTrack: 3 retries (20 s apart, here 2 ms), then failed.
    receiver.status = 503
    with _client(time_factor=1e-4) as c:
        c.post("/emulator/v1/webhooks", json={"provider": "hypertrack", "url": receiver.url})
        _emit(c, "hypertrack", "completed", "o1", [{}])
        wait_until(lambda: _engine(c).depth == 0)
        assert len(receiver.received) == 4
        metrics = c.get("/metrics").text
        assert _metric(metrics, "hypertrack", "completed", "retried") == 3
        assert _metric(metrics, "hypertrack", "completed", "failed") == 1


def test_nash_400_not_retried_hypertrack_4xx_delivered(receiver: Receiver) -> None:
    receiver.status = 400
    with _client(time_factor=1e-4) as c:
        c.post("/emulator/v1/webhooks", json={"provider": "nash", "url": receiver.url})
        c.post("/emulator/v1/webhooks", json={"provider": "hypertrack", "url": receiver.url})
        _emit(c, "nash", "delivery.created", "j1", {"type": "delivery"})
        _emit(c, "hypertrack", "completed", "o1", [{}])
        wait_until(lambda: _engine(c).depth == 0)
        assert len(receiver.received) == 2
        metrics = c.get("/metrics").text
        assert _metric(metrics, "nash", "delivery.created", "failed") == 1
        assert _metric(metrics, "nash", "delivery.created", "retried") == 0
        assert _metric(metrics, "hypertrack", "completed", "delivered") == 1


def test_nash_429_is_retried(receiver: Receiver) -> None:
    receiver.fail_next, receiver.fail_status = 1, 429
    with _client(time_factor=1e-4) as c:
        c.post("/emulator/v1/webhooks", json={"provider": "nash", "url": receiver.url})
        _emit(c, "nash", "delivery.created", "j1", {"type": "delivery"})
        receiver.wait_for(1)
        assert [r.status for r in receiver.received] == [429, 200]


def test_per_subject_order_behind_a_retry(receiver: Receiver) -> None:
    with _client(time_factor=1e-5) as c:
        _onfleet_hook(c, receiver.url)
        receiver.fail_next = 2
        for i in range(20):
            _emit(c, "onfleet", "taskCompleted", "t1", {"i": i})
        got = receiver.wait_for(20)
        assert [orjson.loads(r.body)["i"] for r in got] == list(range(20))


def test_rollback_drops_pending_events(receiver: Receiver) -> None:
    with _client() as c:
        _onfleet_hook(c, receiver.url)
        rt = c.app.state.emulator.rt  # type: ignore[attr-defined]

        def failed_request() -> None:
            rt.events.emit("onfleet", "taskCompleted", "t1", {"dropped": True})
            rt.rollback()
            rt.commit()

        c.portal.call(failed_request)  # type: ignore[union-attr]
        _emit(c, "onfleet", "taskCompleted", "t2", {"kept": True})
        (got,) = receiver.wait_for(1)
        assert b"kept" in got.body
        assert _engine(c).accepted == 1


def test_wants_follows_registrations(receiver: Receiver) -> None:
    with _client() as c:
        engine = _engine(c)
        assert not engine.wants("onfleet", "taskCompleted")
        hook = _onfleet_hook(c, receiver.url)
        assert engine.wants("onfleet", "taskCompleted")
        assert not engine.wants("onfleet", "taskStarted")
        c.delete(f"/api/v2/webhooks/{hook['id']}")
        assert not engine.wants("onfleet", "taskCompleted")


def test_flag_endpoint_takes_every_event(receiver: Receiver) -> None:
    with _client(endpoints=(f"onfleet={receiver.url}",)) as c:
        assert _emit(c, "onfleet", "workerDuty", "w1", {}) == 1
        assert _emit(c, "onfleet", "taskEta", "t1", {}, measure=60) == 1
        assert _emit(c, "nash", "delivery.created", "j1", {}) == 0
        receiver.wait_for(2)
        listed = c.get("/emulator/v1/webhooks").json()
        assert [h["source"] for h in listed] == ["flag"]


def test_threshold_once_per_subject(receiver: Receiver) -> None:
    with _client() as c:
        _onfleet_hook(c, receiver.url, trigger=1, threshold=300)
        assert _emit(c, "onfleet", "taskEta", "t1", {}, measure=500) == 0  # not yet close
        assert _emit(c, "onfleet", "taskEta", "t1", {}, measure=200) == 1
        assert _emit(c, "onfleet", "taskEta", "t1", {}, measure=100) == 0  # fired already
        assert _emit(c, "onfleet", "taskEta", "t2", {}, measure=100) == 1
        receiver.wait_for(2)


def test_removed_endpoint_drops_its_waiting_deliveries(receiver: Receiver) -> None:
    receiver.status = 500
    with _client(time_factor=1.0) as c:  # the retry waits 30 min: it is still waiting
        hook = _onfleet_hook(c, receiver.url)
        _emit(c, "onfleet", "taskCompleted", "t1", {})
        _emit(c, "onfleet", "taskCompleted", "t1", {})
        wait_until(lambda: len(receiver.received) == 1)
        assert _engine(c).depth == 2
        c.delete(f"/api/v2/webhooks/{hook['id']}")
        # The lane comes up again at its retry; force it now.
        engine = _engine(c)
        c.portal.call(engine._ready, (hook["id"], "t1"))  # type: ignore[union-attr]
        wait_until(lambda: engine.depth == 0)
        assert _metric(c.get("/metrics").text, "onfleet", "taskCompleted", "dropped") == 2


def test_outbox_bound_drops_and_counts(receiver: Receiver) -> None:
    receiver.status = 500
    with _client(max_outbox=2, time_factor=1.0) as c:
        _onfleet_hook(c, receiver.url)
        assert [_emit(c, "onfleet", "taskCompleted", f"t{i}", {}) for i in range(3)] == [1, 1, 0]
        metrics = c.get("/metrics").text
        assert _metric(metrics, "onfleet", "taskCompleted", "dropped") == 1
        assert "fleetsim_emulator_webhook_outbox_depth 2" in metrics


def test_metrics_series_are_valid(receiver: Receiver) -> None:
    with _client() as c:
        _onfleet_hook(c, receiver.url)
        _emit(c, "onfleet", "taskCompleted", "t1", {})
        receiver.wait_for(1)
        wait_until(lambda: _engine(c).depth == 0)
        text = c.get("/metrics").text
    assert "# TYPE fleetsim_emulator_webhook_deliveries_total counter" in text
    assert "# TYPE fleetsim_emulator_webhook_outbox_depth gauge" in text
    assert "# TYPE fleetsim_emulator_webhook_delivery_seconds histogram" in text
    buckets = re.findall(
        r'^fleetsim_emulator_webhook_delivery_seconds_bucket\{provider="onfleet",le="([^"]+)"\} '
        r"(\d+)$",
        text,
        re.M,
    )
    counts = [int(n) for _, n in buckets]
    assert buckets[-1][0] == "+Inf" and counts[-1] == 1
    assert counts == sorted(counts)  # cumulative
    assert 'fleetsim_emulator_webhook_delivery_seconds_count{provider="onfleet"} 1' in text
    # Every sample line is NAME{labels} VALUE or NAME VALUE.
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(
                r'[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+', line
            ), line


# -- the http:// fast path (fastpost) ---------------------------------------------------
def test_idle_connection_closed_by_the_receiver_is_not_a_failure() -> None:
    with Receiver(keep_alive_s=1) as receiver, _client() as c:
        _onfleet_hook(c, receiver.url)
        _emit(c, "onfleet", "taskCompleted", "t1", {"n": 1})
        receiver.wait_for(1)
        time.sleep(1.5)  # the receiver closes the idle keep-alive connection
        _emit(c, "onfleet", "taskCompleted", "t2", {"n": 2})
        receiver.wait_for(2)
        wait_until(lambda: _engine(c).depth == 0)
        metrics = c.get("/metrics").text
        assert _metric(metrics, "onfleet", "taskCompleted", "retried") == 0
        assert _metric(metrics, "onfleet", "taskCompleted", "delivered") == 2


def test_timeout_is_retried(receiver: Receiver) -> None:
    receiver.delay_s = 0.5
    with _client(timeout_s=0.1, time_factor=1e-5) as c:
        _onfleet_hook(c, receiver.url)
        _emit(c, "onfleet", "taskCompleted", "t1", {})
        wait_until(lambda: len(receiver.received) >= 2)
        receiver.delay_s = 0.0
        wait_until(lambda: _engine(c).depth == 0)
        assert _metric(c.get("/metrics").text, "onfleet", "taskCompleted", "retried") >= 1


def test_long_answer_and_host_header(receiver: Receiver) -> None:
    receiver.answer = b"x" * 200_000  # past MAX_ANSWER_BYTES: the connection is not reused
    url = receiver.url.replace("127.0.0.1", "localhost")
    with _client(endpoints=(f"hypertrack={url}/h?x=1",)) as c:
        for i in range(3):
            _emit(c, "hypertrack", "completed", f"o{i}", [{"i": i}])
        got = receiver.wait_for(3)
        wait_until(lambda: _engine(c).depth == 0)
    assert {r.headers["host"] for r in got} == {f"localhost:{receiver.port}"}
    assert {r.path for r in got} == {"/hook/h"}


def test_a_final_task_leaves_the_threshold_memory(receiver: Receiver) -> None:
    """The once-per-task memory holds live tasks only: a completed or deleted task's
    entry goes at the commit of its completion (the state calls ``done``)."""
    with _client() as c:
        _onfleet_hook(c, receiver.url, trigger=1, threshold=300)
        assert _emit(c, "onfleet", "taskEta", "t1", {}, measure=200) == 1
        assert _emit(c, "onfleet", "taskEta", "t2", {}, measure=200) == 1
        engine = _engine(c)
        assert set(engine._fired) == {"t1", "t2"}
        engine.done("t1")
        engine.discard()  # a refused request's done() is forgotten with it
        _emit(c, "onfleet", "taskEta", "t9", {}, measure=900)  # a commit
        assert set(engine._fired) == {"t1", "t2"}
        engine.done("t1")
        _emit(c, "onfleet", "taskEta", "t9", {}, measure=900)
        assert set(engine._fired) == {"t2"}
        receiver.wait_for(2)
