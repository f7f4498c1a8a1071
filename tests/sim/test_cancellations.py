"""Merchant cancellations and recipient no-shows: distinct from random failures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.run import simulate
from tests.fixtures.scenarios import make_scenario


def _scenario(**extra: dict[str, object]) -> object:
    demand = {
        "rate_per_h": 60,
        "mix": {"dropoff": 1, "pickup_dropoff": 1},
        "cancel": {"probability": 0.3, "delay": {"kind": "exponential", "mean_s": 300}},
    }
    return make_scenario(demand=demand, **extra)  # type: ignore[arg-type]


def test_cancelled_orders_are_deleted_before_pickup_and_counted() -> None:
    r = simulate(_scenario(), seed=3)  # type: ignore[arg-type]
    t, k = r.tasks, r.kpis
    gone = t[t["cancelled_s"].notna()]
    assert len(gone) == k["tasks_cancelled"] > 0
    # a cancelled task never started, and its whole order went with it
    assert gone["started_s"].isna().all() and (gone["state"] <= 1).all()
    for oid in gone["order_id"].unique():
        assert t.loc[t["order_id"] == oid, "cancelled_s"].notna().all()
    # the merchant cancels after ordering, never before
    assert (gone["cancelled_s"] >= gone["ordered_s"]).all()
    # one taskDeleted per cancelled task, and no task is both deleted and completed
    ev = r.events
    assert int((ev["kind"] == "taskDeleted").sum()) == len(gone)
    assert not (gone["state"] == 3).any()
    # accounting: every created task is completed, cancelled or still open
    assert k["tasks_created"] == (
        k["tasks_completed"] + k["tasks_failed"] + k["tasks_cancelled"] + k["tasks_open"]
    )
    # cancelled tasks are never on time, so they cap on-time %
    # (KPIs are rounded to 6 decimals)
    assert k["on_time_pct"] <= 100.0 * (1 - k["tasks_cancelled"] / k["tasks_created"]) + 1e-6


def test_cancellation_draws_do_not_move_the_rest_of_the_demand() -> None:
    base = simulate(make_scenario(), seed=5).tasks
    with_cancels = simulate(_scenario(), seed=5).tasks  # type: ignore[arg-type]
    plain = simulate(
        make_scenario(demand={"rate_per_h": 60, "mix": {"dropoff": 1, "pickup_dropoff": 1}}),
        seed=5,
    ).tasks
    assert len(base) > 0
    for col in ("ordered_s", "lat", "lon", "service_s"):
        assert with_cancels[col].equals(plain[col]), col


def test_no_shows_fail_dropoffs_with_their_reason_apart_from_random_failures() -> None:
    sc = make_scenario(
        demand={"rate_per_h": 90, "mix": {"dropoff": 1, "pickup_dropoff": 1}},
        failures={"no_show_probability": 0.25, "no_show_reason": "NO_ANSWER"},
    )
    r = simulate(sc, seed=4)
    t, k = r.tasks, r.kpis
    ns = t[t["no_show"]]
    assert len(ns) == k["tasks_no_show"] > 0
    assert (~ns["is_pickup"]).all() and (~ns["success"]).all()
    assert (ns["failure_reason"] == "NO_ANSWER").all()
    assert k["tasks_failed"] == k["tasks_no_show"]  # no random failures configured
    # about a quarter of the dropoffs that were attempted
    done = t[(~t["is_pickup"]) & (t["state"] == 3)]
    assert 0.1 < len(ns) / len(done) < 0.45
    # the same seed without no-shows: the same tasks, none failed
    r0 = simulate(
        make_scenario(demand={"rate_per_h": 90, "mix": {"dropoff": 1, "pickup_dropoff": 1}}),
        seed=4,
    )
    assert r0.kpis["tasks_no_show"] == 0 and r0.kpis["tasks_failed"] == 0
    assert np.array_equal(r0.tasks["lat"].to_numpy(), t["lat"].to_numpy())


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_cancel_probability_edges(p: float) -> None:
    # nobody dispatches, so every order is still waiting when its cancellation comes
    sc = make_scenario(
        demand={"cancel": {"probability": p, "delay": {"mean_s": 1.0}}},
        dispatch={"policy": "none"},
    )
    k = simulate(sc, seed=1).kpis
    if p == 0.0:
        assert k["tasks_cancelled"] == 0 and k["tasks_open"] == k["tasks_created"]
    else:
        assert k["tasks_cancelled"] == k["tasks_created"] > 0
        assert k["tasks_open"] == 0 and k["tasks_unassigned"] == 0
        assert math.isclose(k["on_time_pct"], 0.0)


def test_a_cancellation_after_a_task_started_is_refused_whole() -> None:
    """Every order is cancelled 1 s after it is placed; idle workers start some orders at
    once, and those are delivered: no order is ever half deleted."""
    sc = make_scenario(demand={"cancel": {"probability": 1.0, "delay": {"mean_s": 1.0}}})
    t = simulate(sc, seed=1).tasks
    for _, order in t.groupby("order_id"):
        cancelled = order["cancelled_s"].notna()
        assert cancelled.all() or not cancelled.any()
        if not cancelled.any():
            assert order["started_s"].notna().any()
    assert 0 < t["cancelled_s"].notna().sum() < len(t)
