"""Id mapping, retries, safe creates and flows, against an in-memory Onfleet."""

from __future__ import annotations

from collections import Counter

from loadtest.replay.executor import Executor
from loadtest.replay.policy import FLOW_ASYNC, FLOW_BATCH
from loadtest.replay.reconcile import reconcile
from loadtest.replay.retry import RetryPolicy
from loadtest.replay.schedule import Schedule, run_open_model
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.wire import Targets
from loadtest.trace.onfleet import build_trace
from tests.fixtures.runs import make_day
from tests.loadtest.replay.fakeapi import FakeClock, FakeOnfleet, Fault

HOST = "http://127.0.0.1:9"


def replay(
    mode: str,
    api: FakeOnfleet | None = None,
    clock: FakeClock | None = None,
    faults: list[Fault] = (),
    policy: RetryPolicy | None = None,
) -> tuple[FakeOnfleet, Executor, Recorder]:
    clock = clock or FakeClock()
    api = api or FakeOnfleet(clock)
    api.faults.extend(faults)
    rec = Recorder()
    ex = Executor(
        transport=api,
        targets=Targets.build(HOST, env={}),
        clock=clock,
        sleep=clock.sleep,
        recorder=rec,
        run_id="run-1",
        wall_t0_ms=0,
        speedup=10.0,
        policy=policy or RetryPolicy(),
    )
    _, calls = build_trace(make_day(mode))
    sched = Schedule(calls, 10.0)
    run_open_model(sched, clock, lambda fn: fn(), ex.execute, stop_at_s=1e9, on_skip=ex.skip)
    return api, ex, rec


def test_server_ids_replace_sim_references_everywhere() -> None:
    api, ex, rec = replay("batch")
    assert len(api.tasks) == 6
    # Every later call went to the server id the batch answered with.
    ids = {t["id"] for t in api.tasks.values()}
    completes = [p for m, p, _ in api.log if p.endswith("/complete")]
    assert len(completes) == 6 and all(p.split("/")[4] in ids for p in completes)
    assert ex.ids.get("task:0") in ids and ex.ids.get("worker:1") in api.workers
    # Dependencies set after the batch carry server ids too.
    drop = next(t for t in api.tasks.values() if t["pickupTask"] is False)
    assert all(d in ids for d in drop["dependencies"])
    # The run id was substituted into the metadata.
    assert {
        m["value"] for t in api.tasks.values() for m in t["metadata"] if m["name"] == "fleetsim_run"
    } == {"run-1"}
    assert rec.counters.get("failed", 0) == 0


def test_requests_are_named_by_template() -> None:
    api, _, _ = replay("single")
    names = Counter(n for _, _, n in api.log)
    assert names["POST /api/v2/tasks/{taskId}/complete"] == 6
    assert not any("id0" in n for n in names)


def test_429_is_retried_after_retry_after() -> None:
    api, _, rec = replay(
        "single", faults=[Fault("POST", "/api/v2/tasks", 429, headers={"Retry-After": "0.7"})]
    )
    assert rec.counters["retries"] == 1
    assert len(api.tasks) == 6
    assert rec.counters.get("failed", 0) == 0


def test_lost_create_answer_is_checked_not_duplicated() -> None:
    clock = FakeClock()
    # The server creates the task but the answer is a 503: a blind retry would duplicate.
    api, _, rec = replay(
        "single", clock=clock, faults=[Fault("POST", "/api/v2/tasks", 503, apply=True)]
    )
    assert rec.counters["checked_before_retry"] == 1 and rec.counters["recovered"] == 1
    assert len(api.tasks) == 6
    r = reconcile(
        lambda p, path, n: api.send("GET", HOST + path, {}, None, n, 1.0),
        "run-1",
        set(rec.expected_tasks),
        0,
    )
    assert (r.expected, r.created, r.missing, r.duplicated) == (6, 6, 0, 0)


def test_5xx_before_applying_is_resent_once_checked() -> None:
    api, _, rec = replay("batch", faults=[Fault("POST", "/api/v2/tasks/batch", 503)])
    assert rec.counters["checked_before_retry"] == 1 and rec.counters["retries"] == 1
    assert len(api.tasks) == 6 and rec.counters.get("failed", 0) == 0


def test_idempotent_calls_retry_5xx_and_failures_skip_dependents() -> None:
    _, _, rec = replay("single", faults=[Fault("PUT", "/api/v2/tasks/", 502)])
    assert rec.counters["retries"] == 1 and rec.counters.get("failed", 0) == 0
    # A 400 is not retried; everything that depends on it is skipped.
    _api, _, rec = replay("single", faults=[Fault("PUT", "/api/v2/tasks/", 400)])
    assert rec.counters["failed"] == 1
    assert rec.counters["skipped"] >= 2  # that task's start and complete


def test_flows_for_sync_and_async_batches() -> None:
    clock = FakeClock()
    api = FakeOnfleet(clock, latency_s=0.05, job_polls_pending=3)
    _, _, rec = replay("batch-async", api=api, clock=clock)
    agg = Aggregate()
    agg.merge(rec.drain())
    (flow,) = agg.flow_stats()
    assert flow.name == FLOW_ASYNC and flow.count == 1
    assert flow.polls_per_job == 4 and flow.tasks_created == 6
    # Submit sent at 5.0/10 s, first poll due at the ack 6.0/10 s; then 4 polls (0.05 s
    # each) and 3 waits of max(2.0 / 10, 0.1): 0.1 + 0.2 + 0.6 = 0.9 s.
    assert abs(flow.max_s - 0.9) < 1e-6
    _, _, rec = replay("batch")
    agg = Aggregate()
    agg.merge(rec.drain())
    (flow,) = agg.flow_stats()
    assert flow.name == FLOW_BATCH and flow.tasks_created == 6
    assert flow.polls_per_job == 0


def _agg(rec: Recorder) -> Aggregate:
    agg = Aggregate()
    agg.merge(rec.drain())
    return agg


def test_lost_async_batch_answer_is_checked_not_resent() -> None:
    # The job was created but its answer was lost: resending would create a second job.
    api, _, rec = replay(
        "batch-async", faults=[Fault("POST", "/api/v2/tasks/batch-async", 503, apply=True)]
    )
    assert len(api.jobs) == 1 and len(api.tasks) == 6
    assert rec.counters["recovered"] == 1 and rec.counters.get("failed", 0) == 0
    agg = _agg(rec)
    (flow,) = agg.flow_stats()
    assert flow.name == FLOW_ASYNC and flow.tasks_created == 6 and flow.failed == 0
    # Not applied: nothing is listed after the settle time, so it is sent again once.
    api, _, rec = replay("batch-async", faults=[Fault("POST", "/api/v2/tasks/batch-async", 503)])
    assert len(api.jobs) == 1 and len(api.tasks) == 6 and rec.counters.get("failed", 0) == 0


def test_failed_async_submit_is_a_failed_flow_and_gates() -> None:
    from loadtest.replay.results import ReplayResults
    from loadtest.replay.thresholds import evaluate, parse_thresholds

    _, _, rec = replay("batch-async", faults=[Fault("POST", "/api/v2/tasks/batch-async", 400)])
    assert rec.counters["tasks_errored"] == 6
    agg = _agg(rec)
    (flow,) = agg.flow_stats()
    assert (flow.name, flow.count, flow.failed, flow.tasks_errored) == (
        FLOW_ASYNC,
        1,
        1,
        6,
    )
    results = ReplayResults(duration_s=1.0, flows=agg.flow_stats())
    limits = parse_thresholds({"flows": {FLOW_ASYNC: {"max_error_ratio": 0.0}}})
    (check,) = evaluate(results, limits)
    assert not check.passed


def test_async_job_that_fails_is_not_done() -> None:
    clock = FakeClock()
    api = FakeOnfleet(clock, job_final_status="failed")
    _, _, rec = replay("batch-async", api=api, clock=clock)
    (flow,) = _agg(rec).flow_stats()
    assert flow.failed == 1 and flow.tasks_errored == 6


def test_unresolved_calls_are_not_samples_or_sent() -> None:
    from loadtest.replay.schedule import Ready

    clock = FakeClock()
    api = FakeOnfleet(clock)
    rec = Recorder()
    ex = Executor(api, Targets.build(HOST, env={}), clock, clock.sleep, rec, "run-1", 0)
    _, calls = build_trace(make_day("single"))
    complete = next(c for c in calls if c.op == "task.complete")
    assert ex.execute(Ready(complete, 0.0)) is False
    assert rec.req_name == [] and rec.lag_ms == [] and api.log == []
    assert rec.counters == {"unresolved": 1}


def test_retried_attempt_is_not_an_endpoint_error() -> None:
    _, _, rec = replay(
        "single", faults=[Fault("POST", "/api/v2/tasks", 429, headers={"Retry-After": "0.1"})]
    )
    (row,) = [e for e in _agg(rec).endpoints(1.0) if e.name == "POST /api/v2/tasks"]
    assert row.errors == 0 and row.retried == 1


def test_worker_phones_are_unique_per_run() -> None:
    from loadtest.replay.policy import run_phone

    a, b = run_phone("+15550000003", "tiny-aaaa"), run_phone("+15550000003", "tiny-bbbb")
    assert a != b and a.endswith("0000003") and b.endswith("0000003")
    assert all(p.startswith("+") and p[1:].isdigit() and 10 <= len(p) - 1 <= 15 for p in (a, b))
    assert run_phone("+15550000004", "tiny-aaaa") != a
    api, _ex, _ = replay("single")
    phones = {w["phone"] for w in api.workers.values()}
    assert phones == {run_phone(p, "run-1") for p in ("+14155550100", "+14155550101")}


def test_error_ratio_counts_calls_not_attempts() -> None:
    from loadtest.replay.thresholds import evaluate, parse_thresholds

    # The first PUT call is answered 502 four times: retried 3 times, then it fails.
    faults = [Fault("PUT", "/api/v2/tasks/", 502) for _ in range(4)]
    _, _, rec = replay("single", faults=faults, policy=RetryPolicy(max_attempts=4))
    agg = _agg(rec)
    (row,) = [e for e in agg.endpoints(1.0) if e.name == "PUT /api/v2/tasks/{taskId}"]
    assert row.failed_calls == 1 and row.count == row.calls + 3 and row.retried == 3
    assert agg.rec.counters["retries"] == 3
    assert agg.rec.counters["attempts"] == sum(e.count for e in agg.endpoints(1.0))
    assert agg.rec.counters["failed"] == 1  # the call, once
    limits = parse_thresholds({"endpoints": {row.name: {"max_error_ratio": 0.0}}})
    (check,) = evaluate(agg.summarise(1.0), limits)
    # One call of `calls` failed for good; the 3 retried attempts are in neither count.
    assert check.actual == round(1 / row.calls, 4) and not check.passed
