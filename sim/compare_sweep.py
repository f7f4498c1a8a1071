"""Comparing two sweeps, variant by variant: paired per-seed differences with intervals.

Concepts held here: reading a sweep directory's grid rows (``sweep.parquet``, ``sweep.json``);
matching the two grids' variants (equal parameter values; two single variants match each
other, a what-if swept once each); :func:`unpaired_diff` (a two-sample bootstrap of the
difference of means, for sweeps over different seeds); :func:`compare_sweeps`.

With the same seeds on both sides (common random numbers), a KPI's delta is the mean of
the per-seed differences, with the bootstrap interval of
:func:`sim.sweep.stats.paired_diff`; a seed either side lost drops out of both.  Each
side's mean carries its own interval inside the KPI's range
(:func:`sim.sweep.stats.mean_ci`), and a difference's interval stays inside
``[lo - hi, hi - lo]``.  An interval that excludes 0 marks the change significant (as
``paired.csv``'s ``differs`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _st

from sim.compare import (
    METHOD_PAIRED,
    METHOD_UNPAIRED,
    Comparison,
    Delta,
    kpi_order,
    scenario_warnings,
)
from sim.errors import UserError
from sim.kpis import KPI_BY_NAME, kpi_bounds
from sim.sweep.stats import BOOTSTRAP_SEED, CONFIDENCE, N_RESAMPLES, Interval, mean_ci, paired_diff


@dataclass(slots=True)
class _Sweep:
    path: Path
    name: str
    key: str
    params: list[str]
    grid: pd.DataFrame
    kpis: list[str]
    variants: list[dict[str, Any]] = field(default_factory=list)


def _read_sweep(path: Path) -> _Sweep:
    from sim.sweep.meta import read_meta

    meta = read_meta(path)
    try:
        df = pd.read_parquet(path / "sweep.parquet")
    except (OSError, ValueError) as exc:
        raise UserError(f"{path / 'sweep.parquet'}: cannot read ({exc})") from None
    if "phase" in df.columns:
        df = df[df["phase"] == "grid"]
    params = [p for p in meta.params if p in df.columns]
    kpis = [k for k in df.columns if k in KPI_BY_NAME]
    sw = _Sweep(path, meta.scenario_name, meta.scenario_key, params, df, kpis)
    if params:
        keys = df[params].drop_duplicates()
        sw.variants = [dict(zip(params, row, strict=True)) for row in keys.itertuples(index=False)]
    else:
        sw.variants = [{}]
    return sw


def _label(variant: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in variant.items()) or "(scenario as written)"


def _rows(sw: _Sweep, variant: dict[str, Any]) -> pd.DataFrame:
    """One variant's runs by seed; a failed run keeps its seed with NaN KPIs, so a seed
    that failed on one side still pairs (and drops out of that KPI's pairs)."""
    g = sw.grid
    for k, v in variant.items():
        g = g[g[k] == v]
    g = g.drop_duplicates("seed", keep="last").set_index("seed").sort_index()
    if "error" in g.columns:
        g = g.copy()
        g.loc[g["error"] != "", sw.kpis] = np.nan
    return g


def _pairs(base: _Sweep, new: _Sweep) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Variants matched by equal parameter values; two single variants match each other
    (a what-if swept once each); anything else unmatched is an error naming both grids."""
    if len(base.variants) == 1 and len(new.variants) == 1:
        return [(base.variants[0], new.variants[0])]
    matched: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if base.params == new.params:
        matched = [(v, v) for v in base.variants if v in new.variants]
    if not matched:
        raise UserError(
            f"the sweeps share no variant to compare: base has "
            f"{'; '.join(_label(v) for v in base.variants)}, new has "
            f"{'; '.join(_label(v) for v in new.variants)}"
        )
    return matched


def diff_bounds(name: str) -> tuple[float, float]:
    """The range of a difference of two values of KPI ``name``: ``[lo - hi, hi - lo]``."""
    lo, hi = kpi_bounds(name)
    return lo - hi, hi - lo


def unpaired_diff(
    new: np.ndarray, base: np.ndarray, bounds: tuple[float, float] = (-math.inf, math.inf)
) -> Interval:
    """``mean(new) - mean(base)`` with a two-sample bootstrap percentile interval (each
    sample resampled on its own), clipped to ``bounds`` and widened to hold the estimate."""
    a = new[np.isfinite(new)]
    b = base[np.isfinite(base)]
    if a.size == 0 or b.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(a.mean() - b.mean())
    n = int(min(a.size, b.size))
    if a.size < 2 or b.size < 2:
        return Interval(mean, math.nan, math.nan, n, math.nan)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return Interval(mean, mean, mean, n, 0.0)

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        out: np.ndarray = np.mean(x, axis=axis) - np.mean(y, axis=axis)
        return out

    res = _st.bootstrap(
        (a, b),
        stat,
        confidence_level=CONFIDENCE,
        n_resamples=N_RESAMPLES,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low = min(max(float(res.confidence_interval.low), bounds[0]), mean)
    high = max(min(float(res.confidence_interval.high), bounds[1]), mean)
    return Interval(mean, low, high, n, math.nan)


def sweep_kpi_deltas(base_dir: Path, new_dir: Path, what_if: bool = False) -> Comparison:
    """Two sweep directories, variant by variant and KPI by KPI (module docstring)."""
    base, new = _read_sweep(base_dir), _read_sweep(new_dir)
    warnings = scenario_warnings(
        (base.name, base.key), (new.name, new.key), what_if, where="sweeps"
    )
    deltas: list[Delta] = []
    methods: set[str] = set()
    pairs = _pairs(base, new)
    unmatched = [v for v in base.variants if v not in [b for b, _ in pairs]]
    unmatched += [v for v in new.variants if v not in [n for _, n in pairs]]
    if unmatched:
        shown = "; ".join(_label(v) for v in unmatched)
        warnings.append(f"variants in only one sweep (not compared): {shown}")
    for bv, nv in pairs:
        scope = _label(bv) if bv == nv else f"{_label(bv)} -> {_label(nv)}"
        b_rows, n_rows = _rows(base, bv), _rows(new, nv)
        same_seeds = list(b_rows.index) == list(n_rows.index) and len(b_rows) >= 2
        if not same_seeds:
            warnings.append(
                f"{scope}: the sweeps ran different seeds ({list(b_rows.index)} and "
                f"{list(n_rows.index)}): unpaired comparison, with wider intervals"
            )
        for name in kpi_order(set(base.kpis) & set(new.kpis)):
            spec = KPI_BY_NAME.get(name)
            b = b_rows[name].to_numpy(dtype=float)
            n = n_rows[name].to_numpy(dtype=float)
            bounds = kpi_bounds(name)
            if same_seeds:
                # Pairs only: a seed either side lost drops out of both, so the sides'
                # means differ by exactly the mean paired difference.
                both = np.isfinite(b) & np.isfinite(n)
                b, n = b[both], n[both]
                d = paired_diff(n, b)
                lo, hi = diff_bounds(name)
                d = Interval(d.mean, max(d.low, lo), min(d.high, hi), d.n, d.std)
                method = METHOD_PAIRED
            else:
                d = unpaired_diff(n, b, diff_bounds(name))
                method = METHOD_UNPAIRED
            bci, nci = mean_ci(b, bounds=bounds), mean_ci(n, bounds=bounds)
            methods.add(method)
            deltas.append(
                Delta(
                    "kpis",
                    scope,
                    name,
                    spec.unit if spec else "",
                    bci.mean,
                    nci.mean,
                    spec.better if spec else None,
                    d.low,
                    d.high,
                    method if d.n >= 2 else "",
                    bci.n,
                    nci.n,
                    bci.low,
                    bci.high,
                    nci.low,
                    nci.high,
                )
            )
    notes = (
        *sorted(methods),
        "each side's mean has a bootstrap percentile interval over its seeds, inside the "
        "KPI's range",
    )
    return Comparison(
        "sweep", str(base_dir), str(new_dir), tuple(deltas), tuple(warnings), (), notes
    )


def compare_sweeps(base: Path, new: Path, what_if: bool = False) -> Comparison:
    """Two sweep directories (see the module docstring)."""
    return sweep_kpi_deltas(base, new, what_if)
