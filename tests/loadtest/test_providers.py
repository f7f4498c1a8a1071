"""Provider answer readers and auth headers: pure functions over decoded JSON."""

from __future__ import annotations

import base64

from loadtest.providers import deftship, hypertrack, nash, onfleet


def test_onfleet_batch_answer_reads_tasks_and_errors() -> None:
    got = onfleet.batch_answer({"tasks": [{"id": "a"}], "errors": [{"code": 1}, {"code": 2}]})
    assert (len(got.tasks), len(got.errors)) == (1, 2)
    assert onfleet.batch_answer(None) == onfleet.BatchAnswer([], [])


def test_onfleet_job_status_pending_done_and_failed() -> None:
    assert not onfleet.job_status({"status": "Processing"}).final
    assert not onfleet.job_status("garbage").final
    done = onfleet.job_status(
        {"status": "completed", "newTasks": [{"id": "a"}], "newTasksWithWarnings": [{"id": "b"}]}
    )
    assert done.final and not done.failed and done.created == 2 and len(done.new_tasks) == 2
    failed = onfleet.job_status({"status": "errored", "tasksCreated": 1, "tasksErrored": 3})
    assert failed.final and failed.failed and (failed.created, failed.errored) == (1, 3)
    assert onfleet.JOB_PENDING.isdisjoint(onfleet.JOB_FAILED)


def test_onfleet_task_state_and_created_id() -> None:
    assert onfleet.task_state({"state": onfleet.TASK_COMPLETED}) == 3
    assert onfleet.task_state({"state": True}) == -1 and onfleet.task_state([]) == -1
    assert onfleet.created_id({"jobId": "j1", "id": "x"}) == "j1"
    assert onfleet.created_id({"id": 7}) == "7"
    assert onfleet.created_id({"data": {"id": 42}}) == "42"
    assert onfleet.created_id({"id": True}) is None and onfleet.created_id(None) is None


def test_deftship_batch_status_counts_and_final_sets() -> None:
    got = deftship.batch_status(
        {"data": {"status": "ready", "results": {"valid_count": 4, "invalid_count": 1}}}
    )
    assert got == deftship.BatchStatus("ready", 4, 1, 0, 0)
    assert deftship.batch_status({"data": {"status": "validating", "results": None}}).status == (
        "validating"
    )
    assert deftship.batch_status([]) == deftship.BatchStatus("")
    assert set(deftship.VALIDATED) <= set(deftship.BATCH_STATUSES)
    assert set(deftship.SHIPPED) <= set(deftship.BATCH_STATUSES)


def test_hypertrack_order_handle_and_order_body_radius() -> None:
    body = hypertrack.track_body(
        "w", [hypertrack.order_body("h-1", 1.0, 2.0, address=None, radius_m=50)]
    )
    assert hypertrack.order_handle(body) == "h-1"
    assert body["orders"][0]["destination"] == {
        "geometry": {"type": "Point", "coordinates": [2.0, 1.0]},
        "radius": 50,
    }
    assert hypertrack.order_body("h", 1.0, 2.0)["destination"]["address"] == ""
    assert hypertrack.order_handle({"orders": []}) is None


def test_auth_headers() -> None:
    basic = onfleet.auth_headers("k")["Authorization"]
    assert base64.b64decode(basic.removeprefix("Basic ")) == b"k:"
    ht = hypertrack.auth_headers("acct", "sec")["Authorization"]
    assert base64.b64decode(ht.removeprefix("Basic ")) == b"acct:sec"
    assert nash.auth_headers("n") == {"Authorization": "Bearer n"}
    assert nash.auth_headers("n", "org") == {"Authorization": "Bearer n", "Nash-Org-Id": "org"}
    assert deftship.auth_headers("t") == {"Authorization": "Bearer t"}


def test_error_constants_are_distinct_and_the_status_tables_use_them() -> None:
    subcodes = {k: v for k, v in vars(onfleet).items() if k.startswith("E_")}
    assert len(set(subcodes.values())) == len(subcodes)  # one name per subcode
    assert onfleet.ERROR_NAMES[429] == "TooManyRequests" and onfleet.E_RATE_LIMIT == 2300
    codes = {v for k, v in vars(nash).items() if k.startswith("E_")}
    assert set(nash.ERROR_CODES.values()) <= codes
    assert nash.ERROR_CODES[413] == nash.ERROR_CODES[422] == nash.E_VALIDATION
