"""Onfleet's state emits each webhook trigger where it changes, with the documented
payload (checked against the strict models the OpenAPI document publishes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.emulator.config import load_profile
from loadtest.emulator.webhooks.payloads import ONFLEET_MODELS
from loadtest.providers.webhooks import ONFLEET_TRIGGER_IDS
from sim.errors import UserError
from sim.geo import geodesic_m
from tests.loadtest.emulator.helpers import TestClient
from tests.loadtest.emulator.sinks import Emitted, RecordingSink, recording_client

A = "/api/v2"
C = "/emulator/v1"
DEST = [-122.41, 37.77]  # [lng, lat]
START = [-122.43, 37.78]


@pytest.fixture
def rec() -> Iterator[tuple[TestClient, RecordingSink]]:
    with recording_client() as pair:
        yield pair


def check(e: Emitted) -> dict[str, Any]:
    """The event has its trigger's documented shape; returns the body."""
    assert e.provider == "onfleet"
    body: dict[str, Any] = e.body
    ONFLEET_MODELS[e.name].model_validate(body)
    assert orjson.loads(orjson.dumps(body)) == body  # what the engine will send
    assert body["triggerId"] == ONFLEET_TRIGGER_IDS[e.name]
    assert body["triggerName"] == e.name
    assert abs(body["time"] - time.time() * 1000) < 60_000
    return body


def team(client: TestClient) -> str:
    r = client.post(f"{A}/teams", json={"name": "T"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def worker(client: TestClient, team_id: str, phone: str, loc: list[float] | None = None) -> str:
    r = client.post(f"{A}/workers", json={"name": "W", "phone": phone, "teams": [team_id]})
    assert r.status_code == 200, r.text
    wid = str(r.json()["id"])
    if loc is not None:
        r = client.post(f"{C}/workers/{wid}/duty", json={"onDuty": True, "location": loc})
        assert r.status_code == 200, r.text
    return wid


def task(client: TestClient, **extra: Any) -> str:
    r = client.post(f"{A}/tasks", json={"destination": {"location": DEST}, **extra})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def to_worker(wid: str) -> dict[str, Any]:
    return {"container": {"type": "WORKER", "worker": wid}}


def test_one_task_life_fires_in_order(rec: tuple[TestClient, RecordingSink]) -> None:
    client, sink = rec
    w = worker(client, team(client), "+14155550201", START)
    tid = task(client)
    assert client.put(f"{A}/tasks/{tid}", json=to_worker(w)).status_code == 200
    assert client.post(f"{C}/tasks/{tid}/start").status_code == 200
    assert client.post(f"{C}/workers/{w}/location", json={"location": DEST}).status_code == 200
    done = {"completionDetails": {"success": True, "notes": "ok"}}
    assert client.post(f"{A}/tasks/{tid}/complete", json=done).status_code == 200
    assert sink.names(tid) == [
        "taskCreated",
        "taskAssigned",
        "taskStarted",
        "taskEta",  # at start, from START
        "taskEta",  # at the move, from DEST
        "taskArrival",
        "taskCompleted",
    ]
    final = client.get(f"{A}/tasks/{tid}").json()
    for e in sink.events:
        body = check(e)
        if e.subject == tid:
            assert body["taskId"] == tid and body["data"]["task"]["id"] == tid
    created, assigned, started, eta0, eta1, arrival, completed = (
        e.body for e in sink.events if e.subject == tid
    )
    assert created["workerId"] is None and created["data"]["task"]["state"] == 0
    assert created["actionContext"]["type"] == "ADMIN"
    assert created["adminId"] == created["actionContext"]["id"] == final["creator"]
    assert assigned["workerId"] == w and assigned["data"]["task"]["state"] == 1
    # Driver-app routes act as the worker; there is no admin.
    for b in (started, eta0, eta1, arrival):
        assert b["actionContext"] == {"id": w, "type": "WORKER"} and b["adminId"] is None
    assert started["data"]["task"]["state"] == 2
    d0 = geodesic_m(START[1], START[0], DEST[1], DEST[0])
    eta_events = sink.of("taskEta")
    assert eta_events[0].measure == pytest.approx(d0 / 8.33)
    assert eta0["etaSeconds"] == round(d0 / 8.33) > 0
    assert eta_events[1].measure == pytest.approx(0.0, abs=1e-6) and eta1["etaSeconds"] == 0
    assert sink.of("taskArrival")[0].measure == pytest.approx(0.0, abs=1e-6)
    assert arrival["distance"] == 0.0
    assert completed["data"]["task"] == final and completed["workerId"] == w
    assert sink.finished == [tid]  # final: the engine may forget its threshold memory


def test_eta_speed_is_configurable() -> None:
    with recording_client(eta_speed_mps=2.0) as (client, sink):
        w = worker(client, team(client), "+14155550202", START)
        tid = task(client, container={"type": "WORKER", "worker": w})
        assert client.post(f"{C}/tasks/{tid}/start").status_code == 200
    d0 = geodesic_m(START[1], START[0], DEST[1], DEST[0])
    (eta,) = sink.of("taskEta")
    assert eta.measure == pytest.approx(d0 / 2.0) and eta.body["etaSeconds"] == round(d0 / 2.0)


def test_eta_speed_in_a_profile_must_be_positive(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("eta_speed_mps = 4\n")
    assert load_profile(str(good)).eta_speed_mps == 4.0
    bad = tmp_path / "bad.toml"
    bad.write_text("eta_speed_mps = 0\n")
    with pytest.raises(UserError, match="eta_speed_mps"):
        load_profile(str(bad))


def test_created_assigned_fires_no_task_assigned(rec: tuple[TestClient, RecordingSink]) -> None:
    client, sink = rec
    w = worker(client, team(client), "+14155550203", START)
    t1 = task(client, container={"type": "WORKER", "worker": w})
    t2 = task(client, autoAssign={"mode": "distance"})
    assert client.get(f"{A}/tasks/{t2}").json()["didAutoAssign"] is True
    assert sink.names(t1) == ["taskCreated"] and sink.names(t2) == ["taskCreated"]
    assert sink.of("taskCreated")[1].body["workerId"] == w


def test_batches_fire_no_task_created(rec: tuple[TestClient, RecordingSink]) -> None:
    client, sink = rec
    body = {"tasks": [{"destination": {"location": DEST}}] * 3}
    r = client.post(f"{A}/tasks/batch", json=body)
    assert r.status_code == 200 and len(r.json()["tasks"]) == 3
    assert sink.events == []


def test_async_job_fires_trigger_19_once_with_counters(
    rec: tuple[TestClient, RecordingSink],
) -> None:
    client, sink = rec
    bad = {"destination": {"address": {"unparsed": "9 Nowhere Rd, Springfield, USA"}}}
    tasks = [{"destination": {"location": DEST}}] * 120 + [bad]
    job_id = client.post(f"{A}/tasks/batch-async", json={"tasks": tasks}).json()["jobId"]
    deadline = time.monotonic() + 10
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(f"{A}/tasks/batch/{job_id}").json()
        if status["status"] in ("completed", "completedWithErrors"):
            break
        time.sleep(0.01)
    assert status["status"] == "completedWithErrors"
    assert sink.names() == ["taskBatchCreateJobCompleted"]
    (e,) = sink.events
    body = check(e)
    assert e.subject == job_id and body["jobId"] == job_id
    assert body["taskId"] is None and body["workerId"] is None and body["data"] == {}
    del status["submitted"]
    assert {k: body[k] for k in status} == status
    assert body["tasksReceived"] == 121 and body["tasksCreated"] == 120
    assert body["tasksErrored"] == 1 and body["failedTasks"] == [bad]


def test_complete_failed_fires_task_failed(rec: tuple[TestClient, RecordingSink]) -> None:
    client, sink = rec
    w = worker(client, team(client), "+14155550204", START)
    tid = task(client, container={"type": "WORKER", "worker": w})
    assert client.post(f"{C}/tasks/{tid}/start").status_code == 200
    failed = {"completionDetails": {"success": False, "notes": "nobody home"}}
    assert client.post(f"{A}/tasks/{tid}/complete", json=failed).status_code == 200
    assert sink.names(tid)[-1] == "taskFailed" and "taskCompleted" not in sink.names()
    body = check(sink.of("taskFailed")[0])
    assert body["data"]["task"]["completionDetails"]["success"] is False
    assert body["actionContext"]["type"] == "ADMIN"


def test_duty_changes_fire_worker_duty_with_status(
    rec: tuple[TestClient, RecordingSink],
) -> None:
    client, sink = rec
    w = worker(client, team(client), "+14155550205")
    (created,) = sink.of("workerCreated")
    body = check(created)
    assert created.subject == w and body["workerId"] == w and body["data"]["worker"]["id"] == w
    duty = f"{C}/workers/{w}/duty"
    assert client.post(duty, json={"onDuty": True, "location": START}).status_code == 200
    assert client.post(duty, json={"onDuty": True, "location": DEST}).status_code == 200
    assert client.post(duty, json={"onDuty": False}).status_code == 200
    events = sink.of("workerDuty")
    assert [e.body["status"] for e in events] == [1, 0]  # the repeated on-duty is no change
    for e in events:
        body = check(e)
        assert e.subject == w and body["actionContext"] == {"id": w, "type": "WORKER"}
    assert events[0].body["data"]["worker"]["onDuty"] is True


def test_container_moves_fire_assigned_and_unassigned(
    rec: tuple[TestClient, RecordingSink],
) -> None:
    client, sink = rec
    tm = team(client)
    w1 = worker(client, tm, "+14155550206")
    w2 = worker(client, tm, "+14155550207")
    tid = task(client)
    sink.clear()
    moves = [
        to_worker(w1),  # org -> worker: assigned
        to_worker(w1),  # the same worker: nothing
        to_worker(w2),  # worker -> other worker: assigned only
        {"container": {"type": "TEAM", "team": tm}},  # worker -> team: unassigned
        {"container": {"type": "ORGANIZATION"}},  # team -> org: nothing
    ]
    for body in moves:
        assert client.put(f"{A}/tasks/{tid}", json=body).status_code == 200
    assert sink.names() == ["taskAssigned", "taskAssigned", "taskUnassigned"]
    assert [e.body["workerId"] for e in sink.events] == [w1, w2, None]
    for e in sink.events:
        check(e)
    # PUT on a worker container: newcomers are assigned, tasks left out go unassigned.
    a, b = task(client), task(client)
    r = client.put(f"{A}/containers/workers/{w1}", json={"tasks": [a, b]})
    assert r.status_code == 200
    sink.clear()
    r = client.put(f"{A}/containers/workers/{w1}", json={"tasks": [b, tid]})
    assert r.status_code == 200
    assert [(e.name, e.subject) for e in sink.events] == [
        ("taskUnassigned", a),
        ("taskAssigned", tid),
    ]
    assert check(sink.events[1])["data"]["task"]["container"] == {"type": "WORKER", "worker": w1}


def test_updates_fire_task_updated_but_container_changes_do_not(
    rec: tuple[TestClient, RecordingSink],
) -> None:
    client, sink = rec
    w = worker(client, team(client), "+14155550208")
    dep, tid = task(client), task(client)
    sink.clear()
    assert client.put(f"{A}/tasks/{tid}", json={"notes": "ring twice"}).status_code == 200
    assert client.put(f"{A}/tasks/{tid}", json={"dependencies": [dep]}).status_code == 200
    assert client.put(f"{A}/tasks/{tid}", json=to_worker(w)).status_code == 200
    both = {"notes": "side door", **to_worker(w)}
    assert client.put(f"{A}/tasks/{tid}", json=both).status_code == 200
    assert sink.names() == ["taskUpdated", "taskUpdated", "taskAssigned", "taskUpdated"]
    bodies = [check(e) for e in sink.events]
    assert bodies[0]["data"]["task"]["notes"] == "ring twice"
    assert bodies[1]["data"]["task"]["dependencies"] == [dep]
    assert bodies[3]["data"]["task"]["notes"] == "side door"


def test_delete_fires_task_deleted(rec: tuple[TestClient, RecordingSink]) -> None:
    client, sink = rec
    tid = task(client)
    assert client.delete(f"{A}/tasks/{tid}").status_code == 200
    assert sink.names(tid) == ["taskCreated", "taskDeleted"]
    assert check(sink.of("taskDeleted")[0])["data"]["task"]["id"] == tid


def test_refused_requests_emit_nothing(rec: tuple[TestClient, RecordingSink]) -> None:
    client, sink = rec
    w = worker(client, team(client), "+14155550209")
    tid = task(client)
    sink.clear()
    refused = [
        client.post(f"{A}/tasks", json={"notes": "no destination"}),
        client.put(f"{A}/tasks/{tid}", json={"dependencies": [tid]}),  # a cycle
        client.put(f"{A}/tasks/{tid}", json={"container": {"type": "WORKER", "worker": "x"}}),
        client.put(f"{A}/containers/workers/{w}", json={"tasks": [tid, "nope"]}),
        client.post(f"{C}/tasks/{tid}/start"),  # not assigned
        client.post(f"{A}/tasks/{tid}/complete", json={"completionDetails": {"success": True}}),
        client.post(f"{A}/workers", json={"name": "W", "phone": "+14155550209", "teams": []}),
        client.post(f"{C}/workers/{w}/duty", json={"onDuty": "yes"}),
    ]
    assert all(400 <= r.status_code < 500 for r in refused), [r.text for r in refused]
    assert sink.events == []
    assert client.get(f"{A}/tasks/{tid}").json()["state"] == 0


def test_nothing_is_built_for_unwanted_triggers() -> None:
    with recording_client() as (client, _):
        sink = RecordingSink(wanted=())
        client.app.state.emulator.rt.events = sink  # type: ignore[attr-defined]
        w = worker(client, team(client), "+14155550210", START)
        tid = task(client, container={"type": "WORKER", "worker": w})
        assert client.post(f"{C}/tasks/{tid}/start").status_code == 200
        assert client.post(f"{C}/workers/{w}/location", json={"location": DEST}).status_code == 200
    assert sink.events == []
    # Each trigger was asked about (once per change), never built.
    assert sink.asked["taskCreated"] == 1 and sink.asked["taskStarted"] == 1
    assert sink.asked["taskEta"] == 2 and sink.asked["taskArrival"] == 1


def test_delete_worker_fires_unassigned_then_worker_deleted(
    rec: tuple[TestClient, RecordingSink],
) -> None:
    client, sink = rec
    team_id = team(client)
    w = worker(client, team_id, "+14155550211")
    tid = task(client)
    assert client.put(f"{A}/tasks/{tid}", json=to_worker(w)).status_code == 200
    sink.clear()
    assert client.delete(f"{A}/workers/{w}").status_code == 200
    # Its assigned task went back to the organisation, unassigned, before it was deleted.
    assert sink.names(tid) == ["taskUnassigned"]
    assert client.get(f"{A}/tasks/{tid}").json()["state"] == 0
    e = sink.of("workerDeleted")[0]
    body = check(e)
    assert e.subject == w and body["workerId"] == w and body["taskId"] is None
    assert body["actionContext"]["type"] == "ADMIN" and body["data"]["worker"]["id"] == w
    assert client.get(f"{A}/workers/{w}").status_code == 404
    assert w not in client.get(f"{A}/teams/{team_id}").json()["workers"]
    # Its phone is free again.
    worker(client, team_id, "+14155550211")


def test_a_worker_with_an_active_task_is_not_deleted(
    rec: tuple[TestClient, RecordingSink],
) -> None:
    client, sink = rec
    w = worker(client, team(client), "+14155550212", START)
    tid = task(client, container={"type": "WORKER", "worker": w})
    assert client.post(f"{C}/tasks/{tid}/start").status_code == 200
    sink.clear()
    r = client.delete(f"{A}/workers/{w}")
    assert r.status_code == 400 and "active task" in r.text, r.text
    assert sink.events == []
    assert client.get(f"{A}/workers/{w}").status_code == 200
    assert client.delete(f"{A}/workers/nope").status_code == 404


def test_a_delete_the_organisation_cannot_take_back_changes_nothing() -> None:
    with recording_client(container_cap=2) as (client, sink):
        w = worker(client, team(client), "+14155550213")
        tids = [task(client) for _ in range(2)]
        for tid in tids:
            assert client.put(f"{A}/tasks/{tid}", json=to_worker(w)).status_code == 200
        tids.append(task(client))  # the organisation holds 1 of its 2
        sink.clear()
        r = client.delete(f"{A}/workers/{w}")  # 1 unassigned + 2 back > the cap of 2
        assert r.status_code == 400 and "container" in r.text, r.text
        assert sink.events == []
        assert client.get(f"{A}/workers/{w}").json()["tasks"] == tids[:2]
        assert [client.get(f"{A}/tasks/{t}").json()["state"] for t in tids] == [1, 1, 0]
        # Nothing the refused delete might have left pending rides on the next commit.
        assert client.post(f"{A}/tasks", json={"destination": {"location": DEST}}).is_success
        assert sink.names(tids[0]) == [] and sink.of("workerDeleted") == []
        assert sink.of("taskUnassigned") == []
