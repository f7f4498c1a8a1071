"""The replay's calls in flight (loadtest.replay.flights): counted, bounded, joined, and a
call's escaped error logged without stopping the others."""

from __future__ import annotations

from functools import partial

import gevent
import pytest

from loadtest.replay.flights import Flights


def test_counts_what_runs_and_joins_when_none_is_left() -> None:
    flights = Flights(10)
    done: list[int] = []

    def call(i: int) -> None:
        gevent.sleep(0.01 * (i + 1))
        done.append(i)

    for i in range(3):
        flights.spawn(partial(call, i))
    assert len(flights) == 3 and not done
    gevent.sleep(0.015)
    assert len(flights) == 2 and done == [0]
    assert flights.join(timeout=1.0)
    assert len(flights) == 0 and done == [0, 1, 2]


def test_join_times_out_while_a_call_runs() -> None:
    flights = Flights(10)
    flights.spawn(lambda: gevent.sleep(0.5))
    assert flights.join(timeout=0.02) is False
    assert len(flights) == 1
    assert flights.join(timeout=2.0)


def test_join_with_nothing_spawned_returns_at_once() -> None:
    assert Flights(1).join(timeout=0.0)


def test_spawn_waits_while_the_limit_runs() -> None:
    flights = Flights(2)
    started: list[int] = []

    def call(i: int) -> None:
        started.append(i)
        gevent.sleep(0.05)

    def dispatch() -> None:
        for i in range(4):
            flights.spawn(partial(call, i))

    g = gevent.spawn(dispatch)
    gevent.sleep(0.02)
    assert started == [0, 1] and len(flights) == 2  # the third waits for a slot
    g.join(timeout=2.0)
    assert flights.join(timeout=2.0)
    assert started == [0, 1, 2, 3]


def test_an_escaped_error_is_kept_and_the_count_still_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flights = Flights(5)

    def bad() -> None:
        raise RuntimeError("boom")

    flights.spawn(bad)
    flights.spawn(lambda: gevent.sleep(0.01))
    assert flights.join(timeout=1.0)
    assert [str(e) for e in flights.errors] == ["boom"]
    assert "failed outside the executor" in caplog.text


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Flights(0)


def test_a_finished_calls_greenlet_takes_the_next_call() -> None:
    flights = Flights(100)
    seen: list[object] = []
    for _ in range(50):  # one at a time: each call finishes before the next is spawned
        flights.spawn(lambda: seen.append(gevent.getcurrent()))
        assert flights.join(timeout=1.0)
    assert len(seen) == 50 and len(set(map(id, seen))) == 1 and flights.made == 1
    for _ in range(5):  # five at once need five greenlets, and no more are made after
        flights.spawn(lambda: gevent.sleep(0.01))
    assert flights.join(timeout=1.0) and flights.made == 5
    for _ in range(5):
        flights.spawn(lambda: gevent.sleep(0.01))
    assert flights.join(timeout=1.0) and flights.made == 5


def test_close_lets_every_greenlet_end_and_keeps_nothing_of_the_run() -> None:
    """A parked greenlet held its last call (the run's executor and maps) for as long as
    the process lived; after close() every greenlet returns, parked or still running."""
    import gc
    import weakref

    class Run:  # stands for what a call's closure keeps alive
        pass

    flights = Flights(8)
    run = Run()
    ref = weakref.ref(run)

    def call(r: Run, pause: float) -> None:
        gevent.sleep(pause)

    for pause in (0.0, 0.0, 0.05):
        flights.spawn(partial(call, run, pause))
    gevent.sleep(0.01)  # two have finished and parked; one still runs
    flights.close()
    assert flights.join(timeout=1.0)
    gevent.sleep(0.01)  # the hub runs the wake-ups
    del run
    gc.collect()
    assert ref() is None
    alive = [o for o in gc.get_objects() if getattr(o, "__class__", None).__name__ == "greenlet"]
    assert not any(getattr(g, "run", None) == flights._work and not g.dead for g in alive)
