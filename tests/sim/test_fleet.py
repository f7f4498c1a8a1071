"""Building the fleet (``sim.fleet.build_fleet``)."""

from __future__ import annotations

import numpy as np

from sim.fleet import build_fleet
from sim.rng import make_streams
from sim.run import simulate
from tests.fixtures.scenarios import make_scenario


def _starts(workers: int, seed: int = 11) -> np.ndarray:
    sc = make_scenario(fleet={"workers": workers})
    return np.array([(w.start_lat, w.start_lon) for w in build_fleet(sc, make_streams(seed))])


def test_adding_a_worker_moves_none_of_the_others() -> None:
    # Common random numbers across fleet sizes: worker i starts where it started before,
    # so a fleet-size comparison differs by the added workers only.
    thirty, thirty_one = _starts(30), _starts(31)
    assert np.array_equal(thirty, thirty_one[:30])
    assert not np.array_equal(thirty_one[30], thirty_one[29])
    assert not np.array_equal(_starts(30, seed=12), thirty)  # still drawn, per seed


def test_a_run_keeps_the_first_workers_in_place() -> None:
    a = simulate(make_scenario(fleet={"workers": 5}), seed=3).workers
    b = simulate(make_scenario(fleet={"workers": 6}), seed=3).workers
    for col in ("start_lat", "start_lon", "team", "shift_start_s", "shift_end_s"):
        assert a[col].equals(b[col].iloc[:5]), col
