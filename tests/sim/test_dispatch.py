from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.dispatch import (
    KDTREE_MIN_WORKERS,
    AutoAssignOptions,
    FleetSnapshot,
    TaskPoint,
    WorkerView,
    choose_from_pool,
    choose_worker,
    choose_worker_bruteforce,
)


def _fleet(n: int, seed: int = 0, spread: float = 0.05) -> list[WorkerView]:
    rng = np.random.default_rng(seed)
    return [
        WorkerView(
            id=i,
            lat=float(40.75 + rng.uniform(-spread, spread)),
            lon=float(-73.98 + rng.uniform(-spread, spread)),
            on_duty=bool(rng.random() < 0.8),
            teams=frozenset({"a" if i % 2 else "b"}),
            assigned_count=int(rng.integers(0, 4)),
            free_capacity=float(rng.integers(0, 5)),
            route_m=float(rng.uniform(0, 3000)),
            end_lat=float(40.75 + rng.uniform(-spread, spread)),
            end_lon=float(-73.98 + rng.uniform(-spread, spread)),
        )
        for i in range(n)
    ]


def test_distance_picks_the_nearest_on_duty_worker() -> None:
    snap = FleetSnapshot.build(
        [
            WorkerView(id=1, lat=40.0, lon=-74.0, on_duty=True),
            WorkerView(id=2, lat=40.001, lon=-74.0, on_duty=False),  # nearest, off duty
            WorkerView(id=3, lat=40.01, lon=-74.0, on_duty=True),
        ]
    )
    assert choose_worker(snap, TaskPoint(40.0015, -74.0), AutoAssignOptions()) == 1


def test_ties_go_to_the_lowest_worker_id() -> None:
    views = [WorkerView(id=i, lat=40.0, lon=-74.0, on_duty=True) for i in (9, 4, 7)]
    snap = FleetSnapshot.build(views)
    assert choose_worker(snap, TaskPoint(40.01, -74.0), AutoAssignOptions()) == 4
    load = AutoAssignOptions(mode="load")
    assert choose_worker(snap, TaskPoint(40.01, -74.0), load) == 4


def test_string_ids_tie_break_lexicographically() -> None:
    views = [WorkerView(id=w, lat=1.0, lon=1.0, on_duty=True) for w in ("b~x", "a*y", "c12")]
    snap = FleetSnapshot.build(views)
    assert choose_worker(snap, TaskPoint(1.1, 1.0), AutoAssignOptions()) == "a*y"


def test_load_mode_adds_the_route_and_measures_from_its_end() -> None:
    snap = FleetSnapshot.build(
        [
            # Near the task but with a long route ending far away.
            WorkerView(
                id=1,
                lat=40.0,
                lon=-74.0,
                on_duty=True,
                route_m=5000.0,
                end_lat=40.05,
                end_lon=-74.0,
            ),
            WorkerView(id=2, lat=40.02, lon=-74.0, on_duty=True),
        ]
    )
    task = TaskPoint(40.0, -74.0)
    assert choose_worker(snap, task, AutoAssignOptions(mode="distance")) == 1
    assert choose_worker(snap, task, AutoAssignOptions(mode="load")) == 2


def test_filters_team_count_capacity_and_exclusions() -> None:
    snap = FleetSnapshot.build(
        [
            WorkerView(
                id=1,
                lat=40.0,
                lon=-74.0,
                on_duty=True,
                teams=frozenset({"x"}),
                assigned_count=3,
                free_capacity=1.0,
            ),
            WorkerView(id=2, lat=40.1, lon=-74.0, on_duty=True, teams=frozenset({"y"})),
        ]
    )
    task = TaskPoint(40.0, -74.0, quantity=1.0)
    assert choose_worker(snap, task, AutoAssignOptions()) == 1
    assert choose_worker(snap, task, AutoAssignOptions(team="y")) == 2
    assert choose_worker(snap, task, AutoAssignOptions(max_assigned_task_count=3)) == 2
    assert choose_worker(snap, TaskPoint(40.0, -74.0, quantity=2.0), AutoAssignOptions()) == 2
    opts = AutoAssignOptions(excluded_worker_ids=frozenset({1, 2}))
    assert choose_worker(snap, task, opts) is None
    assert choose_worker(snap, task, AutoAssignOptions(team="nobody")) is None


def test_empty_fleet_gives_none() -> None:
    assert choose_worker(FleetSnapshot.build([]), TaskPoint(0, 0), AutoAssignOptions()) is None


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 80),
    mode=st.sampled_from(["distance", "load"]),
    team=st.sampled_from([None, "a"]),
    max_count=st.sampled_from([None, 2]),
    qty=st.sampled_from([0.0, 2.0]),
)
def test_matches_bruteforce_exact_scan(
    seed: int, n: int, mode: str, team: str | None, max_count: int | None, qty: float
) -> None:
    snap = FleetSnapshot.build(_fleet(n, seed))
    rng = np.random.default_rng(seed + 1)
    opts = AutoAssignOptions(mode=mode, team=team, max_assigned_task_count=max_count)  # type: ignore[arg-type]
    for _ in range(20):
        task = TaskPoint(
            float(40.75 + rng.uniform(-0.06, 0.06)), float(-73.98 + rng.uniform(-0.06, 0.06)), qty
        )
        assert choose_worker(snap, task, opts) == choose_worker_bruteforce(snap, task, opts)


def test_near_ties_are_resolved_exactly() -> None:
    # Workers on a tiny ring around the task: distances differ by millimetres.
    views = [
        WorkerView(id=i, lat=40.0 + 1e-4 * np.cos(i), lon=-74.0 + 1e-4 * np.sin(i), on_duty=True)
        for i in range(50)
    ]
    snap = FleetSnapshot.build(views)
    task = TaskPoint(40.0, -74.0)
    assert choose_worker(snap, task, AutoAssignOptions()) == choose_worker_bruteforce(
        snap, task, AutoAssignOptions()
    )


def test_kdtree_path_agrees_with_bruteforce_and_sees_moves() -> None:
    snap = FleetSnapshot.build(_fleet(KDTREE_MIN_WORKERS + 500, seed=3, spread=0.2))
    rng = np.random.default_rng(9)
    opts = AutoAssignOptions(max_assigned_task_count=3)
    for _ in range(200):
        task = TaskPoint(
            float(40.75 + rng.uniform(-0.2, 0.2)), float(-73.98 + rng.uniform(-0.2, 0.2))
        )
        assert choose_worker(snap, task, opts, use_tree=True) == choose_worker_bruteforce(
            snap, task, opts
        )
    # Moving a worker onto the task must invalidate the cached tree.
    target = TaskPoint(40.9, -73.5)
    i = int(np.flatnonzero(snap.on_duty & (snap.assigned_count < 3))[0])
    snap.move(i, 40.9, -73.5)
    assert choose_worker(snap, target, opts, use_tree=True) == snap.ids[i]


def test_queue_pool_rules() -> None:
    lat = np.array([40.0, 40.2, 40.01])
    lon = np.array([-74.0, -74.0, -74.0])
    assert choose_from_pool(lat, lon, 40.19, -74.0, "oldest") == 0
    assert choose_from_pool(lat, lon, 40.19, -74.0, "nearest") == 1
    assert choose_from_pool(np.array([]), np.array([]), 0.0, 0.0, "oldest") is None


@pytest.mark.parametrize("mode", ["distance", "load"])
def test_in_place_updates_change_the_answer(mode: str) -> None:
    snap = FleetSnapshot.build(
        [WorkerView(id=i, lat=40.0 + i * 0.01, lon=-74.0, on_duty=True) for i in range(3)]
    )
    task = TaskPoint(40.02, -74.0)
    opts = AutoAssignOptions(mode=mode)  # type: ignore[arg-type]
    assert choose_worker(snap, task, opts) == 2
    snap.set_duty(2, False)
    assert choose_worker(snap, task, opts) == 1
    snap.move(0, 40.02, -74.0)
    snap.set_route(0, 0.0, 40.02, -74.0)
    assert choose_worker(snap, task, opts) == 0


def _peak_held(ev: Any) -> int:
    """The most tasks any worker held assigned but not started (state 1) at once."""
    held: dict[int, set[int]] = {}
    peak = 0
    for kind, task, worker in zip(ev["kind"], ev["task_id"], ev["worker_id"], strict=True):
        if kind == "taskAssigned":
            held.setdefault(int(worker), set()).add(int(task))
        elif kind in ("taskUnassigned", "taskStarted", "taskCompleted", "taskFailed"):
            for tasks in held.values():
                tasks.discard(int(task))
        peak = max([peak, *(len(t) for t in held.values())])
    return peak


def test_max_assigned_task_count_counts_the_whole_family() -> None:
    """A family is assigned at once, so the limit must hold after all of it lands: with the
    limit at 2, a worker holding 1 task cannot take a 2-task family (it once took 1 -> 6).
    Held tasks are those in state 1, as the snapshot's ``assigned_count`` (and the
    emulator, which shares this code) counts them."""
    from sim.run import simulate
    from tests.fixtures.scenarios import make_scenario

    sc = make_scenario(
        fleet={"workers": 2},
        demand={"rate_per_h": 120, "mix": {"dropoff": 1, "pickup_dropoff": 2}},
        dispatch={"policy": "distance", "max_assigned_task_count": 2},
    )
    ev = simulate(sc, seed=2).events
    assert _peak_held(ev) == 2
    # and the eligibility rule itself: 1 held + a family of 2 > 2
    snap = FleetSnapshot.build([WorkerView(0, 0.0, 0.0, True, assigned_count=1)])
    opts = AutoAssignOptions(max_assigned_task_count=2)
    assert choose_worker(snap, TaskPoint(0.0, 0.0, 0.0, count=1), opts) == 0
    assert choose_worker(snap, TaskPoint(0.0, 0.0, 0.0, count=2), opts) is None


@pytest.mark.parametrize("rule", ["oldest", "nearest"])
def test_the_queue_policy_holds_max_assigned_task_count(rule: str) -> None:
    """A free worker pulls a whole family at once; under a limit of 1 a 2-task
    pickup-dropoff family is never pulled (it stays unassigned, as under distance and
    load), while single drop-offs are served, and no worker ever holds more than 1."""
    from sim.run import simulate
    from tests.fixtures.scenarios import make_scenario

    sc = make_scenario(
        fleet={"workers": 3},
        demand={"rate_per_h": 60, "mix": {"dropoff": 1, "pickup_dropoff": 1}},
        dispatch={"policy": "queue", "queue_rule": rule, "max_assigned_task_count": 1},
    )
    res = simulate(sc, seed=3)
    ev, tasks = res.events, res.tasks
    assert _peak_held(ev) == 1
    sizes = tasks.groupby("family_id")["task_id"].transform("size")
    in_pairs = set(tasks.loc[sizes > 1, "task_id"].astype(int))
    assigned = {
        int(t) for k, t in zip(ev["kind"], ev["task_id"], strict=True) if k == "taskAssigned"
    }
    assert in_pairs and assigned and not (assigned & in_pairs)
    assert set(tasks.loc[sizes == 1, "task_id"].astype(int)) <= assigned | set(
        tasks.loc[tasks["cancelled_s"].notna(), "task_id"].astype(int)
    )
