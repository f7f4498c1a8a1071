"""KPIs: the handful of numbers a capacity planner reads first.

Definitions (all over tasks the platform created):

* ``on_time_pct`` -- completed successfully at or before ``completeBefore`` (a task with
  no window counts once it succeeds); open and failed tasks are not on time;
* ``time_to_assign_*`` -- first assignment minus creation; ``time_to_complete_*`` --
  completion minus creation; p50/p90/p99 over the tasks that got there;
* ``utilisation_pct`` -- time travelling or serving over time on duty, fleet-wide;
* ``empty_km`` -- kilometres driven towards a pickup with nothing on board;
* ``tasks_per_worker_hour`` -- successful completions per on-duty hour.

``KPIS`` is the one registry of these names, their units and meanings: the run report's
KPI table, the sweep's ``--target`` check and the sweep report's headline all read it, so a
new KPI is added here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Kpis = dict[str, float | int]


@dataclass(frozen=True, slots=True)
class KpiSpec:
    """One KPI: its ``kpis.json`` key, unit, one-line meaning and which direction is better."""

    name: str
    unit: str
    meaning: str
    better: Literal["higher", "lower"]

    @property
    def note(self) -> str:
        """The meaning with its unit, as the reports show it."""
        return f"{self.meaning} ({self.unit})" if self.unit else self.meaning


KPIS: tuple[KpiSpec, ...] = (
    KpiSpec("tasks_created", "count", "tasks the platform created", "higher"),
    KpiSpec("tasks_completed", "count", "completed successfully", "higher"),
    KpiSpec("tasks_failed", "count", "completed as failed", "lower"),
    KpiSpec("tasks_open", "count", "still open at the end of the run", "lower"),
    KpiSpec(
        "on_time_pct", "%", "created tasks completed successfully within their window", "higher"
    ),
    KpiSpec("time_to_assign_p50_s", "s", "median time from creation to first assignment", "lower"),
    KpiSpec("time_to_assign_p90_s", "s", "90th percentile time to assign", "lower"),
    KpiSpec("time_to_assign_p99_s", "s", "99th percentile time to assign", "lower"),
    KpiSpec("time_to_complete_p50_s", "s", "median time from creation to completion", "lower"),
    KpiSpec("time_to_complete_p90_s", "s", "90th percentile time to complete", "lower"),
    KpiSpec("time_to_complete_p99_s", "s", "99th percentile time to complete", "lower"),
    KpiSpec("utilisation_pct", "%", "time travelling or serving over time on duty", "higher"),
    KpiSpec("km_driven", "km", "distance driven by the whole fleet", "lower"),
    KpiSpec("empty_km", "km", "distance driven towards a pickup with nothing on board", "lower"),
    KpiSpec("tasks_per_worker_hour", "", "successful completions per on-duty hour", "higher"),
    KpiSpec("workers", "count", "fleet size", "lower"),
)
"""Every KPI in ``kpis.json`` order (``compute_kpis`` emits exactly these keys, in this order)."""

KPI_BY_NAME: dict[str, KpiSpec] = {spec.name: spec for spec in KPIS}
KPI_NAMES: tuple[str, ...] = tuple(spec.name for spec in KPIS)
HEADLINE: tuple[str, ...] = (
    "on_time_pct",
    "time_to_complete_p90_s",
    "utilisation_pct",
    "tasks_per_worker_hour",
)
"""The KPIs a summary leads with (the sweep report's table)."""


def _pct(values: pd.Series, q: float) -> float:
    v = values.dropna().to_numpy()
    return float(np.percentile(v, q)) if v.size else math.nan


def compute_kpis(tasks: pd.DataFrame, workers: pd.DataFrame) -> Kpis:
    created = tasks[tasks["created_s"].notna()]
    n_created = len(created)
    completed = created[created["state"] == 3]
    ok = int(completed["success"].sum())
    failed = len(completed) - ok
    assign = created["assigned_s"] - created["created_s"]
    finish = created["completed_s"] - created["created_s"]
    on_duty_s = float(workers["on_duty_s"].sum())
    busy_s = float(workers["busy_s"].sum())
    k: Kpis = {
        "tasks_created": n_created,
        "tasks_completed": ok,
        "tasks_failed": failed,
        "tasks_open": n_created - len(completed),
        "on_time_pct": 100.0 * float(created["on_time"].mean()) if n_created else math.nan,
        "time_to_assign_p50_s": _pct(assign, 50),
        "time_to_assign_p90_s": _pct(assign, 90),
        "time_to_assign_p99_s": _pct(assign, 99),
        "time_to_complete_p50_s": _pct(finish, 50),
        "time_to_complete_p90_s": _pct(finish, 90),
        "time_to_complete_p99_s": _pct(finish, 99),
        "utilisation_pct": 100.0 * busy_s / on_duty_s if on_duty_s > 0 else math.nan,
        "km_driven": float(workers["distance_m"].sum()) / 1000.0,
        "empty_km": float(workers["empty_distance_m"].sum()) / 1000.0,
        "tasks_per_worker_hour": ok / (on_duty_s / 3600.0) if on_duty_s > 0 else math.nan,
        "workers": len(workers),
    }
    # The registry fixes the order of kpis.json; a key here without a spec (or the reverse)
    # is a programming error that the tests catch, so no runtime reordering is paid for.
    return {key: (round(v, 6) if isinstance(v, float) else v) for key, v in k.items()}


def format_kpis(k: Kpis) -> str:
    """A two-column table for the terminal."""
    width = max(len(key) for key in k)
    lines = []
    for key, v in k.items():
        text = f"{v:,.2f}" if isinstance(v, float) else f"{v:,}"
        lines.append(f"{key.ljust(width)}  {text:>14}")
    return "\n".join(lines)
