"""The ``load`` mode's fast scan and the model's deferred snapshot updates (issue 11)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.demand import build_demand
from sim.dispatch import (
    AutoAssignOptions,
    FleetSnapshot,
    TaskPoint,
    WorkerView,
    choose_worker,
    choose_worker_bruteforce,
)
from sim.geo import ecef_point
from sim.model import Model
from sim.rng import make_streams
from sim.submission import plan_submissions
from sim.tasks import Task
from tests.fixtures.scenarios import make_scenario

LOAD = AutoAssignOptions(mode="load")


def test_load_near_ties_are_resolved_exactly_and_by_id() -> None:
    """Route ends on a tiny ring around the task with routes that cancel the ring's
    millimetre differences: several contenders inside the bounds, decided exactly."""
    views = [
        WorkerView(id=i, lat=40.0, lon=-74.0, on_duty=True, route_m=1000.0 + 1e-3 * (i % 3))
        for i in range(40)
    ]
    snap = FleetSnapshot.build(views)
    for i in range(40):
        snap.set_route(i, snap.route_m[i], 40.0 + 1e-4 * np.cos(i), -74.0 + 1e-4 * np.sin(i))
    task = TaskPoint(40.0, -74.0)
    assert choose_worker(snap, task, LOAD) == choose_worker_bruteforce(snap, task, LOAD)
    # Exact ties (same end, same route): the lowest id wins, as the platform does.
    for i in (7, 3, 12):
        snap.set_route(i, 500.0, 40.001, -74.0)
    assert choose_worker(snap, task, LOAD) == 3
    snap.set_duty(3, False)
    assert choose_worker(snap, task, LOAD) == 7
    # A lone clear winner (the single-contender shortcut) and nobody eligible.
    snap.set_route(30, 0.0, 40.0, -74.0)
    assert choose_worker(snap, task, LOAD) == 30
    snap.on_duty[:] = False
    assert choose_worker(snap, task, LOAD) is None


def _model(workers: int) -> Model:
    sc = make_scenario(
        dispatch={"policy": "load", "consider_dependencies": False},
        fleet={"workers": workers, "shift_end_h": 3.0, "capacity": 10},
        demand={"rate_per_h": 0.0},
    )
    streams = make_streams(1)
    tasks, orders = build_demand(sc, streams)
    return Model(sc, streams, tasks, orders, plan_submissions(orders, sc.submission))


@pytest.mark.parametrize("changed", [3, 20])  # row by row, and the vectorised pass
def test_deferred_snapshot_updates_match_immediate_ones(changed: int) -> None:
    """Arrivals and route changes only mark their workers; before a decision the
    snapshot must hold exactly what updating it at each change would have."""
    m = _model(30)
    rng = np.random.default_rng(5)
    for w in m.workers:
        m.duty_on(w)
    for k, w in enumerate(m.workers[:changed]):
        t = Task(k, k, k, False, *_near(rng), 1.0, 60.0, math.nan, math.nan, (), 0.0, 0.9)
        m.assign(w, t)  # a route change: marks the route end
        m.start_task(w, t)
        m.arrive(w, t)  # a move: marks the position
    assert m.stale.moved and m.stale.rerouted
    m.refresh_positions()
    assert not m.stale.moved and not m.stale.rerouted
    snap = m.snapshot
    for w in m.workers:
        assert (snap.lat[w.id], snap.lon[w.id]) == (w.lat, w.lon)
        for xyz, p2, (lat, lon) in (
            (snap.xyz, snap.p2, (w.lat, w.lon)),
            (snap.end_xyz, snap.end_p2, (snap.end_lat[w.id], snap.end_lon[w.id])),
        ):
            x, y, z = ecef_point(float(lat), float(lon))
            assert xyz[w.id] == pytest.approx((x, y, z), abs=1e-6)
            assert p2[w.id] == pytest.approx(x * x + y * y + z * z, rel=1e-15)
    task = TaskPoint(*_near(rng))
    assert choose_worker(snap, task, m.opts) == choose_worker_bruteforce(snap, task, m.opts)


def _near(rng: np.random.Generator) -> tuple[float, float]:
    return float(40.75 + rng.uniform(-0.02, 0.02)), float(-73.98 + rng.uniform(-0.02, 0.02))


@pytest.mark.parametrize("seed", range(6))
def test_load_choice_skips_an_ineligible_lowest_bound(seed: int) -> None:
    """The fast path takes the lowest bound of all rows only when that row is eligible;
    off-duty, full, over-count, other-team and excluded workers with the shortest
    routes must be passed over exactly as the brute-force scan does."""
    rng = np.random.default_rng(seed)
    n = 60
    views = [
        WorkerView(
            id=i,
            lat=float(40.75 + rng.uniform(-0.02, 0.02)),
            lon=float(-73.98 + rng.uniform(-0.02, 0.02)),
            on_duty=bool(rng.random() < 0.7),
            teams=frozenset({"a" if rng.random() < 0.7 else "b"}),
            assigned_count=int(rng.integers(0, 4)),
            free_capacity=float(rng.integers(0, 3)),
            route_m=float(rng.uniform(0, 300)),  # short routes: near-ties are common
        )
        for i in range(n)
    ]
    snap = FleetSnapshot.build(views)
    options = [
        AutoAssignOptions(mode="load"),
        AutoAssignOptions(mode="load", team="a", max_assigned_task_count=3),
        AutoAssignOptions(mode="load", excluded_worker_ids=frozenset(range(0, n, 3))),
    ]
    for _ in range(40):
        task = TaskPoint(*_near(rng), quantity=float(rng.integers(0, 3)))
        for opts in options:
            assert choose_worker(snap, task, opts) == choose_worker_bruteforce(snap, task, opts)
