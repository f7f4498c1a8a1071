"""simulate() keeps the cyclic collector off the day's objects and leaves it as found."""

import gc

from sim.run import simulate
from tests.fixtures.scenarios import make_scenario


def test_collector_is_left_as_found() -> None:
    sc = make_scenario()
    # A clean collector to start from: other tests in this process (an emulator's tuned
    # gc, the test below) may have frozen objects, which the run would leave alone.
    gc.enable()
    gc.unfreeze()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    seen: list[int] = []
    gc.callbacks.append(lambda phase, info: seen.append(gc.get_freeze_count()))
    try:
        r = simulate(sc)
    finally:
        gc.callbacks.pop()
    assert len(r.tasks) > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
    # Collections during the run see the day's objects frozen.
    assert seen == [] or max(seen) > 0


def test_a_disabled_or_frozen_collector_stays_so() -> None:
    sc = make_scenario()
    gc.disable()
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        a = simulate(sc)
        assert not gc.isenabled()
        # Not undone (objects frozen by the caller may die, so it can only shrink a little),
        # and nothing of the run was frozen on top of it.
        assert frozen * 0.9 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
        gc.enable()
    b = simulate(sc)
    assert a.tasks.equals(b.tasks) and a.events.equals(b.events)
