"""The KPI registry: every computed KPI has exactly one spec, in kpis.json order."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.kpis import (
    HEADLINE,
    KPI_BY_NAME,
    KPI_NAMES,
    KPIS,
    censored_times,
    compute_kpis,
    format_kpis,
)
from sim.report.run_report import KPI_NOTES
from sim.scenario import Cost, VehicleCost


def _tasks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "created_s": [0.0, 10.0, 20.0, None],
            "state": [3, 3, 1, 0],
            "success": [True, False, False, False],
            "assigned_s": [5.0, 30.0, 40.0, None],
            "completed_s": [100.0, 200.0, None, None],
            "on_time": [True, False, False, False],
            "complete_before_s": [None, 140.0, 50.0, None],
            "is_pickup": [False, False, False, False],
            "worker_id": [0, 1, 1, -1],
        }
    )


def _workers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "on_duty_s": [3600.0, 3600.0],
            "busy_s": [1800.0, 900.0],
            "distance_m": [5000.0, 2500.0],
            "empty_distance_m": [1000.0, 0.0],
            "worker_id": [0, 1],
            "vehicle": ["CAR", "BICYCLE"],
            "shift_end_s": [3600.0, 150.0],
        }
    )


def test_every_computed_kpi_has_a_spec_and_vice_versa_in_order() -> None:
    kpis = compute_kpis(_tasks(), _workers())
    assert tuple(kpis) == KPI_NAMES
    assert len(set(KPI_NAMES)) == len(KPIS)
    assert set(KPI_BY_NAME) == set(kpis)
    assert set(HEADLINE) <= set(KPI_NAMES)


def test_the_values_follow_the_definitions() -> None:
    k = compute_kpis(_tasks(), _workers())
    assert (k["tasks_created"], k["tasks_completed"], k["tasks_failed"], k["tasks_open"]) == (
        3,
        1,
        1,
        1,
    )
    assert k["tasks_unassigned"] == 0
    assert math.isclose(k["on_time_pct"], 100.0 / 3, rel_tol=1e-5)
    assert k["utilisation_pct"] == 37.5
    assert (k["km_driven"], k["empty_km"], k["tasks_per_worker_hour"]) == (7.5, 1.0, 0.5)


def test_lateness_cost_and_shift_kpis_follow_their_definitions() -> None:
    """Task 0 succeeds at 100 s without a window; task 1 fails at 200 s, 60 s after its
    window (140 s); task 2 is open past its 50 s window; task 3 was never created."""
    tasks = _tasks()
    tasks.loc[0, "complete_before_s"] = 70.0  # now task 0 succeeds 30 s late
    cost = Cost(
        wage_per_h=20.0,
        cost_per_km=0.5,
        by_vehicle={"BICYCLE": VehicleCost(wage_per_h=10.0, cost_per_km=0.0)},
    )
    k = compute_kpis(tasks, _workers(), end_s=1000.0, cost=cost)
    assert k["tasks_late"] == 1
    assert k["late_mean_min"] == pytest.approx(0.5) and k["late_p90_min"] == pytest.approx(0.5)
    # every created task: 30 s, 60 s (failed, by its completion), 950 s (open, censored)
    late = np.array([30.0, 60.0, 950.0]) / 60.0
    assert k["lateness_mean_min"] == pytest.approx(late.mean(), abs=1e-6)
    assert k["lateness_p90_min"] == pytest.approx(np.percentile(late, 90), abs=1e-6)
    # CAR: 1 h x 20 + 5 km x 0.5; BICYCLE: 1 h x 10 + 2.5 km x 0 -> 32.5 for 1 delivery
    assert k["total_cost"] == pytest.approx(32.5)
    assert k["cost_per_delivery"] == pytest.approx(32.5)
    assert (k["fleet_hours_paid"], k["fleet_hours_busy"]) == (2.0, 0.75)
    # task 0 by worker 0 (shift to 3600 s) within; task 1 by worker 1 at 200 s > 150 s
    assert (k["tasks_within_shift"], k["tasks_after_shift"]) == (1, 1)
    # nothing delivered: no cost per delivery, and no late task has no mean lateness
    none_ok = tasks.assign(success=False, on_time=False)
    k2 = compute_kpis(none_ok, _workers(), end_s=1000.0)
    assert math.isnan(k2["cost_per_delivery"]) and math.isnan(k2["late_mean_min"])
    assert k2["total_cost"] == pytest.approx(1 * 20.0 + 5 * 0.25 + 1 * 20.0 + 2.5 * 0.25)


def test_specs_are_complete_and_the_report_reads_them() -> None:
    for spec in KPIS:
        assert spec.meaning and spec.better in ("higher", "lower")
        assert KPI_NOTES[spec.name] == spec.note
    assert KPI_BY_NAME["on_time_pct"].note == (
        "created tasks completed successfully within their window (%)"
    )
    assert KPI_BY_NAME["time_to_assign_p90_s"].better == "lower"
    assert "tasks_per_worker_hour" in format_kpis(compute_kpis(_tasks(), _workers()))


def test_every_kpi_has_a_kind_and_a_range_its_values_respect() -> None:
    k = compute_kpis(_tasks(), _workers())
    for spec in KPIS:
        assert spec.kind in ("proportion", "count", "time", "distance", "rate", "money")
        v = float(k[spec.name])
        # over an empty set (here: no task was late) a KPI is NaN, never out of range
        assert spec.contains(v) or (math.isnan(v) and spec.name.startswith("late_")), spec.name
        if spec.kind == "proportion":
            assert spec.bounds == (0.0, 100.0) and spec.unit == "%"
        else:
            assert spec.bounds == (0.0, math.inf)
    assert not KPI_BY_NAME["on_time_pct"].contains(101.0)
    assert not KPI_BY_NAME["time_to_assign_p50_s"].contains(-0.5)
    with pytest.raises(ValueError, match="empty range"):
        type(KPIS[0])("x", "", "x", "higher", "count", (1.0, 1.0))


def test_unfinished_tasks_are_censored_at_the_end_of_the_run() -> None:
    # created at 0, 10, 20: task 0 completes at 100, task 1 at 200, task 2 never
    # (assigned at 40); censored at end_s = 1000 it took at least 980 s.
    k = compute_kpis(_tasks(), _workers(), end_s=1000.0)
    finish = np.array([100.0, 190.0, 980.0])
    assert k["time_to_complete_p50_s"] == pytest.approx(np.percentile(finish, 50))
    assert k["time_to_complete_p90_s"] == pytest.approx(np.percentile(finish, 90))
    assert k["time_to_assign_p50_s"] == pytest.approx(20.0)  # 5, 20, 20: all assigned
    # Without the run's end, the latest time in the table (200 s) stands in.
    k2 = compute_kpis(_tasks(), _workers())
    assert k2["time_to_complete_p99_s"] == pytest.approx(np.percentile([100.0, 190.0, 180.0], 99))


def test_a_run_where_most_tasks_never_finish_reports_a_long_median() -> None:
    """The issue's case: 70% never finished, and the median was the fast 30%'s 0.05 s."""
    n = 100
    done = np.arange(n) < 30
    tasks = pd.DataFrame(
        {
            "created_s": np.zeros(n),
            "state": np.where(done, 3, 0),
            "success": done,
            "assigned_s": np.where(done, 0.05, np.nan),
            "completed_s": np.where(done, 0.05, np.nan),
            "on_time": done,
            "complete_before_s": np.full(n, np.nan),
            "is_pickup": np.zeros(n, dtype=bool),
            "worker_id": np.where(done, 0, -1),
        }
    )
    k = compute_kpis(tasks, _workers(), end_s=3600.0)
    assert k["time_to_complete_p50_s"] == 3600.0 and k["time_to_assign_p50_s"] == 3600.0
    assert (k["tasks_open"], k["tasks_unassigned"]) == (70, 70)


def test_censored_times_never_go_negative() -> None:
    out = censored_times(np.array([5.0, 50.0]), np.array([np.nan, np.nan]), end_s=10.0)
    assert out.tolist() == [5.0, 0.0]
