"""On-time % and lateness by hour of day, in the scenario's time zone.

Concepts held here:

* :class:`HourRow` -- one hour of the day (local): the tasks created in it, split into
  on time, late, failed and still open (the four add up to ``created``), and how late the
  late ones were (median and 90th percentile, in the report's duration unit).
* :func:`hourly_rows` -- the rows from the task table, bucketed by the hour each task was
  *created* (the on-time KPI counts every created task, so the hours add up to it).
* :func:`hourly_chart` / :func:`hourly_table` -- the same numbers as a chart and a table.

Lateness is completion minus the window's end, for tasks completed successfully after
it; open tasks are counted but not timed (their lateness is not known yet).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sim.report.clock import local_hours
from sim.report.figures import PALETTE, Chart, TimeScale, chart, empty_chart, new_figure, style
from sim.report.html import Cell, table_html


@dataclass(frozen=True, slots=True)
class HourRow:
    """One local hour of the day; lateness in the report's duration unit (NaN: none late)."""

    hour: int
    created: int
    on_time: int
    late: int
    failed: int
    open: int
    lateness_p50: float
    lateness_p90: float

    @property
    def on_time_pct(self) -> float:
        return 100.0 * self.on_time / self.created if self.created else math.nan

    @property
    def label(self) -> str:
        return f"{self.hour:02d}:00–{(self.hour + 1) % 24:02d}:00"


def _seconds(tasks: pd.DataFrame, col: str) -> np.ndarray:
    """A time column as float seconds, missing values NaN (numpy and nullable columns)."""
    return np.asarray(tasks[col].to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _flag(tasks: pd.DataFrame, col: str) -> np.ndarray:
    """A boolean column as numpy, missing values false (nullable and plain columns alike)."""
    return np.asarray(tasks[col].astype("boolean").fillna(False), dtype=bool)


def hourly_rows(
    tasks: pd.DataFrame, start_epoch_ms: int, zone: ZoneInfo, unit: TimeScale
) -> list[HourRow]:
    """One row per local hour that saw tasks created, in hour order (module docstring)."""
    created_s = _seconds(tasks, "created_s")
    created = np.isfinite(created_s)
    hours = local_hours(start_epoch_ms, created_s, zone)
    completed_s = _seconds(tasks, "completed_s")
    done = np.isfinite(completed_s)
    success = _flag(tasks, "success") & done
    on_time = _flag(tasks, "on_time") & success
    late = success & ~on_time
    failed = done & ~success
    lateness = completed_s - _seconds(tasks, "complete_before_s")
    rows: list[HourRow] = []
    for h in sorted(set(hours[created].tolist())):
        at = created & (hours == h)
        lt = lateness[at & late]
        lt = unit(lt[np.isfinite(lt)])
        rows.append(
            HourRow(
                hour=int(h),
                created=int(at.sum()),
                on_time=int((at & on_time).sum()),
                late=int((at & late).sum()),
                failed=int((at & failed).sum()),
                open=int((at & ~done).sum()),
                lateness_p50=float(np.percentile(lt, 50)) if lt.size else math.nan,
                lateness_p90=float(np.percentile(lt, 90)) if lt.size else math.nan,
            )
        )
    return rows


def hourly_table(rows: Sequence[HourRow], unit: TimeScale, zone_text: str) -> str:
    """The rows as an HTML table, with a total row whose on-time % is the run's KPI."""
    headers = (
        f"hour created ({zone_text})",
        "created (count)",
        "on time (count)",
        "on time (%)",
        "late (count)",
        "failed (count)",
        "open at end (count)",
        f"lateness p50 ({unit.unit})",
        f"lateness p90 ({unit.unit})",
    )
    body: list[list[Cell]] = [
        [
            r.label,
            r.created,
            r.on_time,
            r.on_time_pct,
            r.late,
            r.failed,
            r.open,
            r.lateness_p50,
            r.lateness_p90,
        ]
        for r in rows
    ]
    if rows:
        created = sum(r.created for r in rows)
        on_time = sum(r.on_time for r in rows)
        body.append(
            [
                "all hours",
                created,
                on_time,
                100.0 * on_time / created if created else math.nan,
                sum(r.late for r in rows),
                sum(r.failed for r in rows),
                sum(r.open for r in rows),
                None,
                None,
            ]
        )
    return table_html(headers, body, scroll=len(body) > 14)


def hourly_chart(rows: Sequence[HourRow], unit: TimeScale, zone_text: str) -> Chart:
    title = "On time and lateness by hour of day"
    if not rows:
        return empty_chart("hourly", title, "no tasks were created")
    x = np.arange(len(rows), dtype=float)
    labels = [f"{r.hour:02d}" for r in rows]
    with style():
        fig = new_figure(9.5, 4.8)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        pct = np.array([r.on_time_pct for r in rows])
        top.bar(x, pct, color=PALETTE["completed"], alpha=0.85, label="on time")
        for xi, r in zip(x, rows, strict=True):
            top.annotate(
                f"{r.created:,}",
                (xi, 0),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color="#ffffff" if r.on_time_pct > 12 else "#333333",
            )
        top.set_ylim(0, 105)
        top.set_ylabel("created tasks on time (%)")
        top.set_title(
            "Bars: on-time % of the tasks created in that hour (count at the foot)",
            fontsize=10,
            fontweight="normal",
        )
        p50 = np.array([r.lateness_p50 for r in rows])
        p90 = np.array([r.lateness_p90 for r in rows])
        bottom.bar(x - 0.2, p50, width=0.4, color=PALETTE["assigned"], label="median")
        bottom.bar(x + 0.2, p90, width=0.4, color=PALETTE["unassigned"], label="90th percentile")
        bottom.set_ylabel(f"lateness of late tasks ({unit.unit})")
        bottom.set_xlabel(f"hour of day the task was created ({zone_text})")
        bottom.set_xticks(x, labels)
        bottom.legend(loc="upper left", ncols=2)
        fig.suptitle(title, fontweight="bold")
        return chart(
            "hourly",
            title,
            "A dip in the bars at one hour is a rush the fleet does not absorb; the lower "
            f"panel says how late the late ones were ({unit.unit}).  Open and failed tasks "
            "count against on-time % but have no lateness.",
            fig,
        )
