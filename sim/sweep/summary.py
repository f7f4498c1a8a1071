"""The per-variant summary of a sweep (``summary.csv``): mean and 95% CI of every KPI.

One row per variant (a combination of parameter values), in the order the variants
first appear in the run table, with ``n_runs``, ``n_failed`` and, for every KPI,
``<kpi>_mean``, ``<kpi>_ci_low`` and ``<kpi>_ci_high`` (bootstrap percentile over the
successful replications, inside the KPI's range: see :mod:`sim.sweep.stats`).  With a
target, ``meets_target`` says whether the conservative bound met it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.kpis import kpi_bounds
from sim.sweep.stats import mean_ci
from sim.sweep.store import SUMMARY
from sim.sweep.target import Target

_NOT_KPI = {"run_id", "phase", "seed", "error", "elapsed_s"}


def kpi_columns(df: pd.DataFrame, params: Sequence[str]) -> list[str]:
    """The KPI columns of a run table (everything that is not an id, parameter or seed)."""
    return [c for c in df.columns if c not in _NOT_KPI and c not in params]


def summarise(
    df: pd.DataFrame, params: Sequence[str], target: Target | None = None
) -> pd.DataFrame:
    """Mean and 95% CI per variant over the run table ``df`` (see the module docstring)."""
    kpis = kpi_columns(df, params)
    records: list[dict[str, Any]] = []
    groups: list[tuple[Any, pd.DataFrame]] = (
        list(df.groupby(list(params), sort=False, dropna=False)) if params else [((), df)]
    )
    for key, g in groups:
        values = key if isinstance(key, tuple) else (key,)
        rec: dict[str, Any] = dict(zip(params, values, strict=True))
        ok = g[g["error"] == ""]
        rec["n_runs"] = len(g)
        rec["n_failed"] = len(g) - len(ok)
        for k in kpis:
            ci = mean_ci(ok[k].to_numpy(dtype=float), bounds=kpi_bounds(k))
            rec[f"{k}_mean"] = ci.mean
            rec[f"{k}_ci_low"] = ci.low
            rec[f"{k}_ci_high"] = ci.high
            if target is not None and k == target.kpi:
                rec["meets_target"] = target.met(ci)
        if target is not None and "meets_target" not in rec:
            rec["meets_target"] = False
        records.append(rec)
    out = pd.DataFrame.from_records(records)
    for p in params:  # keep the parameters' types (groupby keys come back as objects)
        if p in df.columns and len(out):
            out[p] = out[p].astype(df[p].dtype)
    return out


def write_summary(summary: pd.DataFrame, out_dir: Path) -> Path:
    path = out_dir / SUMMARY
    summary.to_csv(path, index=False, float_format="%.6g")
    return path
