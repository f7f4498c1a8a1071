"""Positions along a leg, and the ``distance``/``load`` decisions that use them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.demand import build_demand
from sim.dispatch import TaskPoint, choose_worker, route_length_m
from sim.geo import geodesic_m
from sim.model import Model
from sim.positions import Legs, interpolate, interpolate_many, interpolation_of
from sim.rng import make_streams
from sim.submission import plan_submissions
from sim.tasks import Task
from sim.travel import GeodesicTravel, NoTravel
from tests.fixtures.scenarios import make_scenario

A = (40.70, -74.00)
B = (40.74, -73.95)


def test_geodesic_interpolation_is_on_the_geodesic_at_the_fraction() -> None:
    total = geodesic_m(*A, *B)
    for f in (0.1, 0.5, 0.83):
        lat, lon = interpolate("geodesic", *A, *B, f)
        assert math.isclose(geodesic_m(*A, lat, lon), f * total, abs_tol=1e-6)
        assert math.isclose(geodesic_m(lat, lon, *B), (1 - f) * total, abs_tol=1e-6)
    assert interpolate("geodesic", *A, *B, 0.0) == A
    assert interpolate("geodesic", *A, *B, 1.0) == B
    assert interpolate("geodesic", *A, *B, 7.0) == B  # clipped: arrived


def test_linear_interpolation_and_the_vectorised_form_agree() -> None:
    assert interpolate("linear", *A, *B, 0.25) == pytest.approx((40.71, -73.9875))
    f = np.array([0.0, 0.3, 0.5, 1.0])
    for kind in ("geodesic", "linear"):
        lat, lon = interpolate_many(
            kind,  # type: ignore[arg-type]
            np.full(4, A[0]),
            np.full(4, A[1]),
            np.full(4, B[0]),
            np.full(4, B[1]),
            f,
        )
        for k in range(4):
            one = interpolate(kind, *A, *B, float(f[k]))  # type: ignore[arg-type]
            assert lat[k] == pytest.approx(one[0], abs=1e-12)
            assert lon[k] == pytest.approx(one[1], abs=1e-12)


def test_the_travel_model_says_how_workers_move() -> None:
    assert interpolation_of(GeodesicTravel(1.3, [], 0.0)) == "geodesic"
    assert interpolation_of(NoTravel()) == "geodesic"

    class Cells:
        interpolation = "linear"

    assert interpolation_of(Cells()) == "linear"


def test_legs_track_the_moving_workers() -> None:
    legs = Legs(3)
    legs.start(1, *A, *B, 100.0, 200.0, geodesic_m(*A, *B))
    legs.start(2, *A, *A, 100.0, 50.0, 0.0)  # going nowhere: never on a leg
    assert legs.moving == {1} and legs.rows().tolist() == [1]
    lat, lon = legs.position(1, 200.0, *A)
    assert math.isclose(geodesic_m(*A, lat, lon), geodesic_m(*A, *B) / 2, abs_tol=1e-6)
    assert legs.remaining_m(legs.rows(), 250.0)[0] == pytest.approx(geodesic_m(*A, *B) / 4)
    assert legs.position(0, 200.0, *B) == B  # not moving: where it last stopped
    legs.stop(1)
    assert not legs.moving and legs.position(1, 200.0, *B) == B


def _model(policy: str, workers: int = 2) -> Model:
    sc = make_scenario(
        dispatch={"policy": policy, "consider_dependencies": False},
        fleet={"workers": workers, "shift_end_h": 3.0, "capacity": 10},
        demand={"rate_per_h": 0.0},
    )
    streams = make_streams(1)
    tasks, orders = build_demand(sc, streams)
    return Model(sc, streams, tasks, orders, plan_submissions(orders, sc.submission))


def _task(tid: int, lat: float, lon: float) -> Task:
    return Task(tid, tid, tid, False, lat, lon, 1.0, 60.0, math.nan, math.nan, (), 0.0, 0.9)


def _place(m: Model, i: int, lat: float, lon: float) -> None:
    w = m.workers[i]
    w.lat, w.lon = lat, lon
    m.snapshot.move(i, lat, lon)
    m.snapshot.set_route(i, 0.0, lat, lon)
    m.duty_on(w)


def _drive(m: Model, i: int, target: Task) -> None:
    """Worker ``i`` takes ``target`` and sets off now."""
    w = m.workers[i]
    m.assign(w, target)
    m.start_task(w, target)


def test_distance_sees_where_a_moving_worker_is_now() -> None:
    m = _model("distance")
    # Worker 0 leaves (40.70, -74.00) for a stop 4.4 km north-east; worker 1 waits 1.5 km
    # south of the new task.  Mid-leg, worker 0 has passed the new task's latitude.
    _place(m, 0, 40.70, -74.00)
    _place(m, 1, 40.7265, -73.975)
    _drive(m, 0, _task(0, 40.74, -73.965))
    new = TaskPoint(40.74, -73.975)
    assert choose_worker(m.snapshot, new, m.opts) == 1  # at the start of its leg
    leg_s = float(m.legs.t1[0] - m.legs.t0[0])
    m.env.run(until=m.env.now + 0.9 * leg_s)
    m.refresh_positions()
    here = m.legs.position(0, m.env.now, m.workers[0].lat, m.workers[0].lon)
    lat, lon = m.snapshot.exact_latlon(np.array([0]))
    assert (lat[0], lon[0]) == pytest.approx(here)
    assert geodesic_m(*here, new.lat, new.lon) < geodesic_m(40.7265, -73.975, new.lat, new.lon)
    assert choose_worker(m.snapshot, new, m.opts) == 0


def test_stale_load_route_is_recomputed_from_where_the_worker_is() -> None:
    """The fidelity fix: ``load`` counted the leg already driven until the task completed.

    Worker 0 is 90% along a 4.4 km leg that ends 0.6 km from the new task; worker 1 is
    idle 2 km from it.  From the current position worker 0's route is ~1 km: it should
    win.  The old route (from where the leg began) is ~5 km, so the old code chose
    worker 1 -- reproduced below with the old formula on the same snapshot.
    """
    m = _model("load")
    _place(m, 0, 40.70, -74.00)
    _place(m, 1, 40.7400, -73.9350)
    target = _task(0, 40.74, -73.965)
    _drive(m, 0, target)
    leg_s = float(m.legs.t1[0] - m.legs.t0[0])
    m.env.run(until=0.9 * leg_s)
    new = TaskPoint(40.7455, -73.9600)
    m.refresh_positions()
    remaining = geodesic_m(40.70, -74.00, target.lat, target.lon) * 0.1
    assert m.snapshot.route_m[0] == pytest.approx(remaining, rel=1e-6)
    assert choose_worker(m.snapshot, new, m.opts) == 0
    # The old decision: route from the leg's origin through the active task.
    old_route, _, _ = route_length_m(40.70, -74.00, [(target.lat, target.lon)])
    old = m.snapshot.route_m.copy()
    m.snapshot.route_m[0] = old_route
    assert choose_worker(m.snapshot, new, m.opts) == 1
    m.snapshot.route_m[:] = old
    # On arrival the leg part is gone: the route is what is planned after it (nothing).
    m.env.run(until=leg_s + 1.0)
    m.arrive(m.workers[0], target)
    assert m.snapshot.route_m[0] == 0.0


def test_mid_leg_choices_match_brute_force_over_exact_positions() -> None:
    """The fast path shortlists on approximate (chord) positions with a rigorous error
    bound and confirms exactly: it must choose what an exact scan chooses."""
    from sim.dispatch import AutoAssignOptions, FleetSnapshot, WorkerView, choose_worker_bruteforce
    from sim.positions import refresh_snapshot

    rng = np.random.default_rng(7)
    n = 400
    starts = [
        (40.75 + rng.uniform(-0.05, 0.05), -73.98 + rng.uniform(-0.06, 0.06)) for _ in range(n)
    ]
    snap = FleetSnapshot.build(
        [WorkerView(id=i, lat=a, lon=b, on_duty=True) for i, (a, b) in enumerate(starts)]
    )
    legs = Legs(n)
    for i, (a, b) in enumerate(starts):
        if i % 5:  # four in five on a leg of up to ~8 km
            to = (a + rng.uniform(-0.05, 0.05), b + rng.uniform(-0.06, 0.06))
            legs.start(i, a, b, to[0], to[1], 0.0, rng.uniform(300, 3000), geodesic_m(a, b, *to))
    opts = AutoAssignOptions(mode="distance")
    for k in range(200):
        now = 10.0 * k
        if k % 20 == 19:  # a worker arrives, another sets off: the legs change mid-run
            j = int(sorted(legs.moving)[k % len(legs.moving)])
            legs.stop(j)
            snap.move(j, float(legs.to_lat[j]), float(legs.to_lon[j]))
            starts[j] = (float(legs.to_lat[j]), float(legs.to_lon[j]))
            idle = 5 * (k // 20)  # rows 0, 5, 10, ... were never on a leg
            a, b = starts[idle]
            legs.start(
                idle, a, b, a + 0.02, b - 0.02, now, 900.0, geodesic_m(a, b, a + 0.02, b - 0.02)
            )
        refresh_snapshot(legs, snap, np.zeros(n), now, "distance")
        task = TaskPoint(40.75 + rng.uniform(-0.05, 0.05), -73.98 + rng.uniform(-0.06, 0.06))
        fast = choose_worker(snap, task, opts)
        exact = choose_worker_bruteforce(snap, task, opts)
        assert fast == exact
        # and the exact scan really is over the exact positions
        i = int(exact)  # type: ignore[call-overload]
        lat, lon = snap.exact_latlon(np.array([i]))
        assert (lat[0], lon[0]) == pytest.approx(legs.position(i, now, *starts[i]))
