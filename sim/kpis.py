"""KPIs: the handful of numbers a capacity planner reads first.

Definitions (all over tasks the platform created):

* ``on_time_pct`` -- completed successfully at or before ``completeBefore`` (a task with
  no window counts once it succeeds); open and failed tasks are not on time;
* ``time_to_assign_*`` -- first assignment minus creation; ``time_to_complete_*`` --
  completion (success or failure) minus creation; p50/p90/p99 over **every** created task,
  a task that never got there censored at the end of the run (it counts as getting there
  then, a lower bound on its true time), with ``tasks_unassigned`` and ``tasks_open``
  beside them saying how many were censored;
* ``utilisation_pct`` -- time travelling or serving over time on duty, fleet-wide;
* ``empty_km`` -- kilometres driven towards a pickup with nothing on board;
* ``tasks_per_worker_hour`` -- successful completions per on-duty hour;
* lateness -- a task's minutes late are its completion (success or failure; the end of the
  run, censored, while still open) minus its window's end, and 0 when that is not after
  the end or the task has no window.  ``late_*`` is over the tasks completed successfully
  but late; ``lateness_*`` over every created task;
* cost -- each worker's paid hours (time on duty, busy or not) at its vehicle's wage, plus
  its kilometres at its vehicle's cost per km (scenario ``[cost]``); per delivery is over
  dropoffs completed successfully (an order with several drops counts each);
* ``tasks_after_shift`` -- completions (success or failure) after the worker's shift end;
* ``tasks_cancelled`` -- tasks the merchant's cancellation deleted: they count in
  ``on_time_pct``'s denominator (never on time) but not in the open, unassigned, time or
  lateness figures, since nothing more happens to them; ``tasks_no_show`` -- dropoffs
  failed because the recipient was absent (also in ``tasks_failed``).
* ``return_km`` / ``return_time_s`` -- the drive back to end hubs at shift end (also in
  ``km_driven``); ``break_h`` -- scheduled breaks taken; ``travel_fallbacks`` -- legs the
  travel matrix or routing engine lacked, driven on the geodesic instead.
* ``solver_left_out`` -- tasks the route optimiser (``optimise``) could not place in any
  route at some solve (capacity, windows, shifts); they stayed unassigned until a later
  solve placed them, or to the end.  (How often ``dispatch.solver_time_limit_s`` cut a
  search is not a KPI: it depends on the machine's load, and outputs must not; see
  :attr:`sim.run.SimResult.solver_time_limit_hits`.)

``KPIS`` is the one registry of these names, their units and meanings: the run report's
KPI table, the sweep's ``--target`` check and the sweep report's headline all read it, so a
new KPI is added here once.  Each spec also carries the KPI's kind and range, which the
sweep's confidence intervals respect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from sim.scenario import Cost

Kpis = dict[str, float | int]


KpiKind = Literal["proportion", "count", "time", "distance", "rate", "money"]
"""What sort of number a KPI is: a percentage of something, a count of things, a duration,
a distance, or a rate per unit of time.  With the range it says which intervals make sense
(all are bootstrap percentile intervals over seeds, see :mod:`sim.sweep.stats`)."""

PCT = (0.0, 100.0)
NONNEG = (0.0, math.inf)


@dataclass(frozen=True, slots=True)
class KpiSpec:
    """One KPI: its ``kpis.json`` key, unit, one-line meaning, which direction is better,
    its kind and its range ``bounds`` (inclusive): a run can never report a value outside
    it, so neither may a confidence interval of its mean."""

    name: str
    unit: str
    meaning: str
    better: Literal["higher", "lower"]
    kind: KpiKind
    bounds: tuple[float, float] = NONNEG

    def __post_init__(self) -> None:
        if not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"KPI {self.name}: empty range {self.bounds}")

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the KPI's range (NaN does not)."""
        return self.bounds[0] <= value <= self.bounds[1]

    @property
    def note(self) -> str:
        """The meaning with its unit, as the reports show it."""
        return f"{self.meaning} ({self.unit})" if self.unit else self.meaning


_CENSORED = (
    "over every created task; one not {0} by the end of the run counts as {0} then "
    "(censored), so the value is a lower bound when that task is at the percentile"
)

KPIS: tuple[KpiSpec, ...] = (
    KpiSpec("tasks_created", "count", "tasks the platform created", "higher", "count"),
    KpiSpec("tasks_completed", "count", "completed successfully", "higher", "count"),
    KpiSpec("tasks_failed", "count", "completed as failed", "lower", "count"),
    KpiSpec("tasks_open", "count", "still open at the end of the run", "lower", "count"),
    KpiSpec("tasks_unassigned", "count", "never assigned by the end of the run", "lower", "count"),
    KpiSpec(
        "on_time_pct",
        "%",
        "created tasks completed successfully within their window",
        "higher",
        "proportion",
        PCT,
    ),
    *(
        KpiSpec(
            f"time_to_assign_p{q}_s",
            "s",
            f"{label} time from creation to first assignment, " + _CENSORED.format("assigned"),
            "lower",
            "time",
        )
        for q, label in ((50, "median"), (90, "90th percentile"), (99, "99th percentile"))
    ),
    *(
        KpiSpec(
            f"time_to_complete_p{q}_s",
            "s",
            f"{label} time from creation to completion (success or failure), "
            + _CENSORED.format("completed"),
            "lower",
            "time",
        )
        for q, label in ((50, "median"), (90, "90th percentile"), (99, "99th percentile"))
    ),
    KpiSpec(
        "utilisation_pct",
        "%",
        "time travelling or serving over time on duty",
        "higher",
        "proportion",
        PCT,
    ),
    KpiSpec("km_driven", "km", "distance driven by the whole fleet", "lower", "distance"),
    KpiSpec(
        "empty_km",
        "km",
        "distance driven towards a pickup with nothing on board",
        "lower",
        "distance",
    ),
    KpiSpec(
        "tasks_per_worker_hour", "", "successful completions per on-duty hour", "higher", "rate"
    ),
    KpiSpec("workers", "count", "fleet size", "lower", "count"),
    KpiSpec("tasks_late", "count", "completed successfully after their window", "lower", "count"),
    KpiSpec("late_mean_min", "min", "mean minutes late, over the late tasks", "lower", "time"),
    KpiSpec(
        "late_p90_min",
        "min",
        "90th percentile of minutes late, over the late tasks",
        "lower",
        "time",
    ),
    KpiSpec(
        "lateness_mean_min",
        "min",
        "mean minutes late over every created task (0 when on time; open ones censored)",
        "lower",
        "time",
    ),
    KpiSpec(
        "lateness_p90_min",
        "min",
        "90th percentile of minutes late over every created task",
        "lower",
        "time",
    ),
    KpiSpec("fleet_hours_paid", "h", "worker-hours on duty (paid, busy or not)", "lower", "time"),
    KpiSpec("fleet_hours_busy", "h", "worker-hours with an active task", "lower", "time"),
    KpiSpec("total_cost", "", "wages for paid hours plus cost per km driven", "lower", "money"),
    KpiSpec(
        "cost_per_delivery",
        "",
        "total cost over dropoffs completed successfully",
        "lower",
        "money",
    ),
    KpiSpec(
        "tasks_within_shift",
        "count",
        "completions (success or failure) by the worker's shift end",
        "higher",
        "count",
    ),
    KpiSpec(
        "tasks_after_shift",
        "count",
        "completions (success or failure) after the worker's shift end",
        "lower",
        "count",
    ),
    KpiSpec(
        "tasks_cancelled",
        "count",
        "deleted by the merchant's cancellation before pickup (never on time)",
        "lower",
        "count",
    ),
    KpiSpec(
        "tasks_no_show",
        "count",
        "failed because the recipient was absent (counted in tasks_failed too)",
        "lower",
        "count",
    ),
    KpiSpec(
        "return_km", "km", "distance driven back to end hubs after shifts", "lower", "distance"
    ),
    KpiSpec("return_time_s", "s", "time driving back to end hubs, fleet-wide", "lower", "time"),
    KpiSpec("break_h", "h", "scheduled break time taken, fleet-wide", "lower", "time"),
    KpiSpec(
        "travel_fallbacks",
        "count",
        "legs the travel matrix or routing engine lacked, driven on the geodesic instead",
        "lower",
        "count",
    ),
    KpiSpec(
        "solver_left_out",
        "count",
        "tasks the route optimiser left out of every route at least once (dispatch.policy "
        "optimise; 0 for the other policies)",
        "lower",
        "count",
    ),
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


def kpi_bounds(name: str) -> tuple[float, float]:
    """The registry's range of KPI ``name``; a name the registry does not know (a test's
    or a plug-in's) is unbounded."""
    spec = KPI_BY_NAME.get(name)
    return spec.bounds if spec is not None else (-math.inf, math.inf)


def censored_times(start_s: np.ndarray, stop_s: np.ndarray, end_s: float) -> np.ndarray:
    """``stop - start`` per task, with a missing stop (NaN) censored at ``end_s``.

    A task that never got there by the end of the run took *at least* ``end_s - start``;
    counting it so keeps it in the percentiles (leaving it out made a run where most tasks
    never finished report its few fast ones).  Never negative."""
    stop = np.where(np.isnan(stop_s), np.maximum(end_s, start_s), stop_s)
    out: np.ndarray = np.maximum(stop - start_s, 0.0)
    return out


def _total(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].sum()) if column in frame else 0.0


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else math.nan


def _floats(frame: pd.DataFrame, col: str) -> np.ndarray:
    """A column as float numpy, missing values NaN (plain and nullable columns alike)."""
    return np.asarray(frame[col].to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _money(
    tasks: pd.DataFrame, workers: pd.DataFrame, ok: np.ndarray, cost: Cost
) -> tuple[float, float]:
    """Total cost and cost per successful dropoff (module docstring)."""
    vehicles = workers["vehicle"].astype(str).to_numpy()
    wage = np.array([cost.wage(v) for v in vehicles], dtype=float)
    per_km = np.array([cost.per_km(v) for v in vehicles], dtype=float)
    total = float(
        (wage * _floats(workers, "on_duty_s") / 3600.0).sum()
        + (per_km * _floats(workers, "distance_m") / 1000.0).sum()
    )
    pickup = np.asarray(tasks["is_pickup"].astype("boolean").fillna(False), dtype=bool)
    deliveries = int((ok & ~pickup).sum())
    return total, (total / deliveries if deliveries else math.nan)


def _shift_split(tasks: pd.DataFrame, workers: pd.DataFrame) -> tuple[int, int]:
    """Completions by and after the completing worker's shift end."""
    done_s = _floats(tasks, "completed_s")
    wid = _floats(tasks, "worker_id")
    done = np.isfinite(done_s) & np.isfinite(wid)
    if not done.any():
        return 0, 0
    ends = pd.Series(_floats(workers, "shift_end_s"), index=workers["worker_id"].to_numpy())
    shift_end = ends.reindex(wid[done].astype(np.int64)).to_numpy(dtype=float)
    after = int((done_s[done] > shift_end).sum())
    return int(done.sum()) - after, after


def compute_kpis(
    tasks: pd.DataFrame,
    workers: pd.DataFrame,
    end_s: float | None = None,
    cost: Cost | None = None,
    solver_left_out: int = 0,
) -> Kpis:
    """The KPIs of one run from its task and worker tables (see the module docstring).

    ``end_s`` is when the run stopped, where unassigned and unfinished tasks are censored;
    without it, the latest time in the task table stands in.  ``cost`` is the scenario's
    ``[cost]`` section (its defaults without one)."""
    created = tasks[tasks["created_s"].notna()]
    n_created = len(created)
    completed = created[created["state"] == 3]
    ok = int(completed["success"].sum())
    failed = len(completed) - ok
    cancelled = (
        np.isfinite(_floats(created, "cancelled_s"))
        if "cancelled_s" in created
        else np.zeros(n_created, dtype=bool)
    )
    no_show = int(created["no_show"].sum()) if "no_show" in created else 0
    created_s = created["created_s"].to_numpy(dtype=float)
    assigned_s = created["assigned_s"].to_numpy(dtype=float)
    completed_s = created["completed_s"].to_numpy(dtype=float)
    if end_s is None:
        seen = np.concatenate([created_s, assigned_s, completed_s])
        seen = seen[np.isfinite(seen)]
        end_s = float(seen.max()) if seen.size else 0.0
    # A cancelled task waits for nothing more: it leaves the time KPIs (it is still a
    # created task that was not on time).
    live = ~cancelled
    assign = censored_times(created_s[live], assigned_s[live], end_s)
    finish = censored_times(created_s[live], completed_s[live], end_s)
    on_duty_s = float(workers["on_duty_s"].sum())
    busy_s = float(workers["busy_s"].sum())
    # Lateness: completion (or the end of the run, censored) minus the window's end.
    before_s = created["complete_before_s"].to_numpy(dtype=float, na_value=np.nan)
    finish_at = np.where(np.isnan(completed_s), end_s, completed_s)
    late_by = np.where(np.isnan(before_s), 0.0, np.maximum(finish_at - before_s, 0.0)) / 60.0
    late_by = late_by[live]
    success = np.asarray(created["success"].astype("boolean").fillna(False), dtype=bool)
    late = success[live] & (late_by > 0)
    total_cost, per_delivery = _money(created, workers, success, cost or Cost())
    within, after = _shift_split(created, workers)
    k: Kpis = {
        "tasks_created": n_created,
        "tasks_completed": ok,
        "tasks_failed": failed,
        "tasks_open": n_created - len(completed) - int(cancelled.sum()),
        "tasks_unassigned": int((np.isnan(assigned_s) & live).sum()),
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
        "tasks_late": int(late.sum()),
        "late_mean_min": _mean(late_by[late]),
        "late_p90_min": _pct(late_by[late], 90),
        "lateness_mean_min": _mean(late_by),
        "lateness_p90_min": _pct(late_by, 90),
        "fleet_hours_paid": on_duty_s / 3600.0,
        "fleet_hours_busy": busy_s / 3600.0,
        "total_cost": total_cost,
        "cost_per_delivery": per_delivery,
        "tasks_within_shift": within,
        "tasks_after_shift": after,
        "tasks_cancelled": int(cancelled.sum()),
        "tasks_no_show": no_show,
        # Tables written before rosters and matrices lack these columns: zero then.
        "return_km": _total(workers, "return_distance_m") / 1000.0,
        "return_time_s": _total(workers, "return_s"),
        "break_h": _total(workers, "break_s") / 3600.0,
        "travel_fallbacks": int(_total(workers, "travel_fallbacks")),
        "solver_left_out": solver_left_out,
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
