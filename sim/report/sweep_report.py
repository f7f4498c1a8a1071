"""The report of a sweep: ``SWEEP_DIR/report.html`` comparing the variants.

It reads what :func:`sim.sweep.run_sweep` wrote (``sweep.parquet`` and ``sweep.json``),
so it can be redrawn at any time with ``fleetsim report SWEEP_DIR``.  The page answers
the capacity question first (the target searches), then lists every variant with its
95% intervals and whether it meets the target, then (with ``--baseline-variant``) each
variant's paired per-seed differences from the baseline, then plots every KPI against
every swept parameter with CI bands, and lists failed runs with their errors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from sim.errors import UserError
from sim.kpis import KPI_BY_NAME
from sim.report.figures import Chart, chart, new_figure, style
from sim.report.html import (
    Badge,
    Cell,
    Section,
    code_paragraph,
    figure_html,
    page_html,
    paragraph,
    table_html,
)
from sim.report.sweep_answer import (
    answer_sentence,
    higher_is_better,
    kpi_unit,
    paired_chart,
    question_kpi,
    split_kpis,
)
from sim.sweep.meta import SweepMeta, read_meta
from sim.sweep.paired import paired_table
from sim.sweep.store import META, PAIRED, PARQUET
from sim.sweep.summary import kpi_columns, summarise
from sim.sweep.target import Target

REPORT = "report.html"


def _label(params: Sequence[str], values: Sequence[Any]) -> str:
    return ", ".join(f"{p}={v}" for p, v in zip(params, values, strict=True)) or "all runs"


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s)) and not pd.api.types.is_bool_dtype(s)


def _whole_numbers(s: pd.Series) -> bool:
    """Integer-typed, or floats that are all whole numbers (a fleet size read back as 60.0)."""
    if pd.api.types.is_integer_dtype(s):
        return True
    values = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)
    return bool(values.size) and bool(np.all(values == np.round(values)))


def _plot_against(
    ax: Axes,
    summary: pd.DataFrame,
    kpi: str,
    param: str,
    others: Sequence[str],
    target: Target | None,
) -> None:
    """Mean and 95% CI of ``kpi`` against ``param``, one series per value of the others."""
    groups = (
        list(summary.groupby(list(others), sort=False, dropna=False)) if others else [((), summary)]
    )
    numeric = _is_numeric(summary[param])
    categories = list(dict.fromkeys(summary[param].astype(str)))
    for i, (key, g) in enumerate(groups):
        values = key if isinstance(key, tuple) else (key,)
        label = _label(others, values) if others else None  # one series needs no legend
        mean = g[f"{kpi}_mean"].to_numpy(dtype=float)
        low = g[f"{kpi}_ci_low"].to_numpy(dtype=float)
        high = g[f"{kpi}_ci_high"].to_numpy(dtype=float)
        colour = f"C{i % 10}"
        if numeric:
            order = np.argsort(g[param].to_numpy(dtype=float))
            x = g[param].to_numpy(dtype=float)[order]
            ax.plot(x, mean[order], marker="o", ms=4, color=colour, label=label)
            ax.fill_between(x, low[order], high[order], color=colour, alpha=0.2, lw=0)
        else:
            pos = np.array([categories.index(str(v)) for v in g[param]], dtype=float)
            pos = pos + (i - (len(groups) - 1) / 2) * 0.08
            err = np.vstack([mean - low, high - mean])
            ax.errorbar(
                pos, mean, yerr=np.nan_to_num(err), fmt="o", capsize=4, color=colour, label=label
            )
    if not numeric:
        ax.set_xticks(range(len(categories)), categories)
    elif _whole_numbers(summary[param]):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if target is not None and target.kpi == kpi:
        ax.axhline(target.limit, color="#c62828", ls="--", lw=1, label=f"target {target}")
    ax.set_xlabel(param + (" (workers)" if param == "fleet.workers" else ""))


def kpi_charts(
    summary: pd.DataFrame, params: Sequence[str], kpis: Sequence[str], target: Target | None
) -> list[Chart]:
    """One chart per KPI with a panel per swept parameter."""
    charts: list[Chart] = []
    if not params:
        return charts
    for kpi in kpis:
        note = KPI_BY_NAME[kpi].note if kpi in KPI_BY_NAME else kpi
        unit = kpi_unit(kpi)
        title = f"{kpi} against the swept parameters"
        with style():
            fig = new_figure(4.6 * len(params) + 0.8, 3.4)
            axes = fig.subplots(1, len(params), squeeze=False)[0]
            for ax, param in zip(axes, params, strict=True):
                _plot_against(ax, summary, kpi, param, [p for p in params if p != param], target)
                ax.set_ylabel(f"{kpi} ({unit})")
                if ax.get_legend_handles_labels()[1]:
                    ax.legend(loc="best", fontsize=7.5)
            fig.suptitle(f"{kpi}: mean and 95% CI per variant", fontweight="bold")
            charts.append(
                chart(
                    f"kpi-{kpi}",
                    title,
                    f"{note[:1].upper()}{note[1:]}. Compare the means with their 95% "
                    "intervals: bands far apart point to a real difference, but overlapping "
                    "bands do not show there is none — every variant ran the same seeds, so "
                    "per-seed paired differences are sharper than these bands.",
                    fig,
                )
            )
    return charts


def search_chart(meta: SweepMeta, target: Target) -> Chart:
    """Every fleet size the searches evaluated, with the answer marked."""
    title = f"Fleet-size search for {target}"
    with style():
        fig = new_figure(9.0, 3.8)
        ax = fig.add_subplot()
        for i, s in enumerate(meta.searches):
            colour = f"C{i % 10}"
            pts = sorted(s.points, key=lambda p: p.fleet)
            x = np.array([p.fleet for p in pts], dtype=float)
            mean = np.array([np.nan if p.mean is None else p.mean for p in pts])
            low = np.array([np.nan if p.low is None else p.low for p in pts])
            high = np.array([np.nan if p.high is None else p.high for p in pts])
            label = ", ".join(f"{k}={v}" for k, v in s.variant.items()) or "scenario"
            ax.errorbar(
                x,
                mean,
                yerr=np.nan_to_num(np.vstack([mean - low, high - mean])),
                fmt="o-",
                capsize=3,
                color=colour,
                label=label,
            )
            if s.fleet is not None:
                ax.axvline(s.fleet, color=colour, ls=":", lw=1.2)
        ax.axhline(target.limit, color="#c62828", ls="--", lw=1, label=f"target {target}")
        ax.set_xlabel("fleet size (workers)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{target.kpi} ({kpi_unit(target.kpi)})")
        ax.legend(loc="best")
        return chart(
            "search",
            title,
            "Dotted lines mark the smallest fleet whose 95% "
            f"{target.bound_name()} bound meets the target; the search only ran the "
            "sizes shown.",
            fig,
        )


def search_table(meta: SweepMeta, target: Target) -> str:
    """Every point the searches ran: fleet size, interval, and whether it met the target."""
    rows: list[list[Cell]] = []
    for s in meta.searches:
        where = ", ".join(f"{k}={v}" for k, v in s.variant.items()) or "scenario"
        for p in sorted(s.points, key=lambda p: p.fleet):
            ci = (
                "–"
                if p.mean is None
                else (
                    f"{p.mean:,.2f}"
                    if p.low is None or p.high is None
                    else f"{p.mean:,.2f} [{p.low:,.2f}, {p.high:,.2f}]"
                )
            )
            badge = Badge("meets", "pass") if p.met else Badge("no", "fail")
            rows.append([where, p.fleet, ci, p.n, badge])
    headers = ("variant", "fleet (workers)", f"{target.kpi} mean [95% CI]", "runs", str(target))
    return table_html(headers, rows, scroll=len(rows) > 12)


def _interval(row: pd.Series, kpi: str) -> str:
    mean, lo, hi = (float(row[f"{kpi}_{s}"]) for s in ("mean", "ci_low", "ci_high"))
    if math.isnan(mean):
        return "–"
    d = 0 if abs(mean) >= 100 else 1  # compact: the interval matters more than decimals
    if math.isnan(lo):
        return f"{mean:,.{d}f}"
    return f"{mean:,.{d}f} [{lo:,.{d}f}, {hi:,.{d}f}]"


def variants_table(
    summary: pd.DataFrame, params: Sequence[str], shown: Sequence[str], target: Target | None
) -> str:
    """One row per variant: runs, failures, the ``shown`` KPIs' intervals, the target."""
    headers = [*params, "runs", "failed", *[f"{k} ({kpi_unit(k)}), mean [95% CI]" for k in shown]]
    if target is not None:
        headers.append(f"meets {target}")
    rows: list[list[Cell]] = []
    for _, r in summary.iterrows():
        row: list[Cell] = [str(r[p]) for p in params]
        row += [int(r["n_runs"]), int(r["n_failed"])]
        row += [_interval(r, k) for k in shown]
        if target is not None:
            row.append(Badge("meets", "pass") if bool(r["meets_target"]) else Badge("no", "fail"))
        rows.append(row)
    return table_html(headers, rows, scroll=len(rows) > 12)


def constant_table(summary: pd.DataFrame, constant: Sequence[str]) -> str:
    """The KPIs every variant shares, once each: value, unit and meaning."""
    first = summary.iloc[0]
    rows: list[list[Cell]] = [
        [
            k,
            _interval(first, k),
            kpi_unit(k),
            KPI_BY_NAME[k].meaning if k in KPI_BY_NAME else "",
        ]
        for k in constant
    ]
    return table_html(("KPI", "mean [95% CI], every variant", "unit", "meaning"), rows)


def _diff_cell(r: pd.Series, kpi: str) -> Cell:
    """``+1.2 [+0.3, +2.1]``, as a green (better) or red (worse) badge when the interval
    excludes 0, plain text when the difference is within noise."""
    mean, lo, hi = (float(r[c]) for c in ("diff_mean", "diff_ci_low", "diff_ci_high"))
    if math.isnan(mean):
        return "–"
    d = 0 if max(abs(lo), abs(hi)) >= 100 else 2
    text = f"{mean:+,.{d}f}" if math.isnan(lo) else f"{mean:+,.{d}f} [{lo:+,.{d}f}, {hi:+,.{d}f}]"
    if not bool(r["differs"]):
        return text
    spec = KPI_BY_NAME.get(kpi)
    if spec is None:
        return Badge(text, "info")
    better = (mean > 0) == (spec.better == "higher")
    return Badge(text, "pass" if better else "fail")


def paired_section(
    paired: pd.DataFrame,
    params: Sequence[str],
    shown: Sequence[str],
    baseline: dict[str, Any],
) -> Section:
    """Each variant minus the baseline, seed by seed, for the ``shown`` KPIs (rows of
    :func:`~sim.sweep.paired.paired_table`)."""
    rows: list[list[Cell]] = []
    for key, g in paired.groupby(list(params), sort=False, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        by_kpi = {str(r["kpi"]): r for _, r in g.iterrows()}
        n = max(int(r["n_pairs"]) for r in by_kpi.values())
        rows.append([*map(str, values), n, *[_diff_cell(by_kpi[k], k) for k in shown]])
    headers = [*params, "pairs", *[f"Δ {k} ({kpi_unit(k)}) [95% CI]" for k in shown]]
    where = ", ".join(f"{k}={v}" for k, v in baseline.items())
    return Section(
        f"Paired differences against {where}",
        (
            paragraph(
                f"Each variant minus the baseline ({where}) on the same seed, averaged over "
                "the seeds, with a 95% bootstrap percentile interval.  Coloured: the "
                "interval excludes 0 (green better, red worse, by the KPI's direction); "
                f"plain: within noise.  Every KPI is in {PAIRED}."
            ),
            table_html(headers, rows, scroll=len(rows) > 12),
        ),
    )


def build_sweep_report(out_dir: Path) -> tuple[str, list[Chart]]:
    """The page and its charts.  Top to bottom: the answer (a sentence, the target KPI's
    chart and the paired differences), the KPIs that vary, those that do not, the paired
    table, every varying KPI against the parameters, and failed runs."""
    meta = read_meta(out_dir)
    df = pd.read_parquet(out_dir / PARQUET)
    target = meta.target_record()
    params = list(meta.params)
    grid = df[df["phase"] == "grid"]
    all_params = [c for c in df.columns if c in params or c == "fleet.workers"]
    kpis = kpi_columns(df, all_params)
    grid_summary = summarise(grid, params, target)
    varying, constant = split_kpis(grid_summary, kpis, target)
    focus = question_kpi(kpis, varying, target)
    plotted = kpi_charts(grid_summary, params, varying, target)
    by_kpi = {c.name.removeprefix("kpi-"): c for c in plotted}
    sections: list[Section] = []
    charts: list[Chart] = []

    # The answer first: a sentence, then the target KPI's chart and the paired chart.
    text, cls = answer_sentence(meta, grid, grid_summary, params, focus, target)
    blocks = [code_paragraph(text, cls)]
    if target is not None:
        blocks.append(
            paragraph(
                f"Target {target}: a variant meets it when the 95% {target.bound_name()} "
                f"confidence bound of {target.kpi} does."
            )
        )
        for s in meta.searches:
            where = ", ".join(f"{k}={v}" for k, v in s.variant.items())
            blocks.append(paragraph((f"{where}: " if where else "") + s.summary))
        if meta.searches:
            c = search_chart(meta, target)
            charts.append(c)
            blocks.append(figure_html(c))
    if focus is not None and focus in by_kpi and not (target is not None and meta.searches):
        blocks.append(figure_html(by_kpi.pop(focus)))
    paired: pd.DataFrame | None = None
    base: dict[str, Any] = {}
    if meta.baseline is not None and params:
        base = {p: meta.baseline[p] for p in params if p in meta.baseline}
        paired = paired_table(grid, params, kpis, base)
        if focus is not None and len(paired):
            where = ", ".join(f"{k}={v}" for k, v in base.items())
            c = paired_chart(paired, params, focus, where, higher_is_better(focus, target))
            charts.append(c)
            blocks.append(figure_html(c))
    if target is not None and meta.searches:
        blocks.append(search_table(meta, target))
    sections.append(Section("Answer", tuple(blocks)))

    intervals = (
        f"{len(meta.seeds)} replications per variant (seeds {meta.seeds[0]}–{meta.seeds[-1]}, "
        "the same for every variant); intervals are 95% bootstrap percentile intervals of "
        "the mean over the seeds, inside each KPI's range."
    )
    if varying:
        sections.append(
            Section(
                f"KPIs that vary across variants ({len(varying)})",
                (
                    paragraph(intervals),
                    variants_table(grid_summary, params, varying, target),
                ),
            )
        )
    if constant:
        title = (
            f"KPIs the same for every variant ({len(constant)})"
            if len(grid_summary) > 1
            else f"KPIs ({len(constant)})"
        )
        blocks_c = [] if varying else [paragraph(intervals)]
        blocks_c.append(constant_table(grid_summary, constant))
        sections.append(Section(title, tuple(blocks_c)))
    if paired is not None:
        shown = [k for k in varying if k in kpis][:8] or list(kpis[:5])
        sections.append(paired_section(paired, params, shown, base))
    charts += plotted
    rest = [c for c in plotted if c.name.removeprefix("kpi-") in by_kpi]
    if rest:
        sections.append(Section("KPIs against the parameters", tuple(figure_html(c) for c in rest)))
    failed = df[df["error"] != ""]
    if len(failed):
        rows: list[list[Cell]] = [
            [
                str(r["run_id"]),
                _label(all_params, [r[p] for p in all_params]),
                int(r["seed"]),
                str(r["error"]),
            ]
            for _, r in failed.iterrows()
        ]
        sections.append(
            Section(
                f"Failed runs ({len(failed)})",
                (table_html(("run_id", "variant", "seed", "error"), rows, scroll=True),),
            )
        )
    subtitle = [
        f"Scenario {meta.scenario_name} ({meta.scenario})",
        f"{meta.runs} runs, {meta.failed} failed · swept: "
        + (
            "; ".join(f"{p} = {', '.join(map(str, v))}" for p, v in meta.params.items())
            or "nothing (replications only)"
        ),
    ]
    return page_html(f"fleetsim sweep report: {meta.scenario_name}", subtitle, sections), charts


def write_sweep_report(out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` and ``sweep-<chart>.png`` beside it; return the path."""
    out_dir = Path(out_dir)
    if not (out_dir / PARQUET).is_file() or not (out_dir / META).is_file():
        raise UserError(f"{out_dir}: not a sweep directory (needs {PARQUET} and {META})")
    page, charts = build_sweep_report(out_dir)
    for c in charts:
        (out_dir / f"sweep-{c.name}.png").write_bytes(c.png)
    path = out_dir / REPORT
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, "utf-8")
    tmp.replace(path)
    return path
