"""The replay's master/worker protocol: the plan on the wire, merging, and per-session state.

Sessions are driven directly over an in-process bus that encodes every message the way
Locust does (msgpack), so what a worker sends is what the master gets.  One test runs the
Locust wiring itself, in a child process (importing Locust monkey-patches with gevent).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import msgpack
import pytest

from loadtest.replay.distributed import (
    MSG_DATA,
    MSG_DONE,
    MSG_FINAL,
    MSG_PLAN,
    PlanMessage,
    ProtocolError,
    ReplaySession,
    Role,
    final_from_message,
    plan_from_message,
    plan_to_message,
    samples_from_message,
)
from loadtest.replay.partition import ReplayPlan
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.wire import HttpResult, Targets
from loadtest.trace.format import TraceCall, TraceHeader, dump_trace
from tests.fixtures.scenarios import REPO

PLAN = ReplayPlan(
    trace="/runs/lunch/trace.jsonl",
    speedup=60.0,
    run_id="lunch-0badcafe",
    t0_epoch=1_790_000_000.25,
    index=3,
    parts=4,
    run_time_s=912.5,
    skip_ops=("driver.*", "hypertrack.*"),
)


def wire(value: Any) -> Any:
    """``value`` after a trip through Locust's message encoding."""
    return msgpack.loads(msgpack.dumps(value), raw=False, strict_map_key=False)


@dataclasses.dataclass
class Msg:
    type: str
    data: Any


class Bus:
    """One process's end of an in-process Locust network: a master and its workers."""

    def __init__(self, net: Net, client_id: str | None) -> None:
        self.net = net
        self.client_id = client_id  # None: the master
        self.listeners: dict[str, Callable[..., None]] = {}
        self.ended: list[str] = []

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        msg = Msg(msg_type, wire(data))
        self.net.sent.append((self.client_id or "master", msg_type))
        if self.client_id is not None:
            self.net.master.deliver(msg)
        elif client_id is not None:
            self.net.workers[client_id].deliver(msg)
        else:
            for bus in self.net.workers.values():
                bus.deliver(msg)

    def register_message(
        self, msg_type: str, listener: Callable[..., None], concurrent: bool = False
    ) -> None:
        self.listeners[msg_type] = listener

    def deliver(self, msg: Msg) -> None:
        self.listeners[msg.type](environment=None, msg=msg)

    def quit(self) -> None:
        self.ended.append("quit")

    def stop(self) -> None:
        self.ended.append("stop")


class Net:
    def __init__(self, workers: int) -> None:
        self.sent: list[tuple[str, str]] = []
        self.master = Bus(self, None)
        self.workers = {f"w{i}": Bus(self, f"w{i}") for i in range(workers)}


def distributed(workers: int) -> tuple[Net, ReplaySession, list[ReplaySession]]:
    net = Net(workers)
    master = ReplaySession(Role.MASTER, net.master, headless=True, flush_timeout_s=0.5)
    master.register()
    sessions = []
    for bus in net.workers.values():
        s = ReplaySession(Role.WORKER, bus, headless=True, report_every_s=3600)
        s.register()
        sessions.append(s)
    return net, master, sessions


def lone() -> ReplaySession:
    net = Net(0)
    return ReplaySession(Role.LOCAL, net.master, headless=True)


class NoTransport:
    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        name: str,
        timeout_s: float,
    ) -> HttpResult:
        raise AssertionError("nothing is sent in these tests")


TARGETS = Targets.build("http://127.0.0.1:9", {})


# -- samples: two halves of one run -------------------------------------------------------


def first_half(r: Recorder) -> None:
    r.request("POST /api/v2/tasks", 0.2, 12.0, 15.0, True)
    r.request("POST /api/v2/tasks", 0.9, 40.0, 41.0, False, retried=True)
    r.request("GET /api/v2/tasks/batch/{jobId}", 1.5, 7.0, 7.5, True)
    r.lag(1.25)
    r.lag(3.0)
    r.flow("onfleet.batch_async", 2.5, 3, 10, 0, True)
    r.count("sent", 3)
    r.count("retried")
    r.expected_tasks.extend([1, 2, 3])


def second_half(r: Recorder) -> None:
    r.request("POST /api/v2/tasks", 0.4, 25.0, 26.0, True)
    r.request("POST /api/v2/workers", 2.1, 9.0, 30.0, False)
    r.lag(0.5)
    r.flow("onfleet.batch_async", 4.0, 5, 8, 2, False)
    r.flow("onfleet.batch", 0.7, 0, 4, 0, True)
    r.count("sent", 2)
    r.count("failed")
    r.expected_tasks.extend([4, 5])


def summary(agg: Aggregate) -> dict[str, Any]:
    """Everything results.json takes from an aggregate, plus the raw samples as multisets."""
    r = agg.rec
    requests = zip(
        r.req_name, r.req_t, r.req_ms, r.req_corr_ms, r.req_ok, r.req_retried, strict=True
    )
    return {
        "endpoints": agg.endpoints(agg.duration_s()),
        "flows": agg.flow_stats(),
        "lag": agg.lag(),
        "throughput": agg.throughput(),
        "counters": r.counters,
        "requests": sorted(requests),
        "lags": sorted(r.lag_ms),
        "flow_rows": sorted(r.flows),
        "expected_tasks": sorted(r.expected_tasks),
    }


# -- the plan on the wire -----------------------------------------------------------------


def test_the_plan_round_trips_through_a_message() -> None:
    msg = wire(plan_to_message(PLAN))
    assert isinstance(msg["skip_ops"], list)  # the wire has no tuples
    back = plan_from_message(msg)
    assert back == PLAN
    assert isinstance(back.skip_ops, tuple)
    assert dataclasses.asdict(back) == dataclasses.asdict(PLAN)


def test_the_plan_message_has_one_key_per_field_of_the_plan() -> None:
    fields = {f.name for f in dataclasses.fields(ReplayPlan)}
    assert PlanMessage.__required_keys__ == fields
    assert set(plan_to_message(PLAN)) == fields


def test_default_plan_round_trips() -> None:
    plan = ReplayPlan(trace="t.jsonl", speedup=1.0, run_id="r", t0_epoch=0.0)
    assert plan_from_message(wire(plan_to_message(plan))) == plan


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"speedup": "fast"}, "speedup 'fast': expected a number"),
        ({"index": 1.5}, "index 1.5: expected an integer"),
        ({"parts": True}, "parts True: expected an integer"),
        ({"trace": None}, "trace None: expected a string"),
        ({"skip_ops": "driver.*"}, "skip_ops 'driver.*': expected a list of strings"),
        ({"skip_ops": [1]}, "skip_ops [1]: expected a list of strings"),
        ({"colour": "red"}, "unknown ['colour']"),
    ],
)
def test_a_malformed_plan_is_named(change: dict[str, Any], error: str) -> None:
    msg = {**plan_to_message(PLAN), **change}
    with pytest.raises(ProtocolError) as caught:
        plan_from_message(msg)
    assert str(caught.value).startswith(f"{MSG_PLAN}: ")
    assert error in str(caught.value)


def test_a_plan_missing_a_field_is_named() -> None:
    msg = dict(plan_to_message(PLAN))
    del msg["t0_epoch"]
    with pytest.raises(ProtocolError, match=r"missing \['t0_epoch'\]"):
        plan_from_message(msg)
    with pytest.raises(ProtocolError, match="expected a mapping, got list"):
        plan_from_message([1, 2])


def test_sample_messages_are_checked() -> None:
    delta = Recorder().drain()
    assert samples_from_message({"index": 1, "data": delta}) == {"index": 1, "data": delta}
    assert final_from_message({"index": 0, "data": delta, "cpu": 12, "cpu_sustained": 9}) == {
        "index": 0,
        "data": delta,
        "cpu": 12.0,
        "cpu_sustained": 9.0,
    }
    with pytest.raises(ProtocolError, match=f"^{MSG_DATA}: data 3"):
        samples_from_message({"index": 1, "data": 3})
    with pytest.raises(ProtocolError, match=f"^{MSG_FINAL}: missing \\['cpu', 'cpu_sustained'\\]"):
        final_from_message({"index": 0, "data": delta})
    # A delta from another version (a key missing or unknown) is named, not merged.
    with pytest.raises(ProtocolError, match=r"data: missing \['lag_ms'\], unknown \['lag'\]"):
        samples_from_message(
            {"index": 1, "data": {**{k: v for k, v in delta.items() if k != "lag_ms"}, "lag": []}}
        )


# -- a master and its workers -------------------------------------------------------------


def test_the_master_sends_each_worker_its_partition() -> None:
    net, master, workers = distributed(3)
    base = dataclasses.replace(PLAN, index=0, parts=1)
    mine = master.start(base, sorted(net.workers))
    assert mine == dataclasses.replace(base, parts=3)
    plans = [w.plan for w in workers]
    assert [p.index for p in plans if p] == [0, 1, 2]
    assert all(p == dataclasses.replace(base, index=i, parts=3) for i, p in enumerate(plans))
    assert all(w.reporter is not None for w in workers)
    for w in workers:
        w.stop()


def test_workers_send_only_once_worker_0s_webhooks_are_registered() -> None:
    """Worker 0 hosts the receiver and registers it; the master tells every worker to
    go only then, so no call triggers an event the target would not yet deliver."""
    net, master, (w0, w1) = distributed(2)
    base = dataclasses.replace(PLAN, index=0, parts=1)
    master.start(base, sorted(net.workers))
    assert not w1.wait_for_hooks(0.01)
    w0.hooks_ready()
    assert ("w0", "fleetsim_hooks_ready") in net.sent and ("master", "fleetsim_go") in net.sent
    assert w1.wait_for_hooks(0.01) and w0.wait_for_hooks(0.01)
    master.start(base, sorted(net.workers))  # a new test waits for its own registrations
    assert not w1.wait_for_hooks(0.01)
    for w in (w0, w1):
        w.stop()


def late(r: Recorder) -> None:
    r.request("GET /api/v2/tasks/batch/{jobId}", 3.5, 6.0, 6.5, True)
    r.count("sent")


def test_a_master_merges_two_workers_exactly_like_one_process() -> None:
    alone = lone()
    alone.start(PLAN)
    for record in (first_half, second_half, late):
        record(alone.recorder)
    single = alone.collect()
    assert single is not None

    net, master, (w0, w1) = distributed(2)
    master.start(PLAN, sorted(net.workers))
    first_half(w0.recorder)
    assert w0.ship_samples()  # a periodic report part-way through
    assert not w0.ship_samples()  # nothing new: nothing sent
    late(w0.recorder)  # goes out with the flush
    second_half(w1.recorder)
    merged = master.collect()  # flushes: each worker's last samples come back as finals
    assert merged is not None
    assert master.finals == {0, 1}
    assert summary(merged.aggregate) == summary(single.aggregate)
    assert merged.plan.parts == 2
    assert net.sent.count(("w0", MSG_DATA)) == 1
    assert net.sent.count(("w0", MSG_FINAL)) == net.sent.count(("w1", MSG_FINAL)) == 1
    assert master.collect() is None  # once per test: stopping and quitting both ask


def test_the_master_keeps_the_highest_worker_cpu() -> None:
    net, master, (w0, w1) = distributed(2)
    master.start(PLAN, sorted(net.workers))
    for w, cpu, held in ((w0, 35.0, [20.0] * 5), (w1, 80.0, [60.0, 70.0, 65.0, 66.0, 64.0])):
        run = w.claim(NoTransport(), TARGETS)
        assert run is not None
        run.cpu_peak_pct = cpu
        run.cpu.samples[:] = held
    merged = master.collect()
    assert merged is not None and merged.cpu_peak_pct == 80.0
    # The highest CPU held for a whole window, by any worker: w1's lowest of 5 samples.
    assert merged.cpu_sustained_pct == 60.0


def test_the_test_ends_when_every_worker_is_done() -> None:
    net, master, (w0, w1) = distributed(2)
    master.start(PLAN, sorted(net.workers))
    run0 = w0.claim(NoTransport(), TARGETS)
    run1 = w1.claim(NoTransport(), TARGETS)
    assert run0 is not None and run1 is not None
    w0.partition_finished(run0)
    gevent.sleep(0.3)
    assert master.done == {0} and net.master.ended == []
    w1.partition_finished(run1)
    gevent.sleep(0.3)
    assert net.sent[-1] == ("w1", MSG_DONE)
    assert net.master.ended == ["quit"]
    w0.stop()
    w1.stop()


def test_a_worker_ships_its_samples_before_saying_it_is_done() -> None:
    """The master ends the grace wait on its aggregate: when the last DONE comes, it must
    hold every expectation and count the workers made, not only their last reports'."""
    net, master, (w0, w1) = distributed(2)
    master.start(PLAN, sorted(net.workers))
    runs = [w.claim(NoTransport(), TARGETS) for w in (w0, w1)]
    seen: list[int] = []
    real_on_done = master._on_done

    def on_done(msg: Any, **kw: Any) -> None:
        seen.append(master.aggregate.rec.counters.get("sent", 0))
        real_on_done(msg, **kw)

    net.master.listeners[MSG_DONE] = on_done
    for w, run in zip((w0, w1), runs, strict=True):
        w.recorder.count("sent", 3)
        assert run is not None
        w.partition_finished(run)
    assert seen == [3, 6]
    for w in (w0, w1):
        w.stop()


def test_a_missing_worker_does_not_block_the_results() -> None:
    net, master, (w0, _) = distributed(2)
    master.start(PLAN, sorted(net.workers))
    del net.workers["w1"]  # gone before the flush
    first_half(w0.recorder)
    merged = master.collect()
    assert merged is not None and master.finals == {0}
    assert merged.aggregate.rec.counters == {"sent": 3, "retried": 1, "attempts": 3}


def test_a_malformed_message_is_dropped_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    net, master, (w0,) = distributed(1)
    master.start(PLAN, ["w0"])
    net.master.deliver(Msg(MSG_DATA, {"index": 0}))
    net.workers["w0"].deliver(Msg(MSG_PLAN, {"trace": "x"}))
    assert "fleetsim_data: missing ['data']" in caplog.text
    assert "fleetsim_plan: missing" in caplog.text
    assert w0.plan == dataclasses.replace(PLAN, index=0, parts=1)  # the good plan stands
    w0.stop()


# -- one session per process, nothing shared ----------------------------------------------


def test_a_user_waits_for_its_plan_and_gives_up_without_one() -> None:
    _, master, (w0,) = distributed(1)
    assert not w0.wait_for_plan(0.1)
    gevent.spawn_later(0.1, master.start, PLAN, ["w0"])
    assert w0.wait_for_plan(5.0)
    assert w0.plan == dataclasses.replace(PLAN, index=0, parts=1)
    w0.stop()


def test_only_one_user_claims_the_partition() -> None:
    s = lone()
    assert s.claim(NoTransport(), TARGETS) is None  # no plan yet
    s.start(PLAN)
    run = s.claim(NoTransport(), TARGETS)
    assert run is not None and run.recorder is s.recorder and run.plan == s.plan
    assert s.claim(NoTransport(), TARGETS) is None


def test_a_lone_process_ends_its_test_unless_stopping() -> None:
    bus = Net(0).master
    s = ReplaySession(Role.LOCAL, bus, headless=False)
    s.start(PLAN)
    run = s.claim(NoTransport(), TARGETS)
    assert run is not None
    s.partition_finished(run)
    gevent.sleep(0.3)
    assert bus.ended == ["stop"]  # the web UI stays up for the next test
    run.stopping = True
    s.partition_finished(run)
    gevent.sleep(0.3)
    assert bus.ended == ["stop"]


def test_two_sessions_share_nothing() -> None:
    a, b = lone(), lone()
    a.start(PLAN)
    b.start(dataclasses.replace(PLAN, run_id="other"))
    first_half(a.recorder)
    assert a.recorder is not b.recorder
    got_a, got_b = a.collect(), b.collect()
    assert got_a is not None and got_b is not None
    assert got_a.aggregate.rec.counters == {"sent": 3, "retried": 1, "attempts": 3}
    assert got_b.aggregate.rec.req_name == [] and got_b.plan.run_id == "other"


def test_a_new_test_starts_from_nothing() -> None:
    s = lone()
    s.start(PLAN)
    first_half(s.recorder)
    assert s.claim(NoTransport(), TARGETS) is not None
    s.start(dataclasses.replace(PLAN, run_id="next"))
    assert s.run is None and not s.claimed
    got = s.collect()
    assert got is not None and got.plan.run_id == "next"
    assert got.aggregate.rec.req_name == [] and got.aggregate.rec.counters == {}


def test_a_worker_cannot_start_a_test_itself() -> None:
    _, _, (w0,) = distributed(1)
    with pytest.raises(RuntimeError, match="start_worker"):
        w0.start(PLAN)
    assert w0.collect() is None


# -- the Locust wiring: one session per environment ---------------------------------------

TWO_ENVIRONMENTS = """
import argparse, sys
from locust import events
from locust.env import Environment
from loadtest.replay import locustfile

def options(trace):
    return argparse.Namespace(
        trace=trace, speedup=10.0, onfleet_url="", hypertrack_url="", nash_url="",
        deftship_url="", fleetsim_out=sys.argv[2], thresholds="", max_lag_ms=250.0,
        skip_ops="driver.*", start_delay=0.5, replay_run_time=0.0, headless=True,
    )

envs = []
for trace in (sys.argv[1], ""):
    env = Environment(user_classes=[locustfile.TraceReplayUser], events=events,
                      host="http://127.0.0.1:9", parsed_options=options(trace))
    runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    envs.append(env)
a, b = (locustfile.session_of(e) for e in envs)
assert a is not b and a.recorder is not b.recorder
assert a is locustfile.session_of(envs[0])
events.test_start.fire(environment=envs[0])
assert a.plan is not None and b.plan is None
assert a.plan.skip_ops == ("driver.*",) and a.plan.parts == 1
a.recorder.count("sent", 2)
assert b.recorder.counters == {}
events.test_start.fire(environment=envs[1])  # no --trace: this test fails, alone
assert envs[1].process_exit_code == 2 and envs[0].process_exit_code is None
assert a.plan is not None and b.plan is None
print("ok", a.role.value, a.plan.run_id)
"""


def test_each_locust_environment_has_its_own_session(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    header = TraceHeader(
        scenario="two-envs",
        seed=0,
        start_epoch_ms=0,
        duration_s=1.0,
        providers=("onfleet",),
        submission_mode="none",
        counts={"calls": 1},
    )
    call = TraceCall(
        id=0, at_s=0.0, provider="onfleet", op="auth.test", method="GET", path="/api/v2/auth/test"
    )
    dump_trace(header, [call], trace)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TWO_ENVIRONMENTS), str(trace), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.startswith("ok local two-envs-")
