"""The receiver: signatures checked with independent code, the handshake, injected faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import warnings
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from svix.webhooks import Webhook

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2; not ours to fix.
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from starlette.testclient import TestClient

from loadtest.replay.webhooks.model import MALFORMED
from loadtest.replay.webhooks.receiver import (
    ArrivalLog,
    ReceiverConfig,
    ReceiverServer,
    create_receiver_app,
    rows_since,
)

SECRET = "0123456789abcdef" * 4
NASH_SECRET = "whsec_" + base64.b64encode(bytes.fromhex(SECRET)).decode()


def client(config: ReceiverConfig | None = None) -> tuple[TestClient, ArrivalLog]:
    log = ArrivalLog()
    app = create_receiver_app(config or ReceiverConfig(SECRET, [NASH_SECRET]), log)
    return TestClient(app), log


def onfleet_body(trigger: int, name: str, task: str = "tsk1", worker: str = "wkr1") -> bytes:
    return orjson.dumps(
        {
            "actionContext": {"id": "adm", "type": "ADMIN"},
            "adminId": "adm",
            "taskId": task,
            "workerId": worker,
            "time": 1_790_000_000_000,
            "triggerId": trigger,
            "triggerName": name,
            "data": {"task": {"id": task}},
        }
    )


def onfleet_headers(body: bytes, did: str = "d-1") -> dict[str, str]:
    # Independent of the code under test: hmac and hashlib directly.
    sig = hmac.new(bytes.fromhex(SECRET), body, hashlib.sha512).hexdigest()
    return {"X-Onfleet-Signature": sig, "X-Fleetsim-Delivery-Id": did}


def test_the_onfleet_handshake_echoes_the_check() -> None:
    c, log = client()
    r = c.get("/onfleet", params={"check": "Xy7-random"})
    assert r.status_code == 200 and r.text == "Xy7-random"
    assert len(log) == 0


def test_an_onfleet_delivery_signed_with_hmac_sha512_verifies() -> None:
    c, log = client()
    body = onfleet_body(3, "taskCompleted", task="tskA")
    r = c.post("/onfleet", content=body, headers=onfleet_headers(body, "d-9"))
    assert r.status_code == 200
    ((t, provider, event, subject, did, ok, status),) = log.drain()
    assert (provider, event, subject, did, ok, status) == (
        "onfleet",
        "taskCompleted",
        "tskA",
        "d-9",
        True,
        200,
    )
    assert abs(t - time.time()) < 5


def test_a_real_onfleet_delivery_without_an_id_is_known_by_its_body() -> None:
    """Onfleet sends no delivery id: a retry (the same body) must read as a retry, and
    another event as another delivery."""
    c, log = client()
    body = onfleet_body(3, "taskCompleted", task="tskA")
    other = onfleet_body(3, "taskCompleted", task="tskB")
    for b in (body, body, other):
        sig = hmac.new(bytes.fromhex(SECRET), b, hashlib.sha512).hexdigest()
        assert c.post("/onfleet", content=b, headers={"X-Onfleet-Signature": sig}).is_success
    ids = [row[4] for row in log.drain()]
    assert ids[0] == ids[1] != ids[2] and all(i.startswith("sha256:") for i in ids)


def test_worker_and_job_triggers_are_about_their_worker_and_job() -> None:
    c, log = client()
    body = onfleet_body(5, "workerDuty", task="", worker="wkr7")
    c.post("/onfleet", content=body, headers=onfleet_headers(body))
    job = orjson.dumps(
        {"triggerId": 19, "triggerName": "taskBatchCreateJobCompleted", "jobId": "J1"}
    )
    c.post("/onfleet", content=job, headers=onfleet_headers(job))
    assert [(r[2], r[3]) for r in log.drain()] == [
        ("workerDuty", "wkr7"),
        ("taskBatchCreateJobCompleted", "J1"),
    ]


def test_a_tampered_onfleet_body_is_a_bad_signature() -> None:
    c, log = client()
    body = onfleet_body(3, "taskCompleted")
    headers = onfleet_headers(body)
    r = c.post("/onfleet", content=body.replace(b"tsk1", b"tsk2"), headers=headers)
    assert r.status_code == 401
    ((*_, ok, status),) = log.drain()
    assert ok is False and status == 401
    r = c.post("/onfleet", content=body)  # no signature at all
    assert r.status_code == 401


def nash_body(event: str = "created", job: str = "job_1") -> bytes:
    return orjson.dumps({"type": "delivery", "event": event, "data": {"id": job}})


def svix_headers(body: bytes, msg_id: str = "msg_1") -> dict[str, str]:
    now = datetime.now(tz=UTC)
    sig = Webhook(NASH_SECRET).sign(msg_id, now, body.decode())
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": sig,
    }


def test_a_nash_delivery_signed_by_the_svix_library_verifies() -> None:
    c, log = client()
    body = nash_body()
    r = c.post("/nash", content=body, headers=svix_headers(body, "msg_42"))
    assert r.status_code == 200
    ((_, provider, event, subject, did, ok, _),) = log.drain()
    assert (provider, event, subject, did, ok) == (
        "nash",
        "delivery.created",
        "job_1",
        "msg_42",
        True,
    )


def test_a_tampered_nash_body_or_an_unknown_secret_is_bad() -> None:
    c, log = client()
    body = nash_body()
    headers = svix_headers(body)
    assert c.post("/nash", content=nash_body(job="job_2"), headers=headers).status_code == 401
    c2, log2 = client(ReceiverConfig(SECRET, []))  # no Nash secret known: nothing verifies
    assert c2.post("/nash", content=body, headers=headers).status_code == 401
    assert [r[5] for r in log.drain() + log2.drain()] == [False, False]


def test_a_nash_secret_learned_later_is_used() -> None:
    config = ReceiverConfig(SECRET, [])
    c, _log = client(config)
    body = nash_body()
    assert c.post("/nash", content=body, headers=svix_headers(body)).status_code == 401
    config.nash_secrets.append(NASH_SECRET)
    assert c.post("/nash", content=body, headers=svix_headers(body, "m2")).status_code == 200


def test_a_hypertrack_array_is_one_arrival_per_event() -> None:
    c, log = client()
    body = orjson.dumps(
        [
            {"type": "order", "data": {"value": "completed", "order_handle": "o1"}},
            {"type": "order", "data": {"value": "started", "order_handle": "o2"}},
        ]
    )
    sig = hmac.new(bytes.fromhex(SECRET), body, hashlib.sha256).hexdigest()
    headers = {"x-hypertrack-signature": sig, "x-amz-sns-message-id": "sns-1"}
    assert c.post("/hypertrack", content=body, headers=headers).status_code == 200
    assert [(r[2], r[3], r[4], r[5]) for r in log.drain()] == [
        ("completed", "o1", "sns-1", True),
        ("started", "o2", "sns-1", True),
    ]
    headers["x-hypertrack-signature"] = "00" * 32
    assert c.post("/hypertrack", content=body, headers=headers).status_code == 401


def test_a_body_that_is_not_json_is_malformed() -> None:
    c, log = client()
    body = b"not json"
    assert c.post("/onfleet", content=body, headers=onfleet_headers(body)).status_code == 400
    ((_, _, event, _, _, ok, status),) = log.drain()
    assert event == MALFORMED and ok is True and status == 400


def test_the_fail_ratio_is_seeded_and_near_its_share() -> None:
    def statuses(seed: int) -> list[int]:
        c, _ = client(ReceiverConfig(SECRET, fail_ratio=0.3, seed=seed))
        body = onfleet_body(3, "taskCompleted")
        return [
            c.post("/onfleet", content=body, headers=onfleet_headers(body)).status_code
            for _ in range(200)
        ]

    a, b = statuses(7), statuses(7)
    assert a == b  # the same seed fails the same attempts
    failed = a.count(500)
    assert 35 <= failed <= 85 and a.count(200) == 200 - failed
    assert statuses(8) != a


def test_the_delay_holds_each_answer() -> None:
    c, _ = client(ReceiverConfig(SECRET, delay_ms=150))
    body = onfleet_body(3, "taskCompleted")
    t = time.monotonic()
    assert c.post("/onfleet", content=body, headers=onfleet_headers(body)).status_code == 200
    assert time.monotonic() - t >= 0.14


@pytest.mark.parametrize("bad", [{"fail_ratio": 1.0}, {"fail_ratio": -0.1}, {"delay_ms": -1}])
def test_bad_receiver_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReceiverConfig(SECRET, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hex"):
        ReceiverConfig("not-hex")


def test_the_server_receives_over_a_real_loopback_socket() -> None:
    log = ArrivalLog()
    server = ReceiverServer(create_receiver_app(ReceiverConfig(SECRET), log))
    url = server.start()
    try:
        assert url.startswith("http://127.0.0.1:") and server.port > 0
        with httpx.Client(timeout=5) as http:
            assert http.get(url + "/onfleet", params={"check": "abc"}).text == "abc"
            body = onfleet_body(6, "taskCreated")
            t0 = time.time()
            for i in range(50):
                r = http.post(
                    url + "/onfleet", content=body, headers=onfleet_headers(body, f"d{i}")
                )
                assert r.status_code == 200
    finally:
        server.stop()
    rows = rows_since(log.drain(), t0)
    assert len(rows) == 50 and all(0 <= r[0] < 30 for r in rows)
    assert not server.running
