"""The charts of one simulated run, drawn from its tables (``tasks``, ``events``,
``workers``, ``submissions``; schemas in docs/CONTRACTS.md).

Concepts held here: step series rebuilt from the event log (tasks by state, workers on
duty and busy), the time-to-assign/complete distributions against the time window, the
map of destinations and worker tracks, and the submission timeline.  Each function
returns a :class:`~sim.report.figures.Chart`; none mutates its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from sim.report.figures import (
    PALETTE,
    Chart,
    TimeAxis,
    TimeScale,
    chart,
    duration_scale,
    empty_chart,
    new_figure,
    style,
)

GRID_POINTS = 720  # samples along the time axis: smooth on screen, cheap for big runs
#: Past this many tasks the map shows destination density (hexagonal cells), not dots.
DENSITY_THRESHOLD = 2000
# Event kinds -> task state codes; 3 (completed) is split into success (3) and failure (4).
_STATE_OF_KIND = {
    "taskCreated": 0,
    "taskUnassigned": 0,
    "taskAssigned": 1,
    "taskStarted": 2,
    "taskCompleted": 3,
    "taskFailed": 4,
}
_STATE_NAMES = ("unassigned", "assigned", "active", "completed", "failed")


def step_counts(times: np.ndarray, deltas: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The running sum of ``deltas`` (sorted by ``times``) sampled at each ``grid`` time,
    counting changes at exactly that time."""
    cum = np.cumsum(deltas)
    idx = np.searchsorted(times, grid, side="right") - 1
    return np.where(idx >= 0, cum[np.clip(idx, 0, None)], 0)


def state_series(events: pd.DataFrame, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Number of tasks in each state at each grid time, rebuilt from the event log."""
    ev = events[events["kind"].isin(list(_STATE_OF_KIND))]
    ev = ev.sort_values("time_s", kind="stable")
    state = ev["kind"].astype(str).map(_STATE_OF_KIND).to_numpy(dtype=np.int64)
    prev = (
        pd.Series(state, index=ev.index)
        .groupby(ev["task_id"].to_numpy())
        .shift(1)
        .fillna(-1)
        .to_numpy(dtype=np.int64)
    )
    times = ev["time_s"].to_numpy(dtype=float)
    out: dict[str, np.ndarray] = {}
    for code, name in enumerate(_STATE_NAMES):
        deltas = (state == code).astype(np.int64) - (prev == code).astype(np.int64)
        out[name] = step_counts(times, deltas, grid)
    return out


def duty_series(events: pd.DataFrame, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Workers on duty, and workers busy (travelling to or serving a task), at each time."""
    duty = events[events["kind"] == "workerDuty"]
    d_delta = np.where(duty["detail"].astype(str).to_numpy() == "on", 1, -1)
    on_duty = step_counts(duty["time_s"].to_numpy(dtype=float), d_delta, grid)

    kinds = {"taskStarted": 1, "taskCompleted": -1, "taskFailed": -1}
    act = events[events["kind"].isin(list(kinds)) & (events["worker_id"] >= 0)]
    act = act.sort_values("time_s", kind="stable")
    delta = act["kind"].astype(str).map(kinds).to_numpy(dtype=np.int64)
    wid = act["worker_id"].to_numpy()
    # Per worker: count of tasks in progress; a worker is busy while that count is > 0.
    running = pd.Series(delta).groupby(wid).cumsum().clip(lower=0).to_numpy()
    busy = (running > 0).astype(np.int64)
    prev = pd.Series(busy).groupby(wid).shift(1).fillna(0).to_numpy(dtype=np.int64)
    busy_now = step_counts(act["time_s"].to_numpy(dtype=float), busy - prev, grid)
    return on_duty, busy_now


def tasks_by_state(events: pd.DataFrame, horizon_s: float, ts: TimeAxis) -> Chart:
    title = "Tasks by state over time"
    if events.empty:
        return empty_chart("tasks_by_state", title, "no events in this run")
    grid = np.linspace(0.0, horizon_s, GRID_POINTS)
    s = state_series(events, grid)
    x = ts(grid)
    with style():
        fig = new_figure(9.5, 5.2)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        open_names = ("unassigned", "assigned", "active")
        top.stackplot(
            x,
            *(s[n] for n in open_names),
            labels=open_names,
            colors=[PALETTE[n] for n in open_names],
            alpha=0.85,
            step="post",
        )
        top.set_ylabel("open tasks (count)")
        top.legend(loc="upper left", ncols=3)
        top.set_title("Open tasks by state (stacked)", fontsize=10, fontweight="normal")
        done_names = ("completed", "failed")
        bottom.stackplot(
            x,
            *(s[n] for n in done_names),
            labels=done_names,
            colors=[PALETTE[n] for n in done_names],
            alpha=0.85,
            step="post",
        )
        bottom.set_ylabel("finished tasks (count)")
        bottom.set_xlabel(ts.label)
        ts.decorate(bottom)
        bottom.legend(loc="upper left", ncols=2)
        fig.suptitle(title, fontweight="bold")
        return chart(
            "tasks_by_state",
            title,
            "A growing red band means tasks wait for a worker: the fleet is short; the "
            "finished tasks should climb steadily and level off once demand ends.",
            fig,
        )


def workers_utilisation(
    events: pd.DataFrame, workers: pd.DataFrame, horizon_s: float, ts: TimeAxis
) -> Chart:
    title = "Workers on duty and their utilisation"
    if events.empty or workers.empty:
        return empty_chart("workers_utilisation", title, "no workers in this run")
    grid = np.linspace(0.0, horizon_s, GRID_POINTS)
    on_duty, busy = duty_series(events, grid)
    x = ts(grid)
    util = np.where(on_duty > 0, 100.0 * busy / np.maximum(on_duty, 1), np.nan)
    per_worker = 100.0 * workers["busy_s"] / workers["on_duty_s"].where(workers["on_duty_s"] > 0)
    with style():
        fig = new_figure(9.5, 5.2)
        gs = fig.add_gridspec(2, 3)
        ax1 = fig.add_subplot(gs[0, :2])
        ax2 = fig.add_subplot(gs[1, :2], sharex=ax1)
        ax3 = fig.add_subplot(gs[:, 2])
        ax1.step(x, on_duty, where="post", color="#333333", label="on duty")
        ax1.fill_between(
            x,
            busy,
            step="post",
            color=PALETTE["active"],
            alpha=0.6,
            label="busy (travelling or serving)",
        )
        ax1.set_ylabel("workers (count)")
        ax1.legend(loc="upper right")
        ax2.plot(x, util, color=PALETTE["accent"], drawstyle="steps-post")
        overall = float(workers["busy_s"].sum() / max(float(workers["on_duty_s"].sum()), 1e-9))
        ax2.axhline(
            100.0 * overall,
            color="#333333",
            ls="--",
            lw=1,
            label=f"whole run: {100.0 * overall:.1f}%",
        )
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("busy / on duty (%)")
        ax2.set_xlabel(ts.label)
        ts.decorate(ax2)
        ax2.legend(loc="lower right")
        vals = per_worker.dropna().to_numpy(dtype=float)
        ax3.hist(
            vals,
            bins=[float(b) for b in np.linspace(0, 100, 21)],
            color=PALETTE["active"],
            alpha=0.8,
        )
        ax3.set_xlabel("utilisation per worker (%)")
        ax3.set_ylabel("workers (count)")
        ax3.set_title("Per worker", fontsize=10, fontweight="normal")
        fig.suptitle(title, fontweight="bold")
        return chart(
            "workers_utilisation",
            title,
            "Utilisation pinned near 100% while tasks wait means too few workers; long "
            "stretches far below it mean the fleet is larger than demand needs.",
            fig,
        )


def _percentile_lines(ax: Axes, values: np.ndarray, scale: TimeScale) -> None:
    for q, ls in ((50, "-"), (90, "--"), (99, ":")):
        v = float(np.percentile(values, q))
        ax.axvline(
            scale(v),
            color="#333333",
            ls=ls,
            lw=1,
            label=f"p{q} = {scale(v):.1f} {scale.unit}",
        )


@dataclass(frozen=True, slots=True)
class DurationUnits:
    """The unit each duration quantity is shown in, the same in every table and chart:
    time to assign in ``assign``; time to complete, lateness and slack against the window
    in ``complete`` (one quantity family: minutes around a delivery window)."""

    assign: TimeScale
    complete: TimeScale

    def for_kpi(self, name: str) -> TimeScale:
        """The unit of a KPI measured in seconds (``time_to_assign_p90_s`` and so on)."""
        return self.assign if name.startswith("time_to_assign") else self.complete


def _durations(tasks: pd.DataFrame, end: str) -> np.ndarray:
    d = tasks[end].to_numpy(dtype=float, na_value=np.nan) - tasks["created_s"].to_numpy(
        dtype=float, na_value=np.nan
    )
    out: np.ndarray = d[np.isfinite(d)]
    return out


def report_units(tasks: pd.DataFrame) -> DurationUnits:
    """Each quantity's unit (s, min or h) by the 90th percentile of its own values."""
    if tasks.empty:
        return DurationUnits(TimeScale(1.0, "s"), TimeScale(1.0, "s"))
    return DurationUnits(
        duration_scale(_durations(tasks, "assigned_s")),
        duration_scale(_durations(tasks, "completed_s")),
    )


def time_distributions(tasks: pd.DataFrame, units: DurationUnits | None = None) -> Chart:
    """Time to assign, time to complete and slack against the window, in ``units``
    (default :func:`report_units`) so the charts read like the tables."""
    title = "Time to assign and time to complete"
    created = tasks[tasks["created_s"].notna()]
    if created.empty:
        return empty_chart("time_distributions", title, "no tasks were created")
    units = units or report_units(tasks)
    assign = (created["assigned_s"] - created["created_s"]).dropna().to_numpy(dtype=float)
    finished = created[(created["state"] == 3) & created["success"].astype(bool)]
    complete = (finished["completed_s"] - finished["created_s"]).dropna().to_numpy(dtype=float)
    windowed = finished[finished["complete_before_s"].notna()]
    slack = (windowed["complete_before_s"] - windowed["completed_s"]).to_numpy(dtype=float)
    on_time = 100.0 * float(created["on_time"].astype(bool).mean())
    with style():
        fig = new_figure(10.5, 3.8)
        axes = fig.subplots(1, 3)
        for ax, values, what, sc in (
            (axes[0], assign, "time to assign", units.assign),
            (axes[1], complete, "time to complete", units.complete),
        ):
            ax.set_xlabel(f"{what}, from task creation ({sc.unit})")
            if values.size == 0:
                ax.text(0.5, 0.5, f"no {what} data", ha="center", transform=ax.transAxes)
                continue
            ax.hist(sc(values), bins=40, color=PALETTE["active"], alpha=0.8)
            _percentile_lines(ax, values, sc)
            ax.set_ylabel("tasks (count)")
            ax.legend(loc="best")
        axes[0].set_title("Time to assign", fontsize=10)
        axes[1].set_title("Time to complete (successful)", fontsize=10)
        ax = axes[2]
        sc = units.complete
        if slack.size:
            late = slack < 0
            bins = np.linspace(float(sc(slack).min()), float(sc(slack).max()) + 1e-9, 40)
            ax.hist(
                sc(slack[~late]), bins=bins, color=PALETTE["completed"], alpha=0.8, label="on time"
            )
            ax.hist(
                sc(slack[late]), bins=bins, color=PALETTE["unassigned"], alpha=0.8, label="late"
            )
            ax.axvline(0, color="#333333", lw=1)
            ax.set_xlabel(f"window end − completion ({sc.unit}); < 0 late")
            ax.legend(loc="upper left")
        else:
            ax.text(0.5, 0.5, "no time windows", ha="center", transform=ax.transAxes)
            ax.set_xlabel(f"slack against the window ({sc.unit})")
        ax.set_ylabel("tasks (count)")
        ax.set_title(f"Against the window: {on_time:.1f}% on time", fontsize=10)
        fig.suptitle(f"{title} ({on_time:.1f}% of created tasks on time)", fontweight="bold")
        return chart(
            "time_distributions",
            title,
            "Long right tails are the customers who waited; on-time % counts every created "
            "task, so open and failed tasks count against it.  Units as in the tables.",
            fig,
        )


def destinations_map(tasks: pd.DataFrame, events: pd.DataFrame, workers: pd.DataFrame) -> Chart:
    title = "Map of destinations and worker tracks"
    if tasks.empty:
        return empty_chart("map", title, "no tasks to map")
    starts = events[events["kind"] == "taskStarted"].drop_duplicates("task_id", keep="last")
    arrivals = events[events["kind"] == "taskArrival"].drop_duplicates("task_id", keep="last")
    legs = starts.merge(arrivals, on="task_id", suffixes=("_from", "_to"))
    lat0 = float(tasks["lat"].mean())
    big = len(tasks) > DENSITY_THRESHOLD
    with style():
        fig = new_figure(10.5, 5.8)
        left, right = fig.subplots(1, 2, sharex=True, sharey=True)
        size = 2 if big else 12
        if big:
            # Thousands of dots hide each other: count destinations per hexagonal cell.
            cells = left.hexbin(
                tasks["lon"].to_numpy(dtype=float),
                tasks["lat"].to_numpy(dtype=float),
                gridsize=45,
                mincnt=1,
                norm=LogNorm(),
                cmap="viridis",
                linewidths=0.0,
            )
            fig.colorbar(cells, ax=left, shrink=0.8, label="destinations per cell (count, log)")
            left.set_title(
                f"Destination density ({len(tasks):,} tasks, pickups and dropoffs)", fontsize=10
            )
        else:
            drop = tasks[~tasks["is_pickup"].astype(bool)]
            pick = tasks[tasks["is_pickup"].astype(bool)]
            left.scatter(drop["lon"], drop["lat"], s=size, color=PALETTE["active"], label="dropoff")
            left.scatter(
                pick["lon"],
                pick["lat"],
                s=size * 1.6,
                marker="^",
                color=PALETTE["assigned"],
                label="pickup",
            )
            left.set_title(f"Destinations ({len(tasks):,} tasks)", fontsize=10)
        if len(legs):
            segs = np.stack(
                [
                    legs[["lon_from", "lat_from"]].to_numpy(dtype=float),
                    legs[["lon_to", "lat_to"]].to_numpy(dtype=float),
                ],
                axis=1,
            )
            # Colour by worker (20 colours, cycled); fade as legs multiply so density shows.
            colours = legs["worker_id_to"].to_numpy() % 20
            alpha = 0.6 if len(legs) < 500 else max(0.05, 300.0 / len(legs))
            lc = LineCollection(list(segs), cmap="tab20", linewidths=0.7, alpha=alpha)
            lc.set_array(colours.astype(float))
            lc.set_clim(0, 19)
            right.add_collection(lc)
        right.set_title(f"Worker tracks, departure → destination ({len(legs):,} legs)", fontsize=10)
        for ax in (left, right):
            if not workers.empty:
                ax.scatter(
                    workers["start_lon"],
                    workers["start_lat"],
                    s=14,
                    marker="x",
                    color="#222222",
                    label="worker start",
                    zorder=4,
                )
            # Equirectangular with the right aspect: a degree of longitude is cos(lat) long.
            ax.set_aspect(1.0 / max(math.cos(math.radians(lat0)), 1e-3))
            ax.autoscale_view()
            ax.set_xlabel("longitude (°)")
            ax.xaxis.set_major_locator(MaxNLocator(5))
        left.set_ylabel("latitude (°)")
        if left.get_legend_handles_labels()[1]:
            left.legend(loc="lower left", markerscale=1.2, framealpha=0.8, frameon=True)
        fig.suptitle(title, fontweight="bold")
        return chart(
            "map",
            title,
            "Clusters of destinations far from where workers start, or tracks that cross the "
            "whole area, point at long empty trips and a dispatch policy worth changing."
            + (
                f"  Past {DENSITY_THRESHOLD:,} tasks the left panel counts destinations per "
                "hexagonal cell (log colour scale) instead of drawing dots that hide each other."
                if big
                else ""
            ),
            fig,
        )


def submission_timeline(
    submissions: pd.DataFrame, tasks: pd.DataFrame, horizon_s: float, ts: TimeAxis
) -> Chart:
    title = "Submission and batch timeline"
    if submissions.empty:
        return empty_chart("submissions", title, "no submissions in this run")
    with style():
        fig = new_figure(9.5, 5.2)
        top, bottom = fig.subplots(2, 1, sharex=True)
        modes = submissions["mode"].astype(str)
        for i, (mode, g) in enumerate(submissions.groupby(modes, sort=True)):
            colour = f"C{i}"
            sent = ts(g["sent_s"].to_numpy(dtype=float))
            avail = ts(g["available_s"].fillna(g["acked_s"]).to_numpy(dtype=float))
            n = g["n_tasks"].to_numpy(dtype=float)
            top.hlines(n, sent, avail, lw=2, alpha=0.7, color=colour)
            top.scatter(sent, n, s=12, label=f"{mode} ({len(g)} calls)", zorder=3, color=colour)
        top.set_ylim(0, float(submissions["n_tasks"].max()) * 1.15 + 0.5)
        top.yaxis.set_major_locator(MaxNLocator(integer=True))
        top.set_ylabel("tasks per call (count)")
        top.legend(loc="upper right")
        top.set_title(
            "Each call: sent (dot) until its tasks are available (line)",
            fontsize=10,
            fontweight="normal",
        )
        grid = np.linspace(0.0, horizon_s, GRID_POINTS)
        for col, label, colour, ls in (
            ("ordered_s", "orders arrived", "#333333", "-"),
            ("created_s", "tasks created on the platform", PALETTE["active"], "--"),
        ):
            t = np.sort(tasks[col].dropna().to_numpy(dtype=float))
            bottom.step(
                ts(grid),
                np.searchsorted(t, grid, side="right"),
                where="post",
                label=label,
                color=colour,
                ls=ls,
            )
        bottom.set_ylabel("tasks (cumulative count)")
        bottom.set_xlabel(ts.label)
        ts.decorate(bottom)
        bottom.legend(loc="upper left")
        fig.suptitle(title, fontweight="bold")
        return chart(
            "submissions",
            title,
            "The horizontal gap between the two curves in the lower panel is the "
            "submission delay; batching trades that delay for fewer API calls.",
            fig,
        )
