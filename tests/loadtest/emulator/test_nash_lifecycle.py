"""Nash beyond the first call: select_quote, autodispatch, refresh_quotes, PATCH, cancel
(a whole job or one package), GET; the deliveries' statuses on the emulator's clock and
the webhook event each status emits; the payload caps.

Two clocks drive these tests: the real one at a high ``time_scale`` (a whole delivery
takes milliseconds, and the timer, not a read, must emit every event), and a manual one
that a test moves by hand (exact status per simulated second, and determinism).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.emulator.nash.lifecycle import plan
from loadtest.emulator.webhooks.payloads import NashEvent
from loadtest.providers import nash
from tests.loadtest.emulator.helpers import TestClient, bearer, make_client
from tests.loadtest.emulator.sinks import Emitted, RecordingSink, sink_of

H = bearer()
STATUSES = list(nash.DELIVERY_STATUSES)
T0 = 1_800_000_000.0  # the manual clock's start (simulated epoch seconds)


class ManualClock:
    """A clock that moves only when the test says so (the timer never fires on it)."""

    scale = 1.0

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def now_s(self) -> float:
        return self.t

    def now_ms(self) -> int:
        return int(self.t * 1000)

    def monotonic(self) -> float:
        return self.t - T0

    def wall(self, sim_s: float) -> float:
        return sim_s + 3600.0  # never within a test

    def sim(self, wall_s: float) -> float:
        return wall_s


def job_body(n: int = 2, **extra: Any) -> dict[str, Any]:
    pkgs = [
        nash.package_body((37.77, -122.41), (37.70 + i / 100, -122.45), dropoff_name=f"C{i}")
        for i in range(n)
    ]
    return {**nash.batch_job_body(pkgs), **extra}


@contextmanager
def nash_client(
    clock: ManualClock | None = None, **overrides: Any
) -> Iterator[tuple[TestClient, RecordingSink]]:
    with make_client(**overrides) as client:
        client.headers.update(H)
        if clock is not None:
            emu = client.app.state.emulator  # type: ignore[attr-defined]
            emu.rt.clock = clock
            emu.nash.timer.clock = clock
        yield client, sink_of(client)


def create(client: TestClient, **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/batch_job", json=job_body(**extra))
    assert r.status_code == 200, r.text
    job: dict[str, Any] = r.json()
    return job


def quote_of(job: dict[str, Any], provider: str) -> str:
    b = job["batch"]
    for q in (*b["quotes"], *b["failedQuotes"]):
        if q["providerId"] == provider:
            qid: str = q["id"]
            return qid
    raise AssertionError(provider)


def get(client: TestClient, job_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def nash_error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    (err,) = r.json()
    assert err["error"]["code"] == code, err
    assert err["response_status"].startswith(str(status))
    assert r.headers["x-request-id"] == err["RequestID"]
    message: str = err["error"]["message"]
    return message


def delivery_statuses(job: dict[str, Any]) -> list[str | None]:
    return [c["delivery"]["status"] if c["delivery"] else None for c in job["jobConfigurations"]]


def body_of(e: Emitted) -> Any:
    """An event's body as the delivery sends it (a snapshot is a pre-serialised
    ``orjson.Fragment``)."""
    return orjson.loads(orjson.dumps(e.body))


def wait_for(pred: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- the full sequence, emitted by the timer ----------------------------------------------
def test_fast_simulator_runs_every_status_and_the_timer_emits_each() -> None:
    with nash_client(time_scale=2000.0) as (client, sink):
        job = create(client)
        r = client.post("/v1/select_quote", json={"quoteId": quote_of(job, "FleetSimulatorFast")})
        assert r.status_code == 200, r.text
        sel = r.json()
        assert delivery_statuses(sel) == ["not_assigned_driver"] * 2
        assert [c["tasks"][0]["status"] for c in sel["jobConfigurations"]] == ["running"] * 2
        assert sel["batch"]["selectedQuote"]["providerId"] == "FleetSimulatorFast"
        # No reads from here: only the timer can emit the remaining statuses.
        wait_for(lambda: "delivery.dropoff_complete" in sink.names())
        names = sink.names(job["id"])
        job_after = get(client, job["id"])
    assert names == [
        "delivery.created",
        "delivery.not_assigned_driver",
        "task.running",
        *[f"delivery.{s}" for s in STATUSES[1:]],
        "task.completed",
    ]
    for e in sink.events:
        NashEvent.model_validate(body_of(e))
        assert e.provider == "nash" and e.subject == job["id"]
    # Each event carries the job as it was at that status (a snapshot, not the end state).
    for e in sink.events[1:]:
        if e.name.startswith("delivery."):
            status = e.name.split(".", 1)[1]
            assert delivery_statuses(body_of(e)["data"]) == [status, status]
    assert delivery_statuses(job_after) == ["dropoff_complete"] * 2
    assert job_after["isActive"] is False
    assert [c["tasks"][0]["status"] for c in job_after["jobConfigurations"]] == ["completed"] * 2
    hist = job_after["jobConfigurations"][0]["delivery"]["statusHistory"]
    assert [h["status"] for h in hist] == STATUSES


def test_statuses_follow_the_clock_at_each_providers_pace() -> None:
    clock = ManualClock()
    with nash_client(clock) as (client, _):
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        cfg = emu.rt.config
        for provider, step in (
            ("FleetSimulator", cfg.nash_status_step_s),
            ("FleetSimulatorFast", cfg.nash_fast_status_step_s),
        ):
            job = create(client)
            start = clock.t
            r = client.post("/v1/select_quote", json={"quoteId": quote_of(job, provider)})
            assert r.status_code == 200
            for i, status in enumerate(STATUSES):
                clock.t = start + i * step + step / 2
                assert delivery_statuses(get(client, job["id"])) == [status, status]
            hist = get(client, job["id"])["jobConfigurations"][1]["delivery"]["statusHistory"]
            # Stamped with when each status was due, not when it was read.
            stamps = [h["createdAt"] for h in hist]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(STATUSES)
        # No timer entry is left for finished jobs.
        assert len(emu.nash.timer) == 0


def test_failing_simulator_fails_after_pickup_enroute() -> None:
    clock = ManualClock()
    with nash_client(clock) as (client, sink):
        job = create(client)
        qid = quote_of(job, "FailingFleetSimulator")
        assert client.post("/v1/select_quote", json={"quoteId": qid}).status_code == 200
        clock.t += 3600.0
        done = get(client, job["id"])
    assert delivery_statuses(done) == ["failed", "failed"]
    assert [c["tasks"][0]["status"] for c in done["jobConfigurations"]] == ["failed"] * 2
    assert done["isActive"] is False
    hist = [h["status"] for h in done["jobConfigurations"][0]["delivery"]["statusHistory"]]
    assert hist == [*STATUSES[: STATUSES.index("pickup_enroute") + 1], "failed"]
    assert sink.names()[-2:] == ["delivery.failed", "task.failed"]


def test_same_seed_and_reads_give_the_same_bytes() -> None:
    def run() -> list[bytes]:
        clock = ManualClock()
        out = []
        with nash_client(clock) as (client, _):
            job = create(client)
            client.post("/v1/jobs/" + job["id"] + "/autodispatch")
            for _ in range(6):
                clock.t += 100.0
                out.append(client.get(f"/v1/jobs/{job['id']}").content)
        return out

    assert run() == run()


# -- select_quote, autodispatch, refresh_quotes ---------------------------------------------
def test_select_quote_refusals() -> None:
    clock = ManualClock()
    with nash_client(clock) as (client, sink):
        job = create(client)
        nash_error(client.post("/v1/select_quote", json={}), 422, "VALIDATION_ERRORS")
        nash_error(
            client.post("/v1/select_quote", json={"quoteId": "qot_x"}), 404, "MISSING_RESOURCE"
        )
        qid = quote_of(job, "FleetSimulator")
        clock.t += 901.0  # past the quote's 15 minutes
        nash_error(
            client.post("/v1/select_quote", json={"quoteId": qid}), 400, "DISALLOWED_OPERATION"
        )
        assert get(client, job["id"]) == job  # the refusal changed nothing
        r = client.post(f"/v1/jobs/{job['id']}/batch/{job['batch']['id']}/refresh_quotes")
        assert r.status_code == 200, r.text
        fresh = r.json()
        new_qid = quote_of(fresh, "FleetSimulator")
        assert new_qid != qid
        # Same packages, same prices; the replaced quote is gone.
        assert [q["priceCents"] for q in fresh["batch"]["quotes"]] == [
            q["priceCents"] for q in job["batch"]["quotes"]
        ]
        nash_error(client.post("/v1/select_quote", json={"quoteId": qid}), 404, "MISSING_RESOURCE")
        assert client.post("/v1/select_quote", json={"quoteId": new_qid}).status_code == 200
        before = get(client, job["id"])
        n_events = len(sink.events)
        nash_error(
            client.post("/v1/select_quote", json={"quoteId": new_qid}),
            409,
            "INVALID_STATE_TRANSITION",
        )
        nash_error(
            client.post(f"/v1/jobs/{job['id']}/autodispatch"), 409, "INVALID_STATE_TRANSITION"
        )
        url = f"/v1/jobs/{job['id']}/batch/{job['batch']['id']}/refresh_quotes"
        nash_error(client.post(url), 409, "INVALID_STATE_TRANSITION")
        nash_error(
            client.post(f"/v1/jobs/{job['id']}/batch/bth_nope/refresh_quotes"),
            404,
            "MISSING_RESOURCE",
        )
        assert get(client, job["id"]) == before and len(sink.events) == n_events


def test_autodispatch_takes_the_winner_and_requotes_an_expired_one() -> None:
    clock = ManualClock()
    with nash_client(clock) as (client, _):
        job = create(client)
        winner = job["batch"]["winnerQuote"]
        r = client.post(f"/v1/jobs/{job['id']}/autodispatch")
        assert r.status_code == 200, r.text
        assert r.json()["batch"]["selectedQuote"]["id"] == winner["id"]
        late = create(client)
        clock.t += 2000.0
        r = client.post(f"/v1/jobs/{late['id']}/autodispatch")
        assert r.status_code == 200, r.text
        sel = r.json()["batch"]["selectedQuote"]
        assert sel["id"] != late["batch"]["winnerQuote"]["id"]
        assert sel["providerId"] == late["batch"]["winnerQuote"]["providerId"]
        nash_error(client.post("/v1/jobs/job_nope/autodispatch"), 404, "MISSING_RESOURCE")


def test_autodispatch_without_a_successful_quote_is_404() -> None:
    with nash_client(nash_providers=("FailingFleetSimulator",)) as (client, _):
        job = create(client)
        assert job["batch"]["winnerQuote"] is None
        nash_error(client.post(f"/v1/jobs/{job['id']}/autodispatch"), 404, "NO_VALID_QUOTES")


# -- PATCH ---------------------------------------------------------------------------------
def test_patch_changes_a_package_and_requotes_until_a_quote_is_selected() -> None:
    with nash_client(ManualClock()) as (client, _):
        job = create(client)
        cfg = job["jobConfigurations"][1]
        url = f"/v1/jobs/{job['id']}/{cfg['id']}"
        r = client.patch(url, json={"dropoffLatitude": 37.80, "dropoffInstructions": "Gate 4"})
        assert r.status_code == 200, r.text
        patched = r.json()
        pc = patched["jobConfigurations"][1]
        assert pc["package"]["dropoffInstructions"] == "Gate 4"
        assert pc["package"]["id"] == cfg["package"]["id"]
        assert pc["dropoffLocation"][1] == pytest.approx(37.80)
        assert patched["route"]["distanceMeters"] != job["route"]["distanceMeters"]
        assert {q["id"] for q in patched["batch"]["quotes"]}.isdisjoint(
            q["id"] for q in job["batch"]["quotes"]
        )
        # Bad values: 422 and nothing changes (quotes included).
        nash_error(
            client.patch(url, json={"dropoffPhoneNumber": "555"}), 422, "INVALID_PHONE_NUMBER"
        )
        nash_error(client.patch(url, json={"id": "pkg_x"}), 422, "VALIDATION_ERRORS")
        nash_error(client.patch(url, json=[]), 422, "VALIDATION_ERRORS")
        assert get(client, job["id"]) == patched
        nash_error(
            client.patch(f"/v1/jobs/{job['id']}/cfg_nope", json={"itemsCount": 1}),
            404,
            "MISSING_RESOURCE",
        )
        qid = quote_of(patched, "FleetSimulator")
        assert client.post("/v1/select_quote", json={"quoteId": qid}).status_code == 200
        before = get(client, job["id"])
        nash_error(client.patch(url, json={"itemsCount": 2}), 400, "DISALLOWED_OPERATION")
        assert get(client, job["id"]) == before


# -- cancel --------------------------------------------------------------------------------
def test_cancel_a_whole_job_before_selection() -> None:
    with nash_client(ManualClock()) as (client, sink):
        job = create(client)
        r = client.post(f"/v1/jobs/{job['id']}/cancel")
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["isActive"] is False
        assert [c["tasks"][0]["status"] for c in out["jobConfigurations"]] == [
            "canceled_by_customer"
        ] * 2
        assert sink.names()[-1] == "task.canceled_by_customer"
        n = len(sink.events)
        nash_error(client.post(f"/v1/jobs/{job['id']}/cancel"), 409, "INVALID_STATE_TRANSITION")
        qid = quote_of(job, "FleetSimulator")
        nash_error(
            client.post("/v1/select_quote", json={"quoteId": qid}), 409, "INVALID_STATE_TRANSITION"
        )
        assert len(sink.events) == n and get(client, job["id"]) == out


def test_cancel_one_package_in_flight_and_refuse_once_picked_up() -> None:
    clock = ManualClock()
    with nash_client(clock) as (client, sink):
        step = client.app.state.emulator.rt.config.nash_status_step_s  # type: ignore[attr-defined]
        job = create(client, n=3)
        start = clock.t
        assert client.post(f"/v1/jobs/{job['id']}/autodispatch").status_code == 200
        clock.t = start + 1.5 * step  # assigned_driver
        c0, c1, c2 = job["jobConfigurations"]
        r = client.post(f"/v1/jobs/{job['id']}/{c0['id']}/cancel")
        assert r.status_code == 200, r.text
        assert delivery_statuses(r.json()) == [
            "canceled_by_customer",
            "assigned_driver",
            "assigned_driver",
        ]
        assert sink.names()[-2:] == ["task.canceled_by_customer", "delivery.canceled_by_customer"]
        # By task id too.
        r = client.post(f"/v1/jobs/{job['id']}/{c1['tasks'][0]['id']}/cancel")
        assert r.status_code == 200
        nash_error(
            client.post(f"/v1/jobs/{job['id']}/{c1['id']}/cancel"), 409, "INVALID_STATE_TRANSITION"
        )
        nash_error(client.post(f"/v1/jobs/{job['id']}/tsk_nope/cancel"), 404, "MISSING_RESOURCE")
        clock.t = start + STATUSES.index("pickup_complete") * step + 1
        before = get(client, job["id"])
        n = len(sink.events)
        nash_error(
            client.post(f"/v1/jobs/{job['id']}/{c2['id']}/cancel"), 409, "INVALID_STATE_TRANSITION"
        )
        nash_error(client.post(f"/v1/jobs/{job['id']}/cancel"), 409, "INVALID_STATE_TRANSITION")
        assert get(client, job["id"]) == before and len(sink.events) == n
        clock.t = start + 3600.0
        done = get(client, job["id"])
    assert delivery_statuses(done) == ["canceled_by_customer"] * 2 + ["dropoff_complete"]
    assert done["isActive"] is False


def test_a_refused_request_keeps_the_statuses_the_clock_made_due() -> None:
    clock = ManualClock()
    with nash_client(clock) as (client, sink):
        job = create(client)
        assert client.post(f"/v1/jobs/{job['id']}/autodispatch").status_code == 200
        clock.t += 3600.0
        # The read inside this refused request applies (and commits) every due status.
        nash_error(client.post(f"/v1/jobs/{job['id']}/cancel"), 409, "INVALID_STATE_TRANSITION")
        assert "delivery.dropoff_complete" in sink.names()


# -- caps ----------------------------------------------------------------------------------
def test_package_count_and_payload_caps() -> None:
    with nash_client() as (client, sink):
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        too_many = job_body(n=nash.MAX_PACKAGES + 1)
        msg = nash_error(client.post("/v1/batch_job", json=too_many), 422, "VALIDATION_ERRORS")
        assert str(nash.MAX_PACKAGES) in msg
        big = job_body()
        big["packages"][1]["dropoffInstructions"] = "x" * 200
        big["packages"][1]["barcodes"] = ["y" * 1000] * 20
        msg = nash_error(client.post("/v1/batch_job", json=big), 422, "VALIDATION_ERRORS")
        assert "packages[1]" in msg and f"{nash.MAX_PACKAGE_BYTES:,}" in msg
        meta = job_body(jobMetadata={"k": "z" * (nash.MAX_METADATA_BYTES + 1)})
        msg = nash_error(client.post("/v1/batch_job", json=meta), 422, "VALIDATION_ERRORS")
        assert "jobMetadata" in msg
        assert emu.nash.jobs == {} and sink.events == []
        # At the caps: accepted.
        assert client.post("/v1/batch_job", json=job_body(n=nash.MAX_PACKAGES)).status_code == 200


def test_plan_durations_follow_the_config() -> None:
    from loadtest.emulator.config import EmulatorConfig

    cfg = EmulatorConfig(nash_status_step_s=10.0, nash_fast_status_step_s=1.0)
    assert [o for o, _ in plan("FleetSimulator", cfg)] == [10.0 * i for i in range(8)]
    assert [o for o, _ in plan("FleetSimulatorFast", cfg)] == [1.0 * i for i in range(8)]
    assert plan("FailingFleetSimulator", cfg)[-1] == (30.0, "failed")


# -- durability ----------------------------------------------------------------------------
def test_a_restart_resumes_a_selected_job(tmp_path: Path) -> None:
    db = tmp_path / "emu.db"
    with nash_client(db_path=db) as (client, _):
        job = create(client)
        r = client.post(f"/v1/jobs/{job['id']}/autodispatch")
        assert r.status_code == 200
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        due = emu.nash.timer.due(job["id"])
        step = emu.rt.config.nash_status_step_s
    assert due is not None
    with nash_client(db_path=db) as (client, sink):
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        # The restart put the job back on the timer, due when it was before.
        assert emu.nash.timer.due(job["id"]) == due
        clock = ManualClock(due + 7 * step)
        emu.rt.clock = emu.nash.timer.clock = clock
        done = get(client, job["id"])
    assert delivery_statuses(done) == ["dropoff_complete"] * 2
    hist = [h["status"] for h in done["jobConfigurations"][0]["delivery"]["statusHistory"]]
    assert hist == STATUSES
    assert sink.names() == [f"delivery.{s}" for s in STATUSES[1:]] + ["task.completed"]


def test_schema_lists_every_lifecycle_route_with_its_answer_model() -> None:
    from starlette.routing import Route

    from loadtest.emulator.nash.schema import OPERATIONS, RESPONSES

    with nash_client(ManualClock()) as (client, _):
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        served = {
            (m.lower(), r.path)
            for r in emu.nash.routes()
            if isinstance(r, Route)
            for m in (r.methods or ())
            if m != "HEAD"
        }
        job = create(client)
        answers = [
            client.post(f"/v1/jobs/{job['id']}/batch/{job['batch']['id']}/refresh_quotes"),
            client.post(f"/v1/jobs/{job['id']}/autodispatch"),
            client.get(f"/v1/jobs/{job['id']}"),
        ]
    assert served == set(RESPONSES)
    assert {(op[0], op[1]) for op in OPERATIONS} <= served
    for r in answers:
        assert r.status_code == 200
        nash.JobOut.model_validate(r.json())


def test_a_real_receiver_gets_every_status_in_order() -> None:
    from loadtest.emulator.config import WebhookConfig
    from tests.loadtest.emulator.webhook_helpers import Receiver, wait_until

    with Receiver() as receiver:
        cfg = WebhookConfig(endpoints=(f"nash={receiver.url}",))
        with make_client(webhooks=cfg, time_scale=2000.0) as client:
            client.headers.update(H)
            job = create(client)
            qid = quote_of(job, "FleetSimulatorFast")
            assert client.post("/v1/select_quote", json={"quoteId": qid}).status_code == 200
            want = [f"delivery.{s}" for s in STATUSES]

            def got() -> list[str]:
                bodies = [orjson.loads(r.body) for r in receiver.delivered()]
                return [f"{b['type']}.{b['event']}" for b in bodies if b["type"] == "delivery"]

            wait_until(lambda: got()[1:] == want)
        for r in receiver.delivered():
            assert r.headers["svix-signature"].startswith("v1,")
            b = orjson.loads(r.body)
            if b["type"] == "delivery" and b["event"] != "created":
                assert delivery_statuses(b["data"]) == [b["event"], b["event"]]


def test_due_timer_serves_many_subjects_with_one_task() -> None:
    import asyncio

    from loadtest.emulator.clock import Clock
    from loadtest.emulator.nash.timer import DueTimer

    async def main() -> tuple[list[str], int]:
        clock = Clock(1000.0)
        fired: list[str] = []
        timer = DueTimer(clock, fired.append)
        now = clock.now_s()
        for i in range(50):
            timer.schedule(f"s{i}", now + 10.0 + i)
        timer.schedule("s0", now + 100.0)  # rescheduled: fires once, at the new time
        timer.schedule("gone", now + 5.0)
        timer.cancel("gone")
        tasks = len(asyncio.all_tasks())  # this coroutine and the timer's one task
        deadline = time.monotonic() + 10.0
        while len(fired) < 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await timer.close()
        return fired, tasks

    fired, tasks = asyncio.run(main())
    assert fired == [f"s{i}" for i in range(1, 50)] + ["s0"]
    assert tasks == 2
