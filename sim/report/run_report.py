"""The report of one run: ``RUN_DIR/report.html`` plus its PNGs beside it.

:func:`write_report` reads a run directory (``sim.output.read_run``), draws the run's
charts, adds the sections its caller provides (``fleetsim`` passes the load-test
replay's), and writes one self-contained page.  The same run always gives the same
bytes (no timestamps, fixed PNG metadata), so reports can be diffed and cached.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pandas as pd

from sim.kpis import KPI_BY_NAME, KPIS
from sim.report.clock import UTC_ZONE, ClockScale, local_time, report_zone, zone_label
from sim.report.figures import Chart, TimeAxis, time_axis
from sim.report.hourly import hourly_chart, hourly_rows, hourly_table
from sim.report.html import Cell, Section, esc, figure_html, page_html, paragraph, table_html
from sim.report.run_charts import (
    DurationUnits,
    destinations_map,
    report_units,
    submission_timeline,
    tasks_by_state,
    time_distributions,
    workers_utilisation,
)

REPORT = "report.html"

KPI_NOTES: dict[str, str] = {spec.name: spec.note for spec in KPIS}
"""Each KPI's meaning and unit (from the registry, ``sim.kpis.KPIS``)."""


@dataclass(frozen=True, slots=True)
class ReportClock:
    """How the page shows time: clock times in ``zone`` (``note`` says why UTC when the
    scenario could not say), each duration quantity in its unit of ``durations``."""

    zone: ZoneInfo = UTC_ZONE
    note: str = ""
    durations: DurationUnits | None = None


class RunLike(Protocol):
    """What the report reads from a run (``sim.output.RunData`` has it all)."""

    tasks: pd.DataFrame
    events: pd.DataFrame
    workers: pd.DataFrame
    submissions: pd.DataFrame
    kpis: dict[str, float | int]

    @property
    def meta(self) -> Mapping[str, Any]:
        """The run's identity (``sim.run_meta.RunMeta``, or any mapping with its keys)."""
        ...


def _start_ms(run: RunLike) -> int | None:
    start = run.meta.get("start_epoch_ms")
    return int(start) if isinstance(start, int | float) and not isinstance(start, bool) else None


def time_scale(run: RunLike, zone: ZoneInfo) -> TimeAxis:
    """Clock time in ``zone`` when the run knows its start, else time since the start."""
    start = _start_ms(run)
    return ClockScale(start, zone) if start is not None else time_axis(_horizon_s(run))


def run_charts(run: RunLike, clock: ReportClock | None = None) -> list[Chart]:
    """Every chart of the single-run part of the report, in page order."""
    clock = clock or ReportClock()
    horizon = _horizon_s(run)
    ts = time_scale(run, clock.zone)
    units = clock.durations or report_units(run.tasks)
    start = _start_ms(run) or 0
    hours = hourly_rows(run.tasks, start, clock.zone, units.complete)
    return [
        tasks_by_state(run.events, horizon, ts),
        workers_utilisation(run.events, run.workers, horizon, ts),
        time_distributions(run.tasks, units),
        hourly_chart(hours, units.complete, zone_label(clock.zone, start)),
        destinations_map(run.tasks, run.events, run.workers),
        submission_timeline(run.submissions, run.tasks, horizon, ts),
    ]


def _horizon_s(run: RunLike) -> float:
    """The time axis' end: the run's end, else the last event, else the demand period."""
    end = run.meta.get("end_s")
    if isinstance(end, int | float) and end > 0:
        return float(end)
    last = float(run.events["time_s"].max()) if len(run.events) else math.nan
    if math.isfinite(last) and last > 0:
        return last
    dur = run.meta.get("duration_s")
    return float(dur) if isinstance(dur, int | float) and dur > 0 else 3600.0


def kpi_table(kpis: Mapping[str, float | int], durations: DurationUnits) -> str:
    """Every KPI with its unit; durations in the unit the charts show that quantity in."""
    rows: list[list[Cell]] = []
    for k, v in kpis.items():
        spec = KPI_BY_NAME.get(k)
        unit = spec.unit if spec is not None else ""
        value: Cell = v
        if unit == "s" and isinstance(v, int | float) and not isinstance(v, bool):
            scale = durations.for_kpi(k)
            value, unit = float(scale(v)), scale.unit
        rows.append([k, value, unit or "–", spec.meaning if spec is not None else ""])
    return table_html(("KPI", "value", "unit", "meaning"), rows)


def _subtitle(meta: Mapping[str, Any], run_dir: Path, zone: ZoneInfo) -> list[str]:
    lines = [f"Run directory: {run_dir.name}"]
    parts = [f"scenario {meta.get('scenario', '?')}", f"seed {meta.get('seed', '?')}"]
    start = meta.get("start_epoch_ms")
    if isinstance(start, int | float):
        when = local_time(int(start), zone)
        parts.append(f"starts {when} ({zone_label(zone, int(start))})")
    dur = meta.get("duration_s")
    if isinstance(dur, int | float):
        parts.append(f"demand for {dur / 3600.0:.2f} h")
    parts.append(f"fleetsim {meta.get('version', '?')}")
    lines.append(" · ".join(parts))
    h = meta.get("scenario_hash")
    if isinstance(h, str):
        lines.append(f"scenario hash {h[:23]}…")
    return lines


#: A provider of extra sections: given the run directory, the sections and charts it adds
#: (none when it has nothing to show).  The composition root passes the load-test replay's.
SectionProvider = Callable[[Path], tuple[list[Section], list[Chart]]]


def build_report(
    run: RunLike, run_dir: Path, extra: Sequence[SectionProvider] = ()
) -> tuple[str, list[Chart]]:
    """The page's HTML and every chart on it (for writing the PNGs).

    ``extra`` adds sections after the run's own, in order (``fleetsim`` passes the
    load-test replay's, :func:`loadtest.replay.report.replay_sections`).
    """
    zone, zone_note = report_zone(run_dir)
    durations = report_units(run.tasks)
    clock = ReportClock(zone, zone_note, durations)
    charts = run_charts(run, clock)
    by_name = {c.name: c for c in charts}
    start = _start_ms(run) or 0
    zone_text = zone_label(zone, start)
    units = (
        f"Clock times are in {zone_text} (scenario.timezone)"
        + (f" — {zone_note}" if zone_note else "")
        + f"; time to assign is in {durations.assign.unit}, time to complete and lateness "
        f"in {durations.complete.unit}, the same in every table and chart (kpis.json keeps "
        "seconds, its _s keys)."
    )
    late = durations.complete
    hours = hourly_rows(run.tasks, start, zone, late)
    sections = [
        Section("Key figures", (paragraph(units), kpi_table(run.kpis, durations))),
        Section(
            "Tasks",
            (figure_html(by_name["tasks_by_state"]), figure_html(by_name["time_distributions"])),
        ),
        Section(
            "By hour of day",
            (
                figure_html(by_name["hourly"]),
                paragraph(
                    f"Tasks by the hour they were created ({zone_text}); on time + late + "
                    "failed + open = created, and the total row's on-time % is the run's "
                    f"on_time_pct.  Lateness ({late.unit}) is completion minus the "
                    "window's end, over the tasks completed late."
                ),
                hourly_table(hours, late, zone_text),
            ),
        ),
        Section(
            "Workers", (figure_html(by_name["workers_utilisation"]), figure_html(by_name["map"]))
        ),
        Section("Submissions", (figure_html(by_name["submissions"]),)),
    ]
    for provide in extra:
        more, more_charts = provide(run_dir)
        sections += more
        charts += more_charts
    scenario = run_dir / "scenario.toml"
    if scenario.is_file():
        text = scenario.read_text("utf-8", errors="replace")
        sections.append(
            Section(
                "Scenario",
                (
                    f"<details><summary>Effective scenario (scenario.toml)</summary>"
                    f"<pre>{esc(text)}</pre></details>",
                ),
            )
        )
    title = f"fleetsim run report: {run.meta.get('scenario', run_dir.name)}"
    return page_html(title, _subtitle(run.meta, run_dir, zone), sections), charts


def write_report(run_dir: Path, extra: Sequence[SectionProvider] = ()) -> Path:
    """Write ``run_dir/report.html`` (and ``report-<chart>.png`` beside it); return the path."""
    from sim.output import read_run

    run_dir = Path(run_dir)
    run = read_run(run_dir)
    page, charts = build_report(run, run_dir, extra)
    for c in charts:
        (run_dir / f"report-{c.name}.png").write_bytes(c.png)
    path = run_dir / REPORT
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, "utf-8")
    tmp.replace(path)
    return path
