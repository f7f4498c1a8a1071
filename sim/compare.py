"""Comparing two simulation runs: the comparison records, and KPI deltas of runs.

Concepts held here:

* :class:`Delta` -- one metric of one scope (a run's KPI, a sweep variant's KPI, a replay
  endpoint's p99) in both inputs: the change ``new - base`` with its interval when the
  samples allow one, and the verdict (``better``, ``worse``, ``changed``, ``within noise``,
  ``no change``, or ``no interval``).  The replay comparison
  (:mod:`loadtest.replay.compare`) makes the same records.
* :class:`Comparison` -- the whole comparison: what was compared, warnings, the deltas and
  extra tables (the replay's changed calls), with :meth:`~Comparison.to_json`
  (``compare.json``) and :meth:`~Comparison.lines` (the printed summary).
* :func:`dir_kind` -- what a directory holds: a ``run`` (``kpis.json``), a ``sweep``
  (``sweep.parquet``) or a ``replay`` (``results.json``).
* :func:`compare_runs` -- two ``fleetsim simulate`` directories: KPI deltas without
  intervals (one run each says nothing about the noise; compare sweeps for that).
* :func:`holm` -- the family-wise adjustment a comparison of many metrics applies.

Sweeps are compared in :mod:`sim.compare_sweep` (paired per-seed differences with
intervals), replays in :mod:`loadtest.replay.compare`, which makes the same records.

Scenario identity: runs of scenarios with different names are not compared (exit 2)
unless ``what_if`` is set; the same name with a different content hash is a what-if and
only a warning, since that is what a what-if is.  The gate and the HTML page live in
:mod:`sim.compare_gate` and :mod:`sim.compare_html`.  A directory is never written to
half: :meth:`Comparison.write` writes only after every input was read and judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pandas as pd

from sim.errors import UserError
from sim.kpis import KPI_BY_NAME, KPI_NAMES
from sim.sweep.stats import CONFIDENCE

if TYPE_CHECKING:
    from sim.compare_gate import GateCheck

Kind = Literal["run", "sweep", "replay"]
Section = Literal["kpis", "endpoints", "flows", "lag"]
Better = Literal["higher", "lower"]

#: How the intervals of each kind of delta are made, as compare.json and the page say it.
METHOD_PAIRED = "paired per-seed differences, bootstrap percentile (9,999 resamples, seeded)"
METHOD_UNPAIRED = "two-sample bootstrap percentile of the difference of means (seeded)"
ALPHA = 1.0 - CONFIDENCE
NO_INTERVAL_RUNS = "one run each: no interval (compare sweeps over the same seeds for one)"


@dataclass(frozen=True, slots=True)
class Delta:
    """One metric of one scope compared: ``delta = new - base`` in ``unit``.

    ``low``/``high`` bound the delta (NaN: no interval); ``base_low`` … ``new_high`` bound
    each side's own value where it is a mean over replications.  ``n_base``/``n_new`` are
    the samples behind each side (seeds, or latency samples, or calls)."""

    section: Section
    scope: str
    metric: str
    unit: str
    base: float
    new: float
    better: Better | None = None
    low: float = math.nan
    high: float = math.nan
    method: str = ""
    n_base: int = 1
    n_new: int = 1
    base_low: float = math.nan
    base_high: float = math.nan
    new_low: float = math.nan
    new_high: float = math.nan
    note: str = ""
    #: A p-value adjusted for the other metrics of its family (Holm), where the comparison
    #: makes one (replays); NaN: the interval alone decides.
    p_adjusted: float = math.nan

    @property
    def delta(self) -> float:
        return self.new - self.base

    @property
    def delta_pct(self) -> float:
        """The change relative to the base, in % (±inf from a base of 0, NaN without one)."""
        d = self.delta
        if math.isnan(d):
            return math.nan
        if self.base == 0:
            return 0.0 if d == 0 else math.copysign(math.inf, d)
        return 100.0 * d / abs(self.base)

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (and, with a family-adjusted p-value, that is below
        :data:`ALPHA` too): a change, not noise.  No interval: never."""
        if not self.has_interval or not (self.low > 0 or self.high < 0):
            return False
        return math.isnan(self.p_adjusted) or self.p_adjusted < ALPHA

    @property
    def verdict(self) -> str:
        d = self.delta
        if math.isnan(d):
            return "missing"
        if not self.has_interval:
            return "no change" if d == 0 else "no interval"
        if not self.significant:
            return "no change" if self.low == self.high == 0 else "within noise"
        if self.better is None:
            return "changed"
        up = self.low > 0
        return "better" if up == (self.better == "higher") else "worse"

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "scope": self.scope,
            "metric": self.metric,
            "unit": self.unit,
            "base": _num(self.base),
            "new": _num(self.new),
            "delta": _num(self.delta),
            "delta_pct": _num(self.delta_pct),
            "ci_low": _num(self.low),
            "ci_high": _num(self.high),
            "significant": self.significant,
            "p_adjusted": _num(self.p_adjusted),
            "verdict": self.verdict,
            "better": self.better,
            "method": self.method,
            "n_base": self.n_base,
            "n_new": self.n_new,
            "base_ci": [_num(self.base_low), _num(self.base_high)],
            "new_ci": [_num(self.new_low), _num(self.new_high)],
            "note": self.note,
        }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN entries stay NaN and do
    not count): testing each adjusted value against ALPHA keeps the chance of *any*
    false alarm in the family at ALPHA."""
    idx = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    order = sorted(idx, key=lambda i: p_values[i])
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p_values[i]))
        out[i] = running
    return out


def _num(x: float) -> float | None:
    """JSON has no NaN or infinity: those are written as null."""
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


@dataclass(frozen=True, slots=True)
class Table:
    """A plain table for the page and the JSON (the replay's changed calls)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str | int | float, ...], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [dict(zip(self.columns, r, strict=True)) for r in self.rows],
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two inputs of one ``kind`` compared (see the module docstring)."""

    kind: Kind
    base: str
    new: str
    deltas: tuple[Delta, ...]
    warnings: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    confidence: float = CONFIDENCE

    def find(self, section: Section, scope: str, metric: str) -> Delta | None:
        return next(
            (
                d
                for d in self.deltas
                if d.section == section and d.scope == scope and d.metric == metric
            ),
            None,
        )

    @property
    def significant(self) -> tuple[Delta, ...]:
        return tuple(d for d in self.deltas if d.significant)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "base": self.base,
            "new": self.new,
            "confidence": self.confidence,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "deltas": [d.to_json() for d in self.deltas],
            "tables": [t.to_json() for t in self.tables],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per delta (the ``compare.json`` fields), for a notebook."""
        return pd.DataFrame.from_records([d.to_json() for d in self.deltas])

    def lines(self) -> list[str]:
        """The printed summary: every delta with its interval and verdict."""
        out = [f"compare ({self.kind}): base {self.base}  new {self.new}"]
        out += [f"warning: {w}" for w in self.warnings]
        head = ("scope", "metric", "base", "new", "delta", "95% interval", "verdict")
        rows = [
            (
                d.scope or "-",
                f"{d.metric} ({d.unit})" if d.unit else d.metric,
                _fmt(d.base),
                _fmt(d.new),
                _fmt(d.delta, signed=True),
                f"[{_fmt(d.low, True)}, {_fmt(d.high, True)}]" if d.has_interval else "-",
                d.verdict,
            )
            for d in self.deltas
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        for r in [head, *rows]:
            out.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        for t in self.tables:
            out.append(f"{t.title}:")
            out.append("  " + "  ".join(t.columns))
            out += ["  " + "  ".join(str(v) for v in r) for r in t.rows]
        n_sig = len(self.significant)
        out.append(f"{len(self.deltas)} metrics compared, {n_sig} significant")
        return out

    def write(self, out_dir: Path, checks: Sequence[GateCheck] | None = None) -> tuple[Path, Path]:
        """Write ``compare.json`` and ``compare.html`` (with the gate's checks, if any)."""
        from sim.compare_html import render_html

        out_dir.mkdir(parents=True, exist_ok=True)
        doc = self.to_json()
        if checks is not None:
            doc["gate"] = [c.to_json() for c in checks]
        js = out_dir / "compare.json"
        js.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        page = out_dir / "compare.html"
        page.write_text(render_html(self, checks), "utf-8")
        return js, page


def _fmt(x: float, signed: bool = False) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    text = f"{x:+.4g}" if signed else f"{x:.4g}"
    return text


# -- what a directory is -------------------------------------------------------------


def dir_kind(path: Path) -> Kind:
    """``replay`` (``results.json``; a demo directory holds a run too), ``sweep``
    (``sweep.parquet``) or ``run`` (``kpis.json``); anything else is a :class:`UserError`."""
    if not path.is_dir():
        raise UserError(f"{path}: no such directory")
    if (path / "results.json").is_file():
        return "replay"
    if (path / "sweep.parquet").is_file():
        return "sweep"
    if (path / "kpis.json").is_file():
        return "run"
    raise UserError(
        f"{path}: not a run, sweep or replay directory "
        "(expected kpis.json, sweep.parquet or results.json in it)"
    )


def check_kinds(base: Path, new: Path) -> Kind:
    """The kind both directories share; two different kinds are a :class:`UserError`."""
    kb, kn = dir_kind(base), dir_kind(new)
    if kb != kn:
        raise UserError(
            f"cannot compare a {kb} ({base}) with a {kn} ({new}): give two runs, two sweeps "
            "or two replays"
        )
    return kb


def scenario_warnings(
    base: tuple[str, str], new: tuple[str, str], what_if: bool, where: str = "runs"
) -> list[str]:
    """Check two (name, hash) identities: different names stop the comparison unless
    ``what_if``; a different hash under one name is a what-if, reported as a warning."""
    (bn, bh), (nn, nh) = base, new
    if bn != nn:
        if not what_if:
            raise UserError(
                f"the {where} are of different scenarios ({bn!r} and {nn!r}); pass --what-if "
                "to compare them anyway"
            )
        return [f"different scenarios ({bn!r} and {nn!r}), compared as a what-if"]
    if bh != nh:
        return [
            f"scenario {bn!r} differs between the {where} ({bh[:15]}… and {nh[:15]}…): "
            "a what-if; the deltas include the change"
        ]
    return []


# -- runs ------------------------------------------------------------------------------


def _read_kpis(run_dir: Path) -> tuple[dict[str, Any], dict[str, float]]:
    path = run_dir / "kpis.json"
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    kpis = doc.get("kpis") if isinstance(doc, dict) else None
    if not isinstance(kpis, dict):
        raise UserError(f"{path}: no 'kpis' object; is this a fleetsim simulate directory?")
    values = {
        k: float(v)
        for k, v in kpis.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return doc, values


def kpi_order(names: set[str]) -> list[str]:
    """Registry order first, then any KPI the registry does not know, by name."""
    return [k for k in KPI_NAMES if k in names] + sorted(names - set(KPI_NAMES))


def run_kpi_deltas(base: Path, new: Path, what_if: bool = False) -> tuple[list[Delta], list[str]]:
    """KPI deltas of two run directories (no intervals) and the warnings."""
    bdoc, bk = _read_kpis(base)
    ndoc, nk = _read_kpis(new)
    warnings = scenario_warnings(
        (str(bdoc.get("scenario", "")), str(bdoc.get("scenario_hash", ""))),
        (str(ndoc.get("scenario", "")), str(ndoc.get("scenario_hash", ""))),
        what_if,
    )
    if bdoc.get("seed") != ndoc.get("seed"):
        warnings.append(
            f"the runs used different seeds ({bdoc.get('seed')} and {ndoc.get('seed')}): "
            "the deltas mix the change with the noise between seeds"
        )
    only = sorted(set(bk) ^ set(nk))
    if only:
        warnings.append(f"KPIs in only one run (left out): {', '.join(only)}")
    deltas = []
    for name in kpi_order(set(bk) & set(nk)):
        spec = KPI_BY_NAME.get(name)
        b, n = bk[name], nk[name]
        deltas.append(
            Delta(
                "kpis",
                "",
                name,
                spec.unit if spec else "",
                b,
                n,
                spec.better if spec else None,
                note="" if b == n else NO_INTERVAL_RUNS,
            )
        )
    return deltas, warnings


def compare_runs(base: Path, new: Path, what_if: bool = False) -> Comparison:
    """Two ``fleetsim simulate`` directories (see the module docstring)."""
    deltas, warnings = run_kpi_deltas(base, new, what_if)
    return Comparison(
        "run",
        str(base),
        str(new),
        tuple(deltas),
        tuple(warnings),
        notes=(NO_INTERVAL_RUNS,),
    )
