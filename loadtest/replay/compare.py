"""Comparing two replays, and ``fleetsim compare`` as one library call.

Concepts held here:

* :func:`compare_replays` -- two :class:`~loadtest.replay.results.ReplayResults` as a
  :class:`sim.compare.Comparison`: per endpoint the p50/p95/p99 latency and the error
  ratio, per batch flow the same over jobs, the schedule-lag delta, and the changed-calls
  and call-count tables.
* How the intervals are made, from what ``results.json`` keeps:

  - **Percentiles**: a bootstrap over each side's latency histogram (the log buckets of
    :mod:`loadtest.replay.histogram`, under 1% wide): each resample draws the side's
    sample count from its buckets, the nearest-rank percentile of each side is read
    (drawn directly, see :func:`_resampled_percentiles`), and the 2.5th and 97.5th
    percentiles of their difference bound it; the two-sided p-value is twice the smaller
    share of differences on either side of 0.  Fewer than :data:`MIN_SAMPLES` on a side:
    no interval.  The
    reported delta is the exact percentiles' (``p99_ms``); the interval is moved by the
    histogram's rounding (exact minus bucketed delta) so that it is about that delta.
    Samples are treated as independent draws: latencies that drift together over a run
    make the interval a little too narrow.
  - **Error ratio** (calls failed for good over calls): Newcombe's hybrid score
    interval for a difference of two proportions (from Wilson intervals), which stays in
    [-1, 1] and behaves with zero failures.
  - **Schedule lag**: results.json keeps only p50/p99/max, no samples: a delta without
    an interval (never "significant", and a gate cannot judge it).

* :func:`compare_paths` -- two directories of one kind (runs, sweeps or replays); a
  replay directory that also holds a run (``fleetsim demo``) gets the KPI deltas too.
* :func:`run_compare` -- what the command does: compare, apply a ``--gate`` file
  (:mod:`sim.compare_gate`), write ``compare.json``, ``compare.html`` and the JUnit XML
  (:func:`loadtest.replay.thresholds.write_junit`), and say the exit code:
  :class:`CompareOutcome`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import stats as _st

from loadtest.replay.histogram import LatencyHistogram, nearest_rank
from loadtest.replay.results import (
    EndpointStats,
    FlowStats,
    ReplayResults,
    ThresholdCheck,
    Validity,
    read_results,
)
from loadtest.replay.thresholds import KnownNames, write_junit
from loadtest.trace.ops import OPS
from sim.compare import (
    Comparison,
    Delta,
    Section,
    Table,
    check_kinds,
    compare_runs,
    holm,
    run_kpi_deltas,
)
from sim.compare_gate import KPI_METRICS, GateCheck, Vocabulary, evaluate_gate, load_gate
from sim.compare_sweep import compare_sweeps
from sim.sweep.stats import BOOTSTRAP_SEED, CONFIDENCE

#: Bootstrap replicates of each percentile of each side.
N_RESAMPLES = 9_999
#: Fewer latency samples than this on either side: a percentile delta without interval.
MIN_SAMPLES = 20
Z = 1.959963984540054  # standard normal quantile of 0.975

REPLAY_METRICS: dict[str, tuple[str, ...]] = {
    "endpoints": ("p50_ms", "p95_ms", "p99_ms", "error_ratio"),
    "flows": ("p50_s", "p95_s", "p99_s", "error_ratio"),
    "lag": ("lag_p50_ms", "lag_p99_ms", "lag_max_ms"),
}
METHOD_HIST = "bootstrap percentile over the latency histogram's buckets (9,999 resamples, seeded)"
METHOD_RATIO = "Newcombe hybrid score interval (Wilson) for a difference of proportions"
NO_LAG_SAMPLES = "results.json keeps no lag samples: no interval"
_QUANTILES = (50.0, 95.0, 99.0)


# -- intervals -------------------------------------------------------------------------


def _resampled_percentiles(
    h: LatencyHistogram, qs: Sequence[float], scale: float, rng: np.random.Generator
) -> np.ndarray:
    """``(N_RESAMPLES, len(qs))`` bootstrap replicates of each nearest-rank percentile of
    the histogram, each bucket valued at its top (the rule of ``percentile_ms``) × ``scale``.

    Drawn directly rather than by resampling all ``n`` values: the ``r``-th smallest of
    ``n`` draws from a distribution ``F`` is ``F⁻¹(U)`` with ``U ~ Beta(r, n - r + 1)``, the
    same distribution as sorting a resample, at one draw per replicate."""
    values = np.array([b[1] for b in h.buckets], dtype=float) * scale
    cdf = np.cumsum([b[2] for b in h.buckets], dtype=float)
    n = int(cdf[-1])
    cdf /= cdf[-1]
    out = np.empty((N_RESAMPLES, len(qs)))
    for j, q in enumerate(qs):
        r = nearest_rank(q, n)
        u = rng.beta(r, n - r + 1, size=N_RESAMPLES)
        out[:, j] = values[np.minimum(np.searchsorted(cdf, u), len(values) - 1)]
    return out


def percentile_deltas_ci(
    base: LatencyHistogram,
    new: LatencyHistogram,
    exact_deltas: Sequence[float],
    qs: Sequence[float] = _QUANTILES,
    scale: float = 1e-3,
    confidence: float = CONFIDENCE,
) -> list[tuple[float, float, float]]:
    """The interval and two-sided bootstrap p-value of each percentile's delta
    ``new - base`` (module docstring), given the exact deltas; ``scale`` turns bucket
    microseconds into the metric's unit (ms).  Fewer than :data:`MIN_SAMPLES` on a side:
    NaN (a percentile of a handful of samples has no usable resampling distribution)."""
    if min(base.count, new.count) < MIN_SAMPLES:
        return [(math.nan, math.nan, math.nan)] * len(qs)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    diff = _resampled_percentiles(new, qs, scale, rng) - _resampled_percentiles(
        base, qs, scale, rng
    )
    alpha = (1.0 - confidence) / 2.0
    lows = np.quantile(diff, alpha, axis=0)
    highs = np.quantile(diff, 1.0 - alpha, axis=0)
    out = []
    for j, q in enumerate(qs):
        bucketed = (new.percentile_ms(q) - base.percentile_ms(q)) * scale * 1e3
        shift = exact_deltas[j] - bucketed
        low = min(float(lows[j]) + shift, exact_deltas[j])
        high = max(float(highs[j]) + shift, exact_deltas[j])
        moved = diff[:, j] + shift
        p = min(1.0, 2.0 * min(float(np.mean(moved <= 0)), float(np.mean(moved >= 0))))
        out.append((low, high, p))
    return out


def wilson(x: int, n: int) -> tuple[float, float]:
    """Wilson score interval of the proportion ``x / n`` (95%)."""
    p = x / n
    denom = 1.0 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denom
    half = Z / denom * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio_delta_ci(x_base: int, n_base: int, x_new: int, n_new: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``x_new/n_new - x_base/n_base`` (in [-1, 1])."""
    p1, p2 = x_base / n_base, x_new / n_new
    l1, u1 = wilson(x_base, n_base)
    l2, u2 = wilson(x_new, n_new)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return max(-1.0, min(low, d)), min(1.0, max(high, d))


# -- replays ---------------------------------------------------------------------------


def _ratio_delta(section: Section, scope: str, x: tuple[int, int], n: tuple[int, int]) -> Delta:
    """``x`` failed of ``n`` (base, new); both ``n`` are > 0."""
    low, high = ratio_delta_ci(x[0], n[0], x[1], n[1])
    b, nw = x[0] / n[0], x[1] / n[1]
    table = [[x[0], n[0] - x[0]], [x[1], n[1] - x[1]]]
    p = float(_st.fisher_exact(table).pvalue)
    return Delta(
        section,
        scope,
        "error_ratio",
        "",
        b,
        nw,
        "lower",
        low,
        high,
        METHOD_RATIO,
        n[0],
        n[1],
        p_adjusted=p,  # raw here; compare_replays adjusts the family
    )


def _latency_deltas(
    section: Section,
    scope: str,
    metrics: Sequence[str],
    unit: str,
    base: tuple[float, ...],
    new: tuple[float, ...],
    hist: tuple[LatencyHistogram, LatencyHistogram],
    counts: tuple[int, int],
    scale: float,
) -> list[Delta]:
    if not counts[0] or not counts[1]:
        return []  # no attempt on one side: nothing to compare (the calls table says so)
    exact = [n - b for b, n in zip(base, new, strict=True)]
    cis = percentile_deltas_ci(hist[0], hist[1], exact, scale=scale)
    note = ""
    if min(hist[0].count, hist[1].count) < MIN_SAMPLES:
        note = f"fewer than {MIN_SAMPLES} samples (or no histogram) on a side: no interval"
    return [
        Delta(
            section,
            scope,
            m,
            unit,
            b,
            n,
            "lower",
            max(low, -b),  # a latency cannot fall below 0
            high,
            METHOD_HIST if not note else "",
            counts[0],
            counts[1],
            note=note,
            p_adjusted=p,  # raw here; compare_replays adjusts the family
        )
        for m, b, n, (low, high, p) in zip(metrics, base, new, cis, strict=True)
    ]


def _endpoint_deltas(b: EndpointStats, n: EndpointStats) -> list[Delta]:
    out = _latency_deltas(
        "endpoints",
        b.name,
        REPLAY_METRICS["endpoints"][:3],
        "ms",
        (b.p50_ms, b.p95_ms, b.p99_ms),
        (n.p50_ms, n.p95_ms, n.p99_ms),
        (b.histogram, n.histogram),
        (b.count, n.count),
        1e-3,
    )
    if b.calls and n.calls:
        out.append(
            _ratio_delta("endpoints", b.name, (b.failed_calls, n.failed_calls), (b.calls, n.calls))
        )
    return out


def _flow_deltas(b: FlowStats, n: FlowStats) -> list[Delta]:
    out = _latency_deltas(
        "flows",
        b.name,
        REPLAY_METRICS["flows"][:3],
        "s",
        (b.p50_s, b.p95_s, b.p99_s),
        (n.p50_s, n.p95_s, n.p99_s),
        (b.histogram, n.histogram),
        (b.count, n.count),
        1e-6,
    )
    if b.count and n.count:
        out.append(_ratio_delta("flows", b.name, (b.failed, n.failed), (b.count, n.count)))
    return out


def _ops_by_endpoint() -> dict[str, str]:
    ops: dict[str, list[str]] = {}
    for spec in OPS.values():
        ops.setdefault(f"{spec.method} {spec.path}", []).append(spec.name)
    return {k: ",".join(sorted(v)) for k, v in ops.items()}


def changed_calls(base: ReplayResults, new: ReplayResults) -> Table:
    """Endpoints whose call count differs, or that only one replay called, with the trace
    operations behind each endpoint."""
    ops = _ops_by_endpoint()
    b = {e.name: e.calls for e in base.endpoints}
    n = {e.name: e.calls for e in new.endpoints}
    rows: list[tuple[str | int | float, ...]] = []
    for name in sorted(set(b) | set(n)):
        if b.get(name) == n.get(name):
            continue
        if name not in n:
            what = "only in base"
        elif name not in b:
            what = "only in new"
        else:
            what = f"{n[name] - b[name]:+d}"
        rows.append((name, ops.get(name, "?"), b.get(name, 0), n.get(name, 0), what))
    cols = ("endpoint", "operation", "base calls", "new calls", "change")
    return Table("Changed calls", cols, tuple(rows))


def call_counts(base: ReplayResults, new: ReplayResults) -> Table:
    rows = tuple(
        (k, bv, nv, f"{nv - bv:+d}")
        for (k, bv), (_, nv) in zip(base.calls.items(), new.calls.items(), strict=True)
    )
    return Table("Call counts", ("counter", "base", "new", "change"), rows)


def compare_replays(
    base: ReplayResults, new: ReplayResults, base_label: str = "base", new_label: str = "new"
) -> Comparison:
    """Two replays' results (module docstring); endpoints and flows that only one has are
    listed in the changed-calls table, not compared."""
    deltas: list[Delta] = []
    new_eps = {e.name: e for e in new.endpoints}
    for e in base.endpoints:
        if e.name in new_eps:
            deltas += _endpoint_deltas(e, new_eps[e.name])
    new_flows = {f.name: f for f in new.flows}
    for f in base.flows:
        if f.name in new_flows:
            deltas += _flow_deltas(f, new_flows[f.name])
    # One family: every endpoint and flow metric.  Holm keeps the chance that noise marks
    # *any* of them significant at 5%, so two replays of one distribution come out clean.
    adjusted = holm([d.p_adjusted for d in deltas])
    deltas = [replace(d, p_adjusted=p) for d, p in zip(deltas, adjusted, strict=True)]
    bl, nl = base.schedule_lag_ms, new.schedule_lag_ms
    for metric, b, n in (
        ("lag_p50_ms", bl.p50_ms, nl.p50_ms),
        ("lag_p99_ms", bl.p99_ms, nl.p99_ms),
        ("lag_max_ms", bl.max_ms, nl.max_ms),
    ):
        deltas.append(
            Delta("lag", "schedule_lag", metric, "ms", b, n, "lower", note=NO_LAG_SAMPLES)
        )
    warnings = []
    for label, r in ((base_label, base), (new_label, new)):
        if not r.valid:
            warnings.append(f"{label} replay is invalid: {'; '.join(r.validity.reasons)}")
        if r.problems:
            warnings.append(f"{label} results.json: {'; '.join(r.problems)[:300]}")
    if base.calls.planned != new.calls.planned:
        warnings.append(
            f"the replays planned {base.calls.planned} and {new.calls.planned} calls: "
            "replays of different traces? (see the changed calls)"
        )
    changed = changed_calls(base, new)
    if base.speedup != new.speedup:
        warnings.append(f"different speedups ({base.speedup:g}x and {new.speedup:g}x)")
    tables = (changed, call_counts(base, new)) if changed.rows else (call_counts(base, new),)
    notes = (
        METHOD_HIST,
        METHOD_RATIO,
        "significance over the endpoint and flow metrics: the 95% interval excludes 0 and "
        "the Holm-adjusted p-value (bootstrap; Fisher's exact test for error ratios) is "
        "below 0.05, so noise in one of many metrics is not called a regression",
        NO_LAG_SAMPLES,
        "endpoint latencies are over attempts (every HTTP request); error ratios over calls",
        "the same calls in both replays" if not changed.rows else "some calls changed",
    )
    return Comparison(
        "replay", base_label, new_label, tuple(deltas), tuple(warnings), tables, notes
    )


def compare_replay_dirs(base: Path, new: Path, what_if: bool = False) -> Comparison:
    """Two replay directories; when both also hold a run (``kpis.json``), its KPI deltas
    and the scenario check come first."""
    c = compare_replays(
        read_results(base / "results.json"), read_results(new / "results.json"), str(base), str(new)
    )
    if (base / "kpis.json").is_file() and (new / "kpis.json").is_file():
        kpis, warnings = run_kpi_deltas(base, new, what_if)
        return Comparison(
            c.kind, c.base, c.new, (*kpis, *c.deltas), (*warnings, *c.warnings), c.tables, c.notes
        )
    return c


def compare_paths(base: Path, new: Path, what_if: bool = False) -> Comparison:
    """Two directories of one kind: runs, sweeps or replays."""
    kind = check_kinds(base, new)
    if kind == "replay":
        return compare_replay_dirs(base, new, what_if)
    if kind == "sweep":
        return compare_sweeps(base, new, what_if)
    return compare_runs(base, new, what_if)


# -- the command as a library call -----------------------------------------------------


def vocabulary(c: Comparison) -> Vocabulary:
    """Every metric a gate may name (KPIs and replay metrics, whatever this comparison
    holds, so one gate file serves both) and every scope it may name: this comparison's,
    plus, as for thresholds, every endpoint and flow of the operation registry (a limit on
    one this trace does not call is skipped, not refused)."""
    known = KnownNames.of()
    scopes: dict[str, list[str]] = {
        "endpoints": sorted(known.endpoints),
        "flows": sorted(known.flows),
        "variants": [],
    }
    for d in c.deltas:
        key = {"endpoints": "endpoints", "flows": "flows", "kpis": "variants"}.get(d.section)
        if key and d.scope and d.scope not in scopes[key]:
            scopes[key].append(d.scope)
    present = tuple(dict.fromkeys(d.metric for d in c.deltas))
    return Vocabulary(
        {**KPI_METRICS, **REPLAY_METRICS}, {k: tuple(v) for k, v in scopes.items()}, present
    )


@dataclass(frozen=True, slots=True)
class CompareOutcome:
    """What ``fleetsim compare`` produced: the comparison, the gate's checks (None
    without a gate), the files written, and the reasons an input replay is invalid."""

    comparison: Comparison
    checks: tuple[GateCheck, ...] | None = None
    files: tuple[Path, ...] = ()
    invalid: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks or () if not c.passed)

    @property
    def exit_code(self) -> int:
        """0 fine; 1 a gate limit was significantly violated; 3 a gate was asked of an
        invalid replay (its numbers cannot be trusted, as ``fleetsim replay`` says).
        Without a gate: 0."""
        if self.checks is None:
            return 0
        if self.invalid:
            return 3
        return 1 if self.failed else 0


def _invalid(c: Comparison, base: Path, new: Path) -> tuple[str, ...]:
    if c.kind != "replay":
        return ()
    out = []
    for label, d in (("base", base), ("new", new)):
        r = read_results(d / "results.json")
        out += [f"{label}: {why}" for why in r.validity.reasons if not r.valid]
    return tuple(out)


def junit_checks(checks: Sequence[GateCheck]) -> list[ThresholdCheck]:
    """The gate's checks as rows the replay's JUnit writer takes."""
    return [
        ThresholdCheck(
            c.scope or "run",
            f"{c.metric} {c.limit.kind}",
            c.limit.value,
            c.actual,
            c.passed,
            skipped=c.skipped,
        )
        for c in checks
    ]


def run_compare(
    base: Path,
    new: Path,
    out: Path | None = None,
    gate: Path | None = None,
    junit: Path | None = None,
    what_if: bool = False,
) -> CompareOutcome:
    """Compare, gate and write (module docstring).  A bad gate file raises before
    anything is written; JUnit goes to ``junit`` (default ``out/junit.xml``) with a gate."""
    c = compare_paths(base, new, what_if)
    checks = None
    if gate is not None:
        checks = tuple(evaluate_gate(c, load_gate(gate, vocabulary(c))))
    invalid = _invalid(c, base, new)
    files: list[Path] = []
    if out is not None:
        files += c.write(out, checks)
    path = junit if junit is not None else out / "junit.xml" if out is not None else None
    if checks is not None and path is not None:
        validity = Validity.of(list(invalid)) if c.kind == "replay" else None
        write_junit(junit_checks(checks), path, suite="fleetsim.compare", validity=validity)
        files.append(path)
    return CompareOutcome(c, checks, tuple(files), invalid)
