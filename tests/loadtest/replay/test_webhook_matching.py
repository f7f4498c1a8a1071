"""Matching arrivals against expectations: missing, duplicates, retries, order, latency."""

from __future__ import annotations

from loadtest.replay.webhooks.matching import match, missing
from loadtest.replay.webhooks.model import Arrival, Expected, expectations, resolve_subjects
from loadtest.replay.webhooks.records import WebhookEventStats
from loadtest.replay.wire import IdMap
from loadtest.trace.format import ExpectedEvent, TraceCall


def exp(event: str, subject: str, resp_s: float, call_id: int, pos: int = 0) -> Expected:
    return Expected("onfleet", event, subject, resp_s, float(call_id), call_id, pos)


def arr(
    t_s: float,
    event: str,
    subject: str,
    did: str,
    ok: bool = True,
    provider: str = "onfleet",
    status: int | None = None,
) -> Arrival:
    code = status if status is not None else 200 if ok else 401
    return Arrival(t_s, provider, event, subject, did, ok, code)


def row(report_events: tuple[WebhookEventStats, ...], name: str) -> WebhookEventStats:
    (found,) = [e for e in report_events if e.name == name]
    return found


def test_every_expected_event_received_once() -> None:
    ex = [exp("taskCreated", "T1", 1.0, 1), exp("taskCreated", "T2", 2.0, 2)]
    ar = [arr(1.05, "taskCreated", "T1", "d1"), arr(2.2, "taskCreated", "T2", "d2")]
    r = match(ex, ar)
    created = row(r.events, "taskCreated")
    assert (created.expected, created.received, created.missing) == (2, 2, 0)
    assert created.p50_ms == 50.0 and created.max_ms == 200.0
    assert created.duplicated == created.unexpected == created.retries == 0
    assert r.arrivals == 2 and missing(ex, ar) == 0


def test_a_missing_event_is_counted() -> None:
    ex = [exp("taskCompleted", "T1", 1.0, 1), exp("taskCompleted", "T2", 1.0, 2)]
    ar = [arr(1.1, "taskCompleted", "T2", "d1")]
    done = row(match(ex, ar).events, "taskCompleted")
    assert (done.expected, done.received, done.missing) == (2, 1, 1)
    assert missing(ex, ar) == 1


def test_same_delivery_id_is_a_retry_and_a_new_id_is_a_duplicate() -> None:
    ex = [exp("taskStarted", "T1", 1.0, 1)]
    ar = [
        arr(1.1, "taskStarted", "T1", "d1"),
        arr(1.5, "taskStarted", "T1", "d1"),  # the platform retried after our 500
        arr(1.9, "taskStarted", "T1", "d1"),
        arr(2.0, "taskStarted", "T1", "d2"),  # a second delivery: a duplicate
    ]
    started = row(match(ex, ar).events, "taskStarted")
    assert started.received == 1 and started.missing == 0
    assert started.retries == 2 and started.retried_deliveries == 1
    assert started.duplicated == 1 and started.duplicated_ratio == 1.0
    assert started.p50_ms == 100.0  # latency to the first arrival
    assert started.unexpected == 0


def test_an_event_nobody_expected_is_unexpected() -> None:
    ex = [exp("taskCreated", "T1", 1.0, 1)]
    ar = [arr(1.1, "taskCreated", "T1", "d1"), arr(1.2, "taskUpdated", "T1", "d2")]
    r = match(ex, ar)
    assert row(r.events, "taskUpdated").unexpected == 1
    assert row(r.events, "taskUpdated").expected == 0
    assert row(r.events, "taskCreated").unexpected == 0


def test_the_subject_is_part_of_the_key() -> None:
    ex = [exp("taskCreated", "T1", 1.0, 1)]
    ar = [arr(1.1, "taskCreated", "T9", "d1")]
    created = row(match(ex, ar).events, "taskCreated")
    assert created.missing == 1 and created.unexpected == 1


def test_completed_before_started_is_out_of_order() -> None:
    ex = [
        exp("taskAssigned", "T1", 1.0, 1),
        exp("taskStarted", "T1", 2.0, 2),
        exp("taskCompleted", "T1", 3.0, 3),
        exp("taskStarted", "T2", 2.0, 4),
        exp("taskCompleted", "T2", 3.0, 5),
    ]
    ar = [
        arr(1.1, "taskAssigned", "T1", "a"),
        arr(3.1, "taskCompleted", "T1", "b"),  # before taskStarted of T1 arrived
        arr(3.2, "taskStarted", "T1", "c"),
        arr(2.1, "taskStarted", "T2", "d"),
        arr(3.3, "taskCompleted", "T2", "e"),
    ]
    r = match(ex, ar)
    assert row(r.events, "taskCompleted").out_of_order == 1
    assert row(r.events, "taskStarted").out_of_order == 0
    assert row(r.events, "taskAssigned").out_of_order == 0


def test_events_of_one_call_keep_their_listed_order() -> None:
    ex = [exp("taskStarted", "T1", 2.0, 2, 0), exp("taskEta", "T1", 2.0, 2, 1)]
    ar = [arr(2.2, "taskEta", "T1", "x"), arr(2.3, "taskStarted", "T1", "y")]
    assert row(match(ex, ar).events, "taskEta").out_of_order == 1


def test_an_event_before_the_answer_is_early_and_clamped_to_zero() -> None:
    ex = [exp("taskCreated", "T1", 1.0, 1), exp("taskCreated", "T2", 1.0, 2)]
    ar = [arr(0.9, "taskCreated", "T1", "d1"), arr(1.4, "taskCreated", "T2", "d2")]
    created = row(match(ex, ar).events, "taskCreated")
    assert created.early == 1
    assert created.p50_ms == 0.0 and created.max_ms == 400.0


def test_latency_percentiles_are_nearest_rank() -> None:
    ex = [exp("taskCreated", f"T{i}", 0.0, i) for i in range(100)]
    ar = [arr((i + 1) / 1000.0, "taskCreated", f"T{i}", f"d{i}") for i in range(100)]
    created = row(match(ex, ar).events, "taskCreated")
    assert (created.p50_ms, created.p95_ms, created.p99_ms, created.max_ms) == (
        50.0,
        95.0,
        99.0,
        100.0,
    )


def test_a_bad_signature_is_counted_and_never_matched() -> None:
    ex = [exp("taskCreated", "T1", 1.0, 1)]
    ar = [arr(1.1, "taskCreated", "T1", "d1", ok=False)]
    r = match(ex, ar)
    created = row(r.events, "taskCreated")
    assert created.bad_signatures == 1 and created.received == 0 and created.missing == 1
    assert r.bad_signatures == 1
    assert missing(ex, ar) == 1


def test_expectations_of_failed_or_skipped_calls_are_never_recorded() -> None:
    """Only a successful call records expectations (the executor calls
    :func:`expectations` after success); a subject this process cannot resolve keeps
    its ref, which the merged refs of every process resolve, or else drop."""
    call = TraceCall(
        id=5,
        at_s=10.0,
        provider="onfleet",
        op="task.complete",
        method="POST",
        path="/api/v2/tasks/{taskId}/complete",
        params={"taskId": "$ref:task:3"},
        events=(ExpectedEvent("taskCompleted", "$ref:task:3"),),
    )
    ids = IdMap()
    (pending,) = expectations(call, ids, "run", 1.0)  # task:3 unknown to this process
    assert pending.subject == "$ref:task:3"
    assert resolve_subjects([pending], {}) == []  # nobody created it: never expected
    (moved,) = resolve_subjects([pending], {"task:3": "srv9"})  # another process did
    assert moved.subject == "srv9" and moved.call_id == 5
    ids.set("task:3", "srv3")
    (e,) = expectations(call, ids, "run", 1.5)
    assert (e.provider, e.event, e.subject, e.resp_s, e.call_id) == (
        "onfleet",
        "taskCompleted",
        "srv3",
        1.5,
        5,
    )
    # Nothing expected and an arrival anyway: unexpected, never missing.
    r = match([], [arr(2.0, "taskCompleted", "srv3", "d")])
    assert row(r.events, "taskCompleted").unexpected == 1
    assert row(r.events, "taskCompleted").missing == 0


def test_providers_are_kept_apart() -> None:
    ex = [Expected("hypertrack", "completed", "o1", 1.0, 1.0, 1, 0)]
    ar = [
        arr(1.1, "completed", "o1", "m1", provider="hypertrack"),
        arr(1.2, "completed", "o1", "m2", provider="nash"),
    ]
    r = match(ex, ar)
    ht = next(e for e in r.events if e.provider == "hypertrack")
    nash = next(e for e in r.events if e.provider == "nash")
    assert ht.received == 1 and nash.unexpected == 1


def test_a_refused_attempt_meets_nothing_until_a_retry_is_accepted() -> None:
    ex = [exp("taskCompleted", "T1", 1.0, 1), exp("taskCompleted", "T2", 1.0, 2)]
    ar = [
        arr(1.1, "taskCompleted", "T1", "d1", status=500),  # refused by the receiver
        arr(1.2, "taskCompleted", "T2", "d2", status=500),  # refused, never retried (yet)
        arr(3.0, "taskCompleted", "T1", "d1"),  # the platform's retry, accepted
        arr(3.5, "taskCompleted", "T1", "d1"),  # at-least-once: a retry of it again
    ]
    assert missing(ex, ar[:2]) == 2  # the grace wait keeps waiting
    r = match(ex, ar)
    done = row(r.events, "taskCompleted")
    assert (done.received, done.missing, done.duplicated, done.unexpected) == (1, 1, 0, 0)
    assert (done.retries, done.retried_deliveries) == (2, 1)
    assert done.max_ms == 2000.0  # latency to the accepted attempt, not the refused one
    assert missing(ex, ar) == 1


def test_hypertrack_counts_a_4xx_answer_as_delivered() -> None:
    ex = [Expected("hypertrack", "completed", "o1", 1.0, 1.0, 1, 0)]
    ar = [Arrival(1.1, "hypertrack", "completed", "o1", "m1", True, 404)]
    assert missing(ex, ar) == 0
    assert row(match(ex, ar).events, "completed").received == 1


def test_a_never_accepted_delivery_nobody_expects_is_unexpected() -> None:
    r = match([], [arr(1.0, "taskUpdated", "T1", "d1", status=500)])
    assert row(r.events, "taskUpdated").unexpected == 1
