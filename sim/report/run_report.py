"""The report of one run: ``RUN_DIR/report.html`` plus its PNGs beside it.

:func:`write_report` reads a run directory (``sim.output.read_run``), draws the run's
charts, adds the sections its caller provides (``fleetsim`` passes the load-test
replay's), and writes one self-contained page.  The same run always gives the same
bytes (no timestamps, fixed PNG metadata), so reports can be diffed and cached.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from sim.kpis import KPIS
from sim.report.figures import Chart, time_axis
from sim.report.html import Cell, Section, esc, figure_html, page_html, table_html
from sim.report.run_charts import (
    destinations_map,
    submission_timeline,
    tasks_by_state,
    time_distributions,
    workers_utilisation,
)

REPORT = "report.html"

KPI_NOTES: dict[str, str] = {spec.name: spec.note for spec in KPIS}
"""Each KPI's meaning and unit for the KPI table (from the registry, ``sim.kpis.KPIS``)."""


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


def run_charts(run: RunLike) -> list[Chart]:
    """Every chart of the single-run part of the report, in page order."""
    horizon = _horizon_s(run)
    ts = time_axis(horizon)
    return [
        tasks_by_state(run.events, horizon, ts),
        workers_utilisation(run.events, run.workers, horizon, ts),
        time_distributions(run.tasks),
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


def kpi_table(kpis: Mapping[str, float | int]) -> str:
    rows: list[list[Cell]] = [[k, v, KPI_NOTES.get(k, "")] for k, v in kpis.items()]
    return table_html(("KPI", "value", "meaning"), rows)


def _subtitle(meta: Mapping[str, Any], run_dir: Path) -> list[str]:
    lines = [f"Run directory: {run_dir.name}"]
    parts = [f"scenario {meta.get('scenario', '?')}", f"seed {meta.get('seed', '?')}"]
    start = meta.get("start_epoch_ms")
    if isinstance(start, int | float):
        when = datetime.fromtimestamp(start / 1000.0, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(f"starts {when}")
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
    charts = run_charts(run)
    by_name = {c.name: c for c in charts}
    sections = [
        Section("Key figures", (kpi_table(run.kpis),)),
        Section(
            "Tasks",
            (figure_html(by_name["tasks_by_state"]), figure_html(by_name["time_distributions"])),
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
    return page_html(title, _subtitle(run.meta, run_dir), sections), charts


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
