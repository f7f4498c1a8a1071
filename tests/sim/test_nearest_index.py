"""The motion-aware ``distance`` index (sim.nearest_index): the brute force's choices among
moving workers, whatever moves, jumps, stops, filters and ties come along."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.dispatch
import sim.nearest_index
import sim.positions
from sim.dispatch import (
    AutoAssignOptions,
    FleetSnapshot,
    TaskPoint,
    WorkerView,
    choose_worker,
    choose_worker_bruteforce,
)
from sim.geo import geodesic_m
from sim.nearest_index import MovingNearest
from sim.positions import Legs, refresh_snapshot
from sim.run import simulate
from sim.scenario_io import load_scenario
from tests.fixtures.scenarios import REPO


@pytest.fixture
def index_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the index at any fleet size (it starts at a few thousand workers), and check
    rows that ``move_many`` moves one by one at any share of the fleet."""
    monkeypatch.setattr(sim.positions, "INDEX_MIN_WORKERS", 1)
    monkeypatch.setattr(sim.dispatch, "MOVED_ROWS_SHARE", 1)


class Fleet:
    """A live snapshot and its legs, driven the way the model drives them."""

    def __init__(self, rng: np.random.Generator, n: int, spread: float, grid: bool) -> None:
        self.rng = rng
        self.spread = spread
        # `grid` snaps positions to a coarse lattice: many workers share a spot (ties).
        self.pts = [self._point(grid) for _ in range(n)]
        self.grid = grid
        teams = [frozenset({"a"}) if rng.random() < 0.5 else frozenset({"b"}) for _ in range(n)]
        self.snap = FleetSnapshot.build(
            [
                WorkerView(
                    id=i,
                    lat=a,
                    lon=b,
                    on_duty=bool(rng.random() < 0.8),
                    teams=teams[i],
                    assigned_count=int(rng.integers(0, 4)),
                    free_capacity=float(rng.choice([0.0, 2.0, 10.0, np.inf])),
                )
                for i, (a, b) in enumerate(self.pts)
            ]
        )
        self.legs = Legs(n)
        self.now = 0.0

    def _point(self, grid: bool) -> tuple[float, float]:
        a = 40.75 + float(self.rng.uniform(-self.spread, self.spread))
        b = -73.98 + float(self.rng.uniform(-self.spread, self.spread))
        if grid:
            a, b = round(a, 2), round(b, 2)
        return a, b

    def set_off(self, i: int) -> None:
        if self.legs.on_leg[i]:
            return
        a, b = self.pts[i]
        to = self._point(self.grid)
        dur = float(self.rng.choice([30.0, 600.0, 3600.0]))
        self.legs.start(i, a, b, to[0], to[1], self.now, dur, geodesic_m(a, b, *to))

    def arrive(self, i: int) -> None:
        """As Model.arrive: the leg stops and the row moves to its end (no jump)."""
        if not self.legs.on_leg[i]:
            return
        lat, lon = float(self.legs.to_lat[i]), float(self.legs.to_lon[i])
        self.legs.stop(i)
        self.snap.move(i, lat, lon)
        self.pts[i] = (lat, lon)

    def jump(self, i: int) -> None:
        """A worker placed elsewhere (a hub at shift start): a discontinuous move."""
        if self.legs.on_leg[i]:
            return
        self.pts[i] = self._point(self.grid)
        self.snap.move(i, *self.pts[i])

    def arrive_many(self) -> None:
        """Every due arrival at once, through ``move_many`` (as the model's deferred
        snapshot upkeep brings many arrivals up to date before a decision)."""
        due = [i for i in sorted(self.legs.moving) if self.legs.t1[i] <= self.now]
        if not due:
            return
        lat = np.array([self.legs.to_lat[i] for i in due])
        lon = np.array([self.legs.to_lon[i] for i in due])
        for i in due:
            self.legs.stop(i)
        self.snap.move_many(np.array(due, dtype=np.intp), lat, lon)
        for k, i in enumerate(due):
            self.pts[i] = (float(lat[k]), float(lon[k]))

    def step(self) -> None:
        rng = self.rng
        n = len(self.pts)
        self.now += float(rng.choice([0.0, 1.0, 5.0, 60.0, 900.0]))
        if rng.random() < 0.3:
            self.arrive_many()
        for _ in range(int(rng.integers(0, 4))):
            i = int(rng.integers(n))
            kind = int(rng.integers(6))
            if kind == 0:
                self.set_off(i)
            elif kind == 1:
                # arrive only once due, as in a run (earlier would be a jump back)
                if self.legs.on_leg[i] and self.legs.t1[i] <= self.now:
                    self.arrive(i)
            elif kind == 2:
                self.jump(i)
            elif kind == 3:
                self.snap.set_duty(i, not bool(self.snap.on_duty[i]))
            elif kind == 4:
                self.snap.assigned_count[i] = int(rng.integers(0, 4))
            else:
                self.snap.free_capacity[i] = float(rng.choice([0.0, 2.0, 10.0]))

    def options(self) -> tuple[TaskPoint, AutoAssignOptions]:
        rng = self.rng
        ids = [int(x) for x in rng.integers(0, len(self.pts), int(rng.integers(0, 3)))]
        opts = AutoAssignOptions(
            mode="distance",
            team=[None, "a", "b"][int(rng.integers(3))],
            max_assigned_task_count=[None, 3, 5][int(rng.integers(3))],
            excluded_worker_ids=frozenset(ids),
        )
        lat, lon = self._point(self.grid and rng.random() < 0.5)
        if rng.random() < 0.1:  # far beyond the fleet: the search starts outside the grid
            lat, lon = lat + float(rng.choice([-1.0, 1.0])), lon - 0.7
        task = TaskPoint(lat, lon, quantity=float(rng.choice([0.0, 0.0, 1.0, 5.0])))
        return task, opts


@pytest.fixture(params=[False, True], ids=["grid", "fallback"])
def budget(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also with a tiny visiting budget: decisions fall back to the vectorised scan."""
    if request.param:
        monkeypatch.setattr(sim.nearest_index, "_VISIT_MIN", 1)
        monkeypatch.setattr(sim.nearest_index, "_VISIT_SHARE", 10**9)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    spread=st.sampled_from([0.002, 0.02, 0.1]),
    grid=st.booleans(),
)
def test_index_choices_equal_the_brute_force(
    index_always: None, budget: None, seed: int, n: int, spread: float, grid: bool
) -> None:
    rng = np.random.default_rng(seed)
    fleet = Fleet(rng, n, spread, grid)
    for i in range(n):
        if rng.random() < 0.7:
            fleet.set_off(i)
    for _ in range(30):
        fleet.step()
        refresh_snapshot(fleet.legs, fleet.snap, np.zeros(n), fleet.now, "distance")
        assert isinstance(fleet.snap.motion, MovingNearest)
        task, opts = fleet.options()
        fast = choose_worker(fleet.snap, task, opts)
        assert fast == choose_worker_bruteforce(fleet.snap, task, opts)


def test_drift_rebuilds_and_jumps_mark_rows_dirty(index_always: None) -> None:
    """The grid is rebuilt as the drift bound grows, a jump beyond the bound makes its
    row dirty (and the row is still found where it jumped to), an arrival does not."""
    rng = np.random.default_rng(11)
    n = 300
    fleet = Fleet(rng, n, 0.05, grid=False)
    fleet.snap.on_duty[:] = True
    fleet.snap.free_capacity[:] = np.inf
    for i in range(1, n):
        fleet.set_off(i)
    opts = AutoAssignOptions(mode="distance")
    refresh_snapshot(fleet.legs, fleet.snap, np.zeros(n), 0.0, "distance")
    idx = fleet.snap.motion
    assert isinstance(idx, MovingNearest)
    task = TaskPoint(40.75, -73.98)
    choose_worker(fleet.snap, task, opts)
    assert idx.rebuilds == 1
    # Row 0 never set off: placing it on the task is a jump, and it must win.
    fleet.now = 1.0
    refresh_snapshot(fleet.legs, fleet.snap, np.zeros(n), 1.0, "distance")
    fleet.snap.move(0, task.lat, task.lon)
    assert 0 in idx.dirty
    assert choose_worker(fleet.snap, task, opts) == 0
    # An arrival is where the leg was heading: within the bound once time has passed.
    fleet.now = 4000.0
    refresh_snapshot(fleet.legs, fleet.snap, np.zeros(n), 4000.0, "distance")
    assert choose_worker(fleet.snap, task, opts) == choose_worker_bruteforce(fleet.snap, task, opts)
    assert idx.rebuilds == 2  # an hour of driving is far past the drift bound
    refresh_snapshot(fleet.legs, fleet.snap, np.zeros(n), 4001.0, "distance")
    fleet.arrive(5)
    assert 5 not in idx.dirty


def test_a_few_arrivals_at_once_keep_the_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrivals the model brings up to date together (``move_many``) are checked row by
    row, as single moves are, instead of throwing the grid away: a fleet of thousands
    would otherwise rebuild it at nearly every decision."""
    monkeypatch.setattr(sim.positions, "INDEX_MIN_WORKERS", 1)
    rng = np.random.default_rng(5)
    n = 640
    fleet = Fleet(rng, n, 0.05, grid=False)
    fleet.snap.on_duty[:] = True
    fleet.snap.free_capacity[:] = np.inf
    for i in range(n):  # ten short legs (100 m in 30 s); the rest drive for an hour
        a, b = fleet.pts[i]
        to = (a + 0.0009, b) if i < 10 else fleet._point(False)
        dur = 30.0 if i < 10 else 3600.0
        fleet.legs.start(i, a, b, to[0], to[1], 0.0, dur, geodesic_m(a, b, *to))
    opts = AutoAssignOptions(mode="distance")
    task = TaskPoint(40.75, -73.98)
    refresh_snapshot(fleet.legs, fleet.snap, np.zeros(n), 0.0, "distance")
    choose_worker(fleet.snap, task, opts)
    idx = fleet.snap.motion
    assert isinstance(idx, MovingNearest) and idx.rebuilds == 1
    fleet.now = 30.0  # the short legs arrive together; nobody has driven far
    refresh_snapshot(fleet.legs, fleet.snap, np.zeros(n), fleet.now, "distance")
    fleet.arrive_many()
    assert not fleet.legs.on_leg[:10].any()
    for _ in range(5):
        task = TaskPoint(*fleet._point(False))
        assert choose_worker(fleet.snap, task, opts) == choose_worker_bruteforce(
            fleet.snap, task, opts
        )
    assert idx.rebuilds == 1


@pytest.mark.parametrize("name", ["tiny.toml", "lunch-rush.toml"])
def test_runs_are_identical_with_and_without_the_index(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A run's outputs do not depend on how the nearest worker is found."""
    sc = load_scenario(REPO / "scenarios" / name)
    plain = simulate(sc)
    monkeypatch.setattr(sim.positions, "INDEX_MIN_WORKERS", 1)
    indexed = simulate(sc)
    assert indexed.kpis == plain.kpis
    for table in ("tasks", "events", "workers"):
        a, b = getattr(plain, table), getattr(indexed, table)
        assert a.equals(b), table
