"""Webhooks across processes: worker deltas merge at the master like one process, the
grace wait ends early when nothing is missing, and an abort reaches the master."""

from __future__ import annotations

import time
from typing import Any

import gevent

from loadtest.replay.distributed import MSG_ABORT
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.webhooks.model import Arrival, Expected
from tests.loadtest.replay.test_distributed import PLAN, distributed, lone


def expectations_0(r: Recorder) -> None:
    r.wh_expected += [
        Expected("onfleet", "taskCreated", "T1", 1.0, 1.0, 1, 0),
        Expected("onfleet", "taskCompleted", "T1", 5.0, 9.0, 7, 0),
    ]


def expectations_1(r: Recorder) -> None:
    r.wh_expected += [
        Expected("onfleet", "taskCreated", "T2", 1.2, 1.0, 2, 0),
        Expected("hypertrack", "completed", "o1", 3.0, 3.0, 4, 0),
    ]


ARRIVALS = [
    Arrival(1.01, "onfleet", "taskCreated", "T1", "a", True, 200),
    Arrival(1.30, "onfleet", "taskCreated", "T2", "b", True, 500),
    Arrival(1.40, "onfleet", "taskCreated", "T2", "b", True, 200),
    Arrival(3.05, "hypertrack", "completed", "o1", "c", True, 200),
    Arrival(5.20, "onfleet", "taskCompleted", "T1", "d", True, 200),
    Arrival(5.30, "onfleet", "taskCompleted", "T9", "e", True, 200),  # nobody expects T9
    Arrival(5.40, "onfleet", "taskCompleted", "T1", "f", False, 401),
]


def source(rows: list[Arrival]) -> list[list[Any]]:
    out = [list(a) for a in rows]
    rows.clear()
    return out


def test_two_workers_webhook_deltas_merge_like_one_process() -> None:
    alone = lone()
    alone.start(PLAN)
    alone.recorder.webhooks = True
    pending = list(ARRIVALS)
    alone.recorder.arrival_source = lambda: source(pending)
    expectations_0(alone.recorder)
    expectations_1(alone.recorder)
    single = alone.collect()
    assert single is not None

    net, master, (w0, w1) = distributed(2)
    master.start(PLAN, sorted(net.workers))
    first, rest = list(ARRIVALS[:3]), list(ARRIVALS[3:])
    w0.recorder.arrival_source = lambda: source(first)
    expectations_0(w0.recorder)
    assert w0.ship_samples()  # a periodic report with arrivals and expectations
    first.extend(rest)  # the rest arrives later and goes out with the flush
    expectations_1(w1.recorder)
    merged = master.collect()
    assert merged is not None and master.finals == {0, 1}
    assert merged.aggregate.webhooks() == single.aggregate.webhooks()
    report = merged.aggregate.webhooks()
    rows = {(e.provider, e.name): e for e in report.events}
    done = rows[("onfleet", "taskCompleted")]
    assert (done.expected, done.received, done.unexpected, done.bad_signatures) == (1, 1, 1, 1)
    created = rows[("onfleet", "taskCreated")]
    assert (created.received, created.retries, created.missing) == (2, 1, 0)
    assert rows[("hypertrack", "completed")].received == 1


def test_the_grace_ends_as_soon_as_nothing_is_missing() -> None:
    session = lone()
    session.start(PLAN)
    session.recorder.webhooks = True
    session.webhook_grace_s = 5.0
    expectations_0(session.recorder)
    pending: list[Arrival] = []
    session.recorder.arrival_source = lambda: source(pending)
    t = time.monotonic()
    session.finish_test()
    gevent.sleep(0.7)
    assert session.bus.ended == []  # type: ignore[attr-defined]  # T1's events still missing
    pending += [a for a in ARRIVALS if a.subject == "T1" and a.sig_ok]
    gevent.sleep(1.0)
    assert session.bus.ended == ["quit"]  # type: ignore[attr-defined]
    assert time.monotonic() - t < 3.0


def test_the_grace_gives_up_after_its_bound() -> None:
    session = lone()
    session.start(PLAN)
    session.recorder.webhooks = True
    session.webhook_grace_s = 0.6
    expectations_0(session.recorder)  # nothing will arrive
    session.finish_test()
    gevent.sleep(1.5)
    assert session.bus.ended == ["quit"]  # type: ignore[attr-defined]


def test_a_worker_abort_ends_the_test_with_its_error() -> None:
    net, master, (w0, _) = distributed(2)
    master.start(PLAN, sorted(net.workers))
    closed: list[bool] = []
    w0.closers.append(lambda: closed.append(True))
    w0.abort("registering the webhook receiver: POST ... answered 400")
    assert ("w0", MSG_ABORT) in net.sent
    assert master.error.startswith("worker 0: registering")
    gevent.sleep(0.4)
    assert net.master.ended == ["quit"]
    master.collect()  # the flush closes each worker's receiver
    assert closed == [True]


def test_a_lone_process_closes_its_receiver_when_it_collects() -> None:
    session = lone()
    session.start(PLAN)
    closed: list[str] = []
    session.closers.append(lambda: closed.append("closed"))
    assert session.collect() is not None
    assert closed == ["closed"]
    session.close()  # again (Locust's quitting after stopping): nothing runs twice
    assert closed == ["closed"]


def test_a_subject_created_by_another_worker_is_resolved_at_the_master() -> None:
    """Worker 1 completes task 3, which worker 0 created: worker 1 cannot resolve the
    subject, so its expectation keeps the ref until the master has worker 0's refs.
    A subject no worker created is never expected."""
    w0, w1 = Recorder(webhooks=True), Recorder(webhooks=True)
    w0.wh_refs.append(["task:3", "srv3"])
    w1.wh_expected += [
        Expected("onfleet", "taskCompleted", "$ref:task:3", 2.0, 9.0, 7, 0),
        Expected("onfleet", "taskCompleted", "$ref:task:4", 2.0, 9.0, 8, 0),
    ]
    w1.wh_arrivals.append(list(Arrival(2.1, "onfleet", "taskCompleted", "srv3", "d", True, 200)))
    agg = Aggregate()
    agg.merge(w1.drain())  # the expecting worker's delta may come first
    agg.merge(w0.drain())
    report = agg.webhooks()
    (done,) = report.events
    assert (done.expected, done.received, done.missing, done.unexpected) == (1, 1, 0, 0)
    assert agg.webhooks_missing() == 0
    assert w0.wh_refs == []  # drained in place (the executor's IdMap journals into it)
