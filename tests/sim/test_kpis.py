"""The KPI registry: every computed KPI has exactly one spec, in kpis.json order."""

from __future__ import annotations

import math

import pandas as pd

from sim.kpis import HEADLINE, KPI_BY_NAME, KPI_NAMES, KPIS, compute_kpis, format_kpis
from sim.report.run_report import KPI_NOTES


def _tasks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "created_s": [0.0, 10.0, 20.0, None],
            "state": [3, 3, 1, 0],
            "success": [True, False, False, False],
            "assigned_s": [5.0, 30.0, 40.0, None],
            "completed_s": [100.0, 200.0, None, None],
            "on_time": [True, False, False, False],
        }
    )


def _workers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "on_duty_s": [3600.0, 3600.0],
            "busy_s": [1800.0, 900.0],
            "distance_m": [5000.0, 2500.0],
            "empty_distance_m": [1000.0, 0.0],
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
    assert math.isclose(k["on_time_pct"], 100.0 / 3, rel_tol=1e-5)
    assert k["utilisation_pct"] == 37.5
    assert (k["km_driven"], k["empty_km"], k["tasks_per_worker_hour"]) == (7.5, 1.0, 0.5)


def test_specs_are_complete_and_the_report_reads_them() -> None:
    for spec in KPIS:
        assert spec.meaning and spec.better in ("higher", "lower")
        assert KPI_NOTES[spec.name] == spec.note
    assert KPI_BY_NAME["on_time_pct"].note == (
        "created tasks completed successfully within their window (%)"
    )
    assert KPI_BY_NAME["time_to_assign_p90_s"].better == "lower"
    assert "tasks_per_worker_hour" in format_kpis(compute_kpis(_tasks(), _workers()))
