"""Invariants of the model over random small scenarios (Hypothesis)."""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.run import SimResult, simulate
from tests.fixtures.scenarios import make_scenario

scenarios = st.fixed_dictionaries(
    {
        "workers": st.integers(1, 5),
        "rate": st.floats(5, 120),
        "mix": st.lists(st.floats(0, 1), min_size=5, max_size=5).filter(lambda w: sum(w) > 0.1),
        "policy": st.sampled_from(["distance", "load", "queue"]),
        "mode": st.sampled_from(["single", "batch", "batch-async"]),
        "fail": st.sampled_from([0.0, 0.2]),
        "shift_end": st.floats(0.3, 2.5),
        "travel": st.sampled_from(["geodesic", "none"]),
        "capacity": st.sampled_from([1.0, 3.0, 10.0]),
        "max_count": st.sampled_from([None, 1, 3]),
        "deps": st.booleans(),
        "after": st.sampled_from([None, 5.0]),
        "seed": st.integers(0, 1000),
    }
)


def _run(p: dict) -> SimResult:  # type: ignore[type-arg]
    names = [
        "dropoff",
        "pickup_dropoff",
        "single_pickup_multi_dropoff",
        "multi_pickup_single_dropoff",
        "multi_pickup_multi_dropoff",
    ]
    dispatch = {"policy": p["policy"], "consider_dependencies": p["deps"], "redispatch_s": 30}
    if p["max_count"] is not None:
        dispatch["max_assigned_task_count"] = p["max_count"]
    window = {"complete_before_min": 40.0}
    if p["after"] is not None:
        window["complete_after_min"] = p["after"]
    sc = make_scenario(
        fleet={"workers": p["workers"], "shift_end_h": p["shift_end"], "capacity": p["capacity"]},
        demand={
            "rate_per_h": p["rate"],
            "mix": dict(zip(names, p["mix"], strict=True)),
            "window": window,
            "service": {"kind": "exponential", "mean_s": 90},
        },
        dispatch=dispatch,
        submission={"mode": p["mode"], "flush_s": 120, "async_tasks_per_s": 5},
        failures={"probability": p["fail"]},
        travel={"model": p["travel"]},
    )
    return simulate(sc, seed=p["seed"])


def check_invariants(r: SimResult) -> None:
    t = r.tasks.set_index("task_id")
    ev = r.events
    # Event times never decrease.
    assert np.all(np.diff(ev["time_s"].to_numpy()) >= 0)
    # No task starts or completes before it was created or before its dependencies.
    done = t["completed_s"]
    for tid, row in t.iterrows():
        if not math.isnan(row.started_s):
            assert row.started_s >= row.created_s
        if not math.isnan(row.completed_s):
            assert row.completed_s >= row.created_s
            assert row.completed_s >= row.started_s
        for dep in filter(None, row.dependencies.split(";")):
            if not math.isnan(row.started_s):
                assert done[int(dep)] <= row.started_s, (tid, dep)
    # Every task ends in exactly one state, consistent with its times and events.
    st_ = t["state"]
    assert st_.isin([0, 1, 2, 3]).all()
    assert ((st_ == 3) == done.notna()).all()
    assert ((st_ == 2) == (t["started_s"].notna() & done.isna())).all()
    terminal = ev[ev["kind"].isin(["taskCompleted", "taskFailed"])]
    assert not terminal["task_id"].duplicated().any()
    assert set(terminal["task_id"]) == set(t.index[st_ == 3])
    assert (t.loc[st_ == 3, "success"] == (t.loc[st_ == 3, "failure_reason"] == "NONE")).all()
    # A worker never has two active tasks, and its positions are continuous in time.
    w = r.workers.set_index("worker_id")
    for wid, g in ev[ev["worker_id"] >= 0].groupby("worker_id", sort=True):
        active = None
        pos = (w.at[wid, "start_lat"], w.at[wid, "start_lon"])
        for row in g.itertuples():
            if row.kind == "taskStarted":
                assert active is None
                active = row.task_id
                assert (row.lat, row.lon) == pos, "teleported between legs"
            elif row.kind == "taskArrival":
                assert row.task_id == active
                pos = (row.lat, row.lon)
            elif row.kind in ("taskCompleted", "taskFailed"):
                assert row.task_id == active
                active = None
            elif row.kind == "workerDuty":
                assert (row.lat, row.lon) == pos
    # Dispatch bookkeeping: assigned workers match the final owner of started tasks.
    started = ev[ev["kind"] == "taskStarted"].drop_duplicates("task_id", keep="last")
    owner = pd.Series(started["worker_id"].to_numpy(), index=started["task_id"].to_numpy())
    assert (t.loc[owner.index, "worker_id"] == owner).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_model_invariants_hold(p: dict) -> None:  # type: ignore[type-arg]
    check_invariants(_run(p))


def test_the_invariant_checker_catches_a_teleport_and_a_double_start() -> None:
    p = {
        "workers": 2,
        "rate": 60.0,
        "mix": [1, 1, 0, 0, 0],
        "policy": "distance",
        "mode": "single",
        "fail": 0.0,
        "shift_end": 2.0,
        "travel": "geodesic",
        "capacity": 10.0,
        "max_count": None,
        "deps": True,
        "after": None,
        "seed": 3,
    }
    r = _run(p)
    check_invariants(r)
    ev = r.events.copy()
    i = ev.index[ev["kind"] == "taskStarted"][3]
    ev.loc[i, "lat"] += 0.01
    import pytest

    with pytest.raises(AssertionError):
        check_invariants(replace(r, events=ev))
    ev = r.events.copy()
    j = ev.index[ev["kind"] == "taskCompleted"][0]
    ev.loc[j, "kind"] = "taskArrival"
    with pytest.raises(AssertionError):
        check_invariants(replace(r, events=ev))
