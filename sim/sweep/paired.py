"""Paired comparisons against a baseline variant (``--baseline-variant``, ``paired.csv``).

Every variant of a sweep runs on the same seeds, and a seed fixes the demand, the service
times and the failures (common random numbers).  So for each seed the difference
``variant − baseline`` of a KPI cancels the noise the two runs share, and the interval of
the mean difference over the seeds is far narrower than two overlapping per-variant bands.

Concepts held here:

* :func:`parse_baseline` -- ``--baseline-variant fleet.workers=60,dispatch.policy=load``
  (or just ``60`` when one parameter is swept) to the grid's :class:`Variant`, checked
  against the grid before any run.
* :func:`paired_table` -- one row per (variant, KPI): ``n_pairs``, ``diff_mean``,
  ``diff_ci_low``, ``diff_ci_high`` (95% bootstrap percentile over the seeds, see
  :func:`sim.sweep.stats.paired_diff`) and ``differs`` (the interval excludes 0).

Pairs are made by seed; a seed where either run failed is left out of that pair's
variant.  Only grid rows are compared (a target search's extra fleet sizes are not
variants the user asked for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.sweep.grid import Param, ParamValue, Variant, parse_value, split_values
from sim.sweep.stats import paired_diff
from sim.sweep.store import PAIRED

PAIRED_COLUMNS = ("kpi", "n_pairs", "diff_mean", "diff_ci_low", "diff_ci_high", "differs")


def _choices(variants: Sequence[Variant]) -> str:
    shown = [",".join(f"{p}={v}" for p, v in v.items) for v in variants[:6]]
    more = f" (and {len(variants) - 6} more)" if len(variants) > 6 else ""
    return "; ".join(shown) + more


def parse_baseline(text: str, params: Sequence[Param], variants: Sequence[Variant]) -> Variant:
    """The grid variant ``text`` names; errors name the value and list the variants."""
    if not params or len(variants) < 2:
        raise UserError(
            f"--baseline-variant {text!r}: needs a grid of at least two variants to compare; "
            "sweep a parameter with --set, e.g. --set fleet.workers=60,80"
        )
    paths = [p.path for p in params]
    chosen: dict[str, ParamValue] = {}
    parts = split_values(text)
    for part in parts:
        path, sep, raw = part.partition("=")
        if not sep:
            if len(params) == 1 and len(parts) == 1:
                path, raw = paths[0], part
            else:
                raise UserError(
                    f"--baseline-variant {text!r}: expected path=value for every swept "
                    f"parameter ({', '.join(paths)}), e.g. {_choices(variants[:1])}"
                )
        path = path.strip()
        if path not in paths:
            raise UserError(
                f"--baseline-variant {text!r}: {path!r} is not swept; "
                f"the swept parameters are {', '.join(paths)}"
            )
        chosen[path] = parse_value(raw)
    missing = [p for p in paths if p not in chosen]
    if missing:
        raise UserError(
            f"--baseline-variant {text!r}: give a value for {', '.join(missing)} too, "
            f"e.g. {_choices(variants[:1])}"
        )
    for v in variants:
        got = v.params
        if all(_same(got[p], chosen[p]) for p in paths):
            return v
    raise UserError(
        f"--baseline-variant {text!r}: not a variant of this grid; choose one of: "
        f"{_choices(variants)}"
    )


def _same(a: Any, b: Any) -> bool:
    # 60 and 60.0 name the same fleet; True and 1 do not name the same switch (and a
    # table hands booleans back as numpy's).
    a_bool, b_bool = isinstance(a, bool | np.bool_), isinstance(b, bool | np.bool_)
    if a_bool or b_bool:
        return a_bool and b_bool and bool(a) == bool(b)
    return bool(a == b)


def paired_table(
    df: pd.DataFrame, params: Sequence[str], kpis: Sequence[str], baseline: Mapping[str, Any]
) -> pd.DataFrame:
    """Per-seed paired differences of every KPI against ``baseline`` (module docstring).

    ``df`` is the run table (one row per run); variants are its distinct parameter values
    in order of appearance.  Every variant must have run the baseline's seeds: anything
    else is a broken sweep, not a result, and raises ``ValueError``."""
    grid = df[df["phase"] == "grid"] if "phase" in df.columns else df
    groups = list(grid.groupby(list(params), sort=False, dropna=False))
    base_key = tuple(baseline[p] for p in params)
    by_key = {(k if isinstance(k, tuple) else (k,)): g for k, g in groups}
    base = next((g for k, g in by_key.items() if _key_eq(k, base_key)), None)
    if base is None:
        raise ValueError(f"baseline {dict(baseline)} has no runs in the table")
    seeds = sorted(base["seed"].tolist())
    base_ok = _by_seed(base)
    records: list[dict[str, Any]] = []
    for key, g in by_key.items():
        if _key_eq(key, base_key):
            continue
        if sorted(g["seed"].tolist()) != seeds:
            raise ValueError(
                f"variant {dict(zip(params, key, strict=True))} ran seeds "
                f"{sorted(g['seed'].tolist())}, the baseline {seeds}: not paired"
            )
        ok = _by_seed(g)
        for kpi in kpis:
            a = ok[kpi].reindex(seeds).to_numpy(dtype=float)
            b = base_ok[kpi].reindex(seeds).to_numpy(dtype=float)
            d = paired_diff(a, b)
            rec: dict[str, Any] = dict(zip(params, key, strict=True))
            rec.update(
                kpi=kpi,
                n_pairs=d.n,
                diff_mean=d.mean,
                diff_ci_low=d.low,
                diff_ci_high=d.high,
                differs=d.excludes(0.0),
            )
            records.append(rec)
    out = pd.DataFrame.from_records(records, columns=[*params, *PAIRED_COLUMNS])
    for p in params:  # keep the parameters' types (groupby keys come back as objects)
        if p in df.columns and len(out):
            out[p] = out[p].astype(df[p].dtype)
    return out


def _key_eq(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))


def _by_seed(g: pd.DataFrame) -> pd.DataFrame:
    """The successful runs of one variant, indexed by seed (failed runs drop out)."""
    return g[g["error"] == ""].set_index("seed")


def write_paired(paired: pd.DataFrame, out_dir: Path) -> Path:
    path = out_dir / PAIRED
    paired.to_csv(path, index=False, float_format="%.6g")
    return path
