"""Onfleet batches: the sync path (partial success), async jobs, and accounting."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.loadtest.emulator.helpers import TestClient, conforms, make_client, onfleet_auth, seed

B = "/api/v2/tasks/batch"
GOOD = {"destination": {"address": {"unparsed": "1 Market St, San Francisco, CA, USA"}}}
NO_GEO = {"destination": {"address": {"unparsed": "9 Nowhere Rd, Springfield, USA"}}}
BAD_TIME = {"destination": {"location": [-122.4, 37.7]}, "completeAfter": 9, "completeBefore": 1}


def wait_job(client: TestClient, job_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = client.get(f"{B}/{job_id}").json()
        if j["status"] in ("completed", "completedWithErrors"):
            return dict(j)
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {j}")


def test_sync_batch_partial_success(client: TestClient) -> None:
    r = client.post(B, json={"tasks": [GOOD, NO_GEO, BAD_TIME, GOOD]})
    assert r.status_code == 200
    j = r.json()
    assert len(j["tasks"]) == 2 and len(j["errors"]) == 2
    geo, timing = j["errors"]
    assert geo["error"] == {
        "statusCode": 400,
        "error": 1000,
        "message": "The values of one or more parameters are invalid.",
        "cause": "Geocoding errors found. ",
    }
    assert geo["task"] == NO_GEO
    assert timing["error"]["error"] == 1009 and timing["task"] == BAD_TIME
    batch_seed = seed("onfleet-batch-job-status.json")["newTasks"][0]
    assert conforms(batch_seed, j["tasks"][0]) == []
    assert all(t["didAutoAssign"] is False for t in j["tasks"])


def test_batch_limits(client: TestClient) -> None:
    r = client.post(B, json={"tasks": [GOOD] * 501})
    assert r.status_code == 400 and r.json()["code"] == "InvalidContent"
    assert client.post(B, json={"tasks": []}).status_code == 400
    assert client.post(B, json={"tasks": "no"}).status_code == 400
    assert client.post(B, json=[GOOD]).status_code == 400
    r = client.post(B, json={"tasks": [GOOD] * 500})
    assert r.status_code == 200 and len(r.json()["tasks"]) == 500


def test_async_job_matches_seed_and_accounts() -> None:
    with make_client(async_tasks_per_s=2000.0) as client:
        client.headers.update(onfleet_auth())
        seed_fail = seed("onfleet-batch-job-status.json")["failedTasks"][0]
        tasks = [GOOD] * 120 + [
            seed_fail,
            {"destination": {"address": {"unparsed": "Elm Street, Springfield"}}},
        ]
        r = client.post(f"{B}-async", json={"tasks": tasks})
        assert r.status_code == 200
        job = r.json()
        assert set(job) == {"jobId", "status"} and len(job["jobId"]) == 24
        statuses = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            j = client.get(f"{B}/{job['jobId']}").json()
            statuses.add(j["status"])
            assert j["tasksCreated"] + j["tasksErrored"] <= j["tasksReceived"]
            if j["status"] in ("completed", "completedWithErrors"):
                break
            time.sleep(0.01)
        assert "processing" in statuses or "pending" in statuses
        assert j["status"] == "completedWithErrors"
        assert conforms(seed("onfleet-batch-job-status.json"), j) == []
        assert j["tasksReceived"] == 122 == j["tasksCreated"] + j["tasksErrored"]
        assert j["tasksErrored"] == 1 and j["failedTasks"] == [seed_fail]
        assert j["errors"][0]["errorCode"] == 1000
        assert j["errors"][0]["cause"] == "Geocoding errors found. "
        # No house number: created with a warning.
        assert len(j["newTasksWithWarnings"]) == 1
        assert j["newTasksWithWarnings"][0]["destination"]["warnings"]
        assert len(j["newTasks"]) + len(j["newTasksWithWarnings"]) == j["tasksCreated"]


def test_async_all_good_completes(client: TestClient) -> None:
    job = client.post(f"{B}-async", json={"tasks": [GOOD] * 3}).json()
    assert wait_job(client, job["jobId"])["status"] == "completed"
    assert client.get(f"{B}/unknownjobid000000000000").status_code == 404


task_strategy = st.sampled_from([GOOD, NO_GEO, BAD_TIME, {"destination": 5}, {}])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(
        st.tuples(st.booleans(), st.lists(task_strategy, min_size=1, max_size=30)),
        min_size=1,
        max_size=5,
    )
)
def test_accounting_over_any_mix(batches: list[tuple[bool, list[dict[str, Any]]]]) -> None:
    with make_client() as client:
        client.headers.update(onfleet_auth())
        created: list[str] = []
        for is_async, tasks in batches:
            if is_async:
                job = client.post(f"{B}-async", json={"tasks": tasks}).json()
                j = wait_job(client, job["jobId"])
                assert j["tasksReceived"] == j["tasksCreated"] + j["tasksErrored"] == len(tasks)
                created += [t["id"] for t in j["newTasks"] + j["newTasksWithWarnings"]]
            else:
                j = client.post(B, json={"tasks": tasks}).json()
                assert len(j["tasks"]) + len(j["errors"]) == len(tasks)
                created += [t["id"] for t in j["tasks"]]
        assert len(set(created)) == len(created)
        for tid in created:
            assert client.get(f"/api/v2/tasks/{tid}").status_code == 200
        listed: list[str] = []
        last = None
        while True:
            page = client.get("/api/v2/tasks/all?from=0" + (f"&lastId={last}" if last else ""))
            listed += [t["id"] for t in page.json()["tasks"]]
            last = page.json().get("lastId")
            if not last:
                break
        assert sorted(listed) == sorted(created)
