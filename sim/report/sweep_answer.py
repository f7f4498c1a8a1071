"""What a sweep says, in a sentence and a chart: the top of the sweep report.

Concepts held here:

* :func:`split_kpis` -- the KPIs whose mean differs between variants (shown first, in the
  variants table) and those the same for every variant (one small table): with common
  random numbers, counts such as ``tasks_created`` are often identical across a grid.
* :func:`question_kpi` -- the KPI the page is about: the target's, else on-time %, else
  the first that varies.
* :func:`answer_sentence` -- one sentence that answers the question: from the target
  searches ("With `load` (dispatch.policy), 90 workers meet on_time_pct ≥ 95; `distance`
  needs 120.") when there are any, else which variant is best and whether the paired
  per-seed difference from the runner-up tells them apart.  It never claims a difference
  whose interval holds 0.
* :func:`paired_chart` -- each variant minus the baseline, seed by seed, for one KPI:
  mean and 95% interval, coloured only when the interval excludes 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.kpis import HEADLINE, KPI_BY_NAME
from sim.report.figures import PALETTE, Chart, chart, new_figure, style
from sim.sweep.meta import SearchMeta, SweepMeta
from sim.sweep.paired import paired_table
from sim.sweep.target import Target

_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def kpi_unit(kpi: str) -> str:
    """The registry's unit of ``kpi`` (``value`` for a KPI the registry does not know)."""
    spec = KPI_BY_NAME.get(kpi)
    return spec.unit if spec is not None and spec.unit else "value"


def target_text(target: Target) -> str:
    return f"{target.kpi} {_SYMBOL.get(target.op, target.op)} {target.limit:g}"


def higher_is_better(kpi: str, target: Target | None = None) -> bool:
    if target is not None and target.kpi == kpi:
        return target.higher_is_better
    spec = KPI_BY_NAME.get(kpi)
    return spec is None or spec.better == "higher"


def split_kpis(
    summary: pd.DataFrame, kpis: Sequence[str], target: Target | None = None
) -> tuple[list[str], list[str]]:
    """``(varying, constant)``: a KPI is constant when every variant has the same mean and
    interval.  Varying KPIs are ordered target first, then the headline ones, then the rest
    in table order.  With a single variant nothing varies."""
    varying: list[str] = []
    constant: list[str] = []
    for k in kpis:
        # The same mean and the same interval: one row can stand for every variant.
        cols = [c for c in (f"{k}_mean", f"{k}_ci_low", f"{k}_ci_high") if c in summary]
        same = len(summary) < 2 or all(
            bool(np.allclose(v, v[0], rtol=1e-9, atol=1e-12, equal_nan=True))
            for v in (summary[c].to_numpy(dtype=float) for c in cols)
        )
        (constant if same else varying).append(k)
    first = [target.kpi] if target is not None else []
    rank = {k: i for i, k in enumerate([*first, *HEADLINE])}
    varying.sort(key=lambda k: (rank.get(k, len(rank)), kpis.index(k)))
    return varying, constant


def question_kpi(kpis: Sequence[str], varying: Sequence[str], target: Target | None) -> str | None:
    """The KPI the page leads with (module docstring); None when there are no KPIs."""
    if target is not None and target.kpi in kpis:
        return target.kpi
    for k in ("on_time_pct", *varying, *kpis):
        if k in kpis:
            return k
    return None


def variant_label(params: Sequence[str], values: Sequence[Any]) -> str:
    return ", ".join(f"{p}={v}" for p, v in zip(params, values, strict=True)) or "the scenario"


def _short(variant: dict[str, Any]) -> str:
    """```load``` for one parameter (the issue's phrasing), ``a=1, b=2`` for several."""
    if len(variant) == 1:
        return f"`{next(iter(variant.values()))}`"
    return ", ".join(f"{k}={v}" for k, v in variant.items())


def _search_clause(s: SearchMeta, first: bool, target: Target) -> str:
    noise = f" (or {s.fleet - 1}: within noise)" if s.fleet is not None and s.within_noise else ""
    tried = max((p.fleet for p in s.points), default=0)
    if first:
        where = ""
        if s.variant:
            names = f" ({next(iter(s.variant))})" if len(s.variant) == 1 else ""
            where = f"With {_short(s.variant)}{names}, "
        if s.fleet is None:
            return f"{where}no fleet of up to {tried} workers meets {target_text(target)}"
        who = f"1 worker{noise} meets" if s.fleet == 1 else f"{s.fleet} workers{noise} meet"
        return f"{where}{who} {target_text(target)}"
    if s.fleet is None:
        return f"{_short(s.variant)} does not meet it with up to {tried} workers"
    return f"{_short(s.variant)} needs {s.fleet}{noise}"


def search_sentence(meta: SweepMeta, target: Target) -> tuple[str, bool]:
    """The target searches' answers in one sentence, and whether every search found one."""
    clauses = [_search_clause(s, i == 0, target) for i, s in enumerate(meta.searches)]
    text = "; ".join(clauses)
    text = text[:1].upper() + text[1:] + "."
    text += f" (A fleet meets it when the 95% {target.bound_name()} bound does.)"
    return text, all(s.fleet is not None for s in meta.searches)


def _fmt(v: float, signed: bool = False) -> str:
    if math.isnan(v):
        return "–"
    d = 0 if abs(v) >= 100 else 2
    return f"{v:+,.{d}f}" if signed else f"{v:,.{d}f}"


def _ci_text(r: pd.Series, kpi: str) -> str:
    mean, lo, hi = (float(r[f"{kpi}_{s}"]) for s in ("mean", "ci_low", "ci_high"))
    if math.isnan(lo):
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def best_sentence(
    grid: pd.DataFrame,
    summary: pd.DataFrame,
    params: Sequence[str],
    kpi: str,
    target: Target | None = None,
) -> str:
    """Which variant has the best mean ``kpi``, and whether the paired difference from the
    runner-up (same seeds) tells them apart: no difference is claimed inside the noise."""
    unit = kpi_unit(kpi)
    u = "" if unit == "value" else f" {unit}"
    ok = summary[summary[f"{kpi}_mean"].notna()]
    if ok.empty:
        return f"No variant produced a value of {kpi}."
    if not params or len(ok) == 1:
        r = ok.iloc[0]
        return (
            f"{kpi} = {_ci_text(r, kpi)}{u} (mean and 95% interval over {int(r['n_runs'])} "
            f"replications of {variant_label(params, [r[p] for p in params])})."
        )
    higher = higher_is_better(kpi, target)
    order = ok.sort_values(f"{kpi}_mean", ascending=not higher, kind="stable")
    best, runner = order.iloc[0], order.iloc[1]
    b_label = variant_label(params, [best[p] for p in params])
    r_label = variant_label(params, [runner[p] for p in params])
    head = f"Best mean {kpi}: {b_label}, {_ci_text(best, kpi)}{u}"
    try:
        paired = paired_table(grid, params, [kpi], {p: runner[p] for p in params})
    except ValueError:
        return f"{head}; the runs are not paired by seed, so no difference is claimed."
    row = paired[_rows_of(paired, params, [best[p] for p in params])]
    if row.empty or int(row.iloc[0]["n_pairs"]) < 2:
        return f"{head}; too few paired seeds to tell it from {r_label}."
    d = row.iloc[0]
    diff = f"{_fmt(float(d['diff_mean']), True)} [{_fmt(float(d['diff_ci_low']), True)}, "
    diff += f"{_fmt(float(d['diff_ci_high']), True)}]{u}"
    n = int(d["n_pairs"])
    if bool(d["differs"]):
        return (
            f"{head}; it beats the runner-up {r_label} by {diff} per seed "
            f"(paired over {n} seeds, 95% interval excludes 0)."
        )
    return (
        f"{head}, but it is not told apart from {r_label}: the paired difference {diff} "
        f"over {n} seeds holds 0, so the two are within noise (more seeds would tell)."
    )


def _rows_of(df: pd.DataFrame, params: Sequence[str], values: Sequence[Any]) -> Any:
    mask = np.ones(len(df), dtype=bool)
    for p, v in zip(params, values, strict=True):
        mask &= (df[p] == v).to_numpy(dtype=bool)
    return mask


def answer_sentence(
    meta: SweepMeta,
    grid: pd.DataFrame,
    summary: pd.DataFrame,
    params: Sequence[str],
    kpi: str | None,
    target: Target | None,
) -> tuple[str, str]:
    """The sentence that answers the sweep's question and its CSS class (``answer``, or
    ``answer miss`` when a target is not met)."""
    if target is not None and meta.searches:
        text, all_found = search_sentence(meta, target)
        return text, "answer" if all_found else "answer miss"
    if target is not None and "meets_target" in summary.columns:
        meets = summary[summary["meets_target"].astype(bool)]
        labels = [variant_label(params, [r[p] for p in params]) for _, r in meets.iterrows()]
        if labels:
            return (
                f"{len(labels)} of {len(summary)} variants meet {target_text(target)} "
                f"(95% {target.bound_name()} bound): {'; '.join(labels)}.",
                "answer",
            )
        return f"No variant meets {target_text(target)}.", "answer miss"
    if kpi is None:
        return "The sweep recorded no KPIs.", "answer miss"
    return best_sentence(grid, summary, params, kpi, target), "answer"


def paired_chart(
    paired: pd.DataFrame, params: Sequence[str], kpi: str, baseline_label: str, better_high: bool
) -> Chart:
    """Forest plot of ``variant − baseline`` for ``kpi`` (rows of ``paired_table``)."""
    rows = paired[paired["kpi"] == kpi]
    unit = kpi_unit(kpi)
    title = f"Paired differences in {kpi} against {baseline_label}"
    with style():
        fig = new_figure(9.0, 1.2 + 0.42 * max(len(rows), 1))
        ax = fig.add_subplot()
        y = np.arange(len(rows), dtype=float)[::-1]
        labels: list[str] = []
        for yi, (_, r) in zip(y, rows.iterrows(), strict=True):
            mean, lo, hi = (float(r[c]) for c in ("diff_mean", "diff_ci_low", "diff_ci_high"))
            colour = "#9e9e9e"
            if bool(r["differs"]):
                colour = PALETTE["pass"] if (mean > 0) == better_high else PALETTE["fail"]
            err = [[0.0], [0.0]] if math.isnan(lo) else [[mean - lo], [hi - mean]]
            ax.errorbar([mean], [yi], xerr=err, fmt="o", capsize=4, color=colour)
            labels.append(variant_label(params, [r[p] for p in params]))
        ax.axvline(0.0, color="#333333", lw=1)
        ax.set_yticks(y, labels)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel(f"Δ {kpi}, variant − baseline, mean over seeds ({unit})")
        ax.set_ylabel("variant (parameters)")
        return chart(
            "paired",
            title,
            "Each variant minus the baseline on the same seed, averaged over seeds, with a "
            "95% bootstrap interval.  Green or red only when the interval excludes 0 (better "
            "or worse, by the KPI's direction); grey is within noise.",
            fig,
        )
