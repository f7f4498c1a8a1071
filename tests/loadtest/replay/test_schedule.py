"""Open-model scheduling with a fake clock: due times, dependencies, skips, partitions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.replay.schedule import Ready, Schedule, partition, run_open_model
from loadtest.trace.format import TraceCall
from loadtest.trace.onfleet import build_trace
from tests.fixtures.runs import make_day
from tests.loadtest.replay.fakeapi import FakeClock


def call(i: int, at: float, deps: tuple[int, ...] = (), family: int = 0) -> TraceCall:
    return TraceCall(
        id=i, at_s=at, provider="onfleet", op="x", method="GET", path="/x", deps=deps, family=family
    )


class Deferred:
    """A spawn that runs jobs only when told to, so calls can overlap in fake time."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, fn: Callable[[], None]) -> object:
        self.jobs.append(fn)
        return None


def test_calls_are_sent_at_at_s_over_speedup_whatever_others_do() -> None:
    clock = FakeClock()
    sent: list[tuple[int, float, float]] = []

    def execute(r: Ready) -> bool:
        sent.append((r.call.id, clock.now(), r.intended_s))
        clock.t += 5.0  # a very slow server must not delay the next independent call
        return True

    calls = [call(0, 10.0), call(1, 20.0), call(2, 30.0)]
    spawn = Deferred()
    sched = Schedule(calls, speedup=10.0)

    # Open model: each due call is spawned at its time, none waits for another to finish.
    launched: list[float] = []

    def spawn_now(fn: Callable[[], None]) -> object:
        launched.append(clock.now())
        spawn(fn)
        return None

    run_open_model(sched, clock, spawn_now, execute, stop_at_s=100.0, idle=lambda: True)
    assert launched == [1.0, 2.0, 3.0]


def test_synchronous_run_records_intended_times_and_order() -> None:
    clock = FakeClock()
    seen: list[tuple[int, float]] = []

    def execute(r: Ready) -> bool:
        seen.append((r.call.id, r.intended_s))
        clock.t += 0.5
        return True

    calls = [call(0, 0.0), call(1, 1.0, deps=(0,)), call(2, 1.0), call(3, 2.0, deps=(1,))]
    run_open_model(Schedule(calls, 2.0), clock, lambda fn: fn(), execute, stop_at_s=99.0)
    assert [i for i, _ in seen] == [0, 1, 2, 3]
    assert seen[0] == (0, 0.0) and seen[1] == (1, 0.5) and seen[2][1] == 0.5


def test_dependent_waits_for_a_slow_dependency_and_intends_its_finish() -> None:
    sched = Schedule([call(0, 0.0), call(1, 1.0, deps=(0,))], speedup=1.0)
    (r0,) = sched.pop_due(0.0)
    assert sched.pop_due(5.0) == []  # due, but call 0 has not finished
    (r1,) = sched.finish(0, now_s=7.0, ok=True)
    assert r1.call.id == 1 and r1.intended_s == 7.0 and not r1.skipped
    assert r0.intended_s == 0.0


def test_dependency_done_before_due_time_keeps_the_due_time() -> None:
    sched = Schedule([call(0, 0.0), call(1, 10.0, deps=(0,))], speedup=2.0)
    sched.pop_due(0.0)
    assert sched.finish(0, 1.0, True) == []
    assert sched.next_due_s() == 5.0
    (r1,) = sched.pop_due(5.0)
    assert r1.intended_s == 5.0


def test_a_failed_dependency_skips_its_dependents_transitively() -> None:
    clock = FakeClock()
    calls = [call(0, 0.0), call(1, 1.0, deps=(0,)), call(2, 2.0, deps=(1,)), call(3, 2.0)]
    sent: list[int] = []
    skipped: list[int] = []

    def execute(r: Ready) -> bool:
        sent.append(r.call.id)
        return r.call.id != 0

    stats = run_open_model(
        Schedule(calls, 1.0),
        clock,
        lambda fn: fn(),
        execute,
        stop_at_s=99.0,
        on_skip=lambda r: skipped.append(r.call.id),
    )
    assert sent == [0, 3] and skipped == [1, 2] and stats.skipped == 2


def test_run_stops_at_its_run_time() -> None:
    clock = FakeClock()
    calls = [call(i, float(i)) for i in range(100)]
    sent: list[int] = []
    stats = run_open_model(
        Schedule(calls, 1.0),
        clock,
        lambda fn: fn(),
        lambda r: sent.append(r.call.id) or True,
        stop_at_s=10.0,
    )
    assert sent == list(range(10)) and stats.stopped_early
    assert clock.t == pytest.approx(10.0)


def test_trace_replays_in_dependency_order() -> None:
    _, calls = build_trace(make_day("batch-async", orders=5))
    clock = FakeClock()
    done: set[int] = set()

    def execute(r: Ready) -> bool:
        assert all(d in done for d in (*r.call.deps, *r.call.after))
        clock.t += 0.01
        done.add(r.call.id)
        return True

    run_open_model(Schedule(calls, 50.0), clock, lambda fn: fn(), execute, stop_at_s=1e9)
    assert done == {c.id for c in calls}


@given(st.integers(min_value=1, max_value=6))
def test_partitions_cover_the_trace_and_keep_families_whole(parts: int) -> None:
    _, calls = build_trace(make_day("single", orders=7))
    split = [partition(calls, parts, i) for i in range(parts)]
    ids = [c.id for p in split for c in p]
    assert sorted(ids) == [c.id for c in calls]
    owner = {c.family: i for i, p in enumerate(split) for c in p}
    for i, p in enumerate(split):
        assert all(owner[c.family] == i for c in p)
        local = {c.id for c in p}
        assert all(d in local for c in p for d in c.deps)


def test_a_failed_after_edge_orders_but_does_not_skip() -> None:
    c1 = TraceCall(id=1, at_s=0.0, provider="onfleet", op="x", method="GET", path="/x", after=(0,))
    sched = Schedule([call(0, 0.0), c1], 1.0)
    assert [r.call.id for r in sched.pop_due(0.0)] == [0]
    (r1,) = sched.finish(0, 0.5, ok=False)
    assert r1.call.id == 1 and not r1.skipped and r1.intended_s == 0.5
