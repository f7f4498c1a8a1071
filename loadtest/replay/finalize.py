"""The end of a replay: reconcile, judge, write ``results.json`` and JUnit, print.

:func:`finalize`, shared by the Locust master (or local runner) and tests;
:func:`judge`, which builds the typed results once from the merged samples: measured,
checked against the thresholds and judged valid or not (:func:`validity`); and
:func:`exit_code`, where an invalid run (3) wins over a threshold failure (1).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from loadtest.replay.reconcile import Reconciliation
from loadtest.replay.results import (
    CallCounts,
    CounterName,
    LagStats,
    ReplayResults,
    RunInfo,
    Validity,
    summary_lines,
    write_results,
)
from loadtest.replay.saturation import WINDOW_S, saturation_reasons
from loadtest.replay.scale import reconcile_copies
from loadtest.replay.stats import Aggregate
from loadtest.replay.thresholds import Limit, evaluate, format_table, load_thresholds, write_junit
from loadtest.replay.timeseries import timeseries_rows, write_timeseries
from loadtest.replay.transports import HttpxTransport
from loadtest.replay.wire import HttpResult, Targets
from sim.errors import UserError

#: Exit codes: thresholds violated; bad input (e.g. the thresholds file); run invalid
#: (the generator could not keep up, the target never answered, or reconciliation failed).
EXIT_THRESHOLDS = 1
EXIT_BAD_INPUT = 2
EXIT_INVALID = 3
#: Reconciliation's retries stop after this long, so a dead target cannot stretch a run.
RECONCILE_BUDGET_S = 30.0
#: A load generator busier than this cannot be trusted to have kept the schedule (the
#: peak rule, for callers that measured no window; see :mod:`loadtest.replay.saturation`).
CPU_LIMIT_PCT = 90.0


def validity(
    counters: Mapping[CounterName, int],
    lag: LagStats,
    info: RunInfo,
    cpu_peak_pct: float,
    recon: Reconciliation | None = None,
    cpu_sustained_pct: float | None = None,
) -> Validity:
    """Why the run cannot be trusted (none when it can): the generator saturated, no
    call succeeded (target unreachable, bad credentials), or reconciliation failed.

    Saturation is judged by the schedule lag and by the CPU held for a whole window
    (``cpu_sustained_pct``, :mod:`loadtest.replay.saturation`), not by one sample.  A
    caller that measured only a peak (``cpu_sustained_pct`` None) is judged by it, as
    before the window existed."""
    reasons = []
    c = counters
    if c.get("sent", 0) > 0 and c.get("ok", 0) == 0:
        if c.get("unauthorised", 0):
            reasons.append("unauthorised: check ONFLEET_API_KEY (every call failed; 401/403)")
        elif c.get("no_response", 0):
            reasons.append(
                f"target unreachable: no call got an answer from {info.target} "
                f"({c['no_response']} attempts)"
            )
        else:
            reasons.append(f"no call succeeded ({c.get('failed', 0)} failed)")
    if info.planned > 0 and c.get("sent", 0) == 0:
        reasons.append(
            f"no call was sent ({info.planned} planned): the run ended before its first "
            "call was due (is --run-time shorter than the start-up?)"
        )
    if recon is not None and recon.error:
        reasons.append(f"reconciliation could not run: {recon.error}")
    if cpu_sustained_pct is None:
        if cpu_peak_pct > CPU_LIMIT_PCT:
            reasons.append(
                f"load generator CPU reached {cpu_peak_pct:.0f}% (> {CPU_LIMIT_PCT:.0f}%)"
            )
        reasons += saturation_reasons(0.0, lag.p99_ms, info.max_lag_p99_ms)
    else:
        reasons += saturation_reasons(cpu_sustained_pct, lag.p99_ms, info.max_lag_p99_ms)
    return Validity.of(reasons)


def exit_code(
    valid: bool, thresholds_failed: bool, bad_input: bool = False, aborted: bool = False
) -> int:
    """Bad input (2) first, then an invalid run (3) over a threshold failure (1): a run
    that measured nothing trustworthy has not shown a regression.  A run stopped by an
    ``abort = true`` threshold is a threshold failure, even if the limit held again by
    the end."""
    if bad_input:
        return EXIT_BAD_INPUT
    if not valid:
        return EXIT_INVALID
    return EXIT_THRESHOLDS if thresholds_failed or aborted else 0


@dataclass(frozen=True, slots=True)
class Outcome:
    results: ReplayResults
    exit_code: int
    path: Path


def judge(
    agg: Aggregate,
    info: RunInfo,
    recon: Reconciliation | None,
    duration_s: float,
    cpu_peak_pct: float,
    limits: Sequence[Limit] = (),
    cpu_sustained_pct: float | None = None,
    aborted: str = "",
) -> ReplayResults:
    """The run's results: what the samples measure, the thresholds checked over that,
    and whether the run can be trusted."""
    measured = agg.summarise(duration_s)
    webhooks = agg.webhooks() if info.webhooks else None
    judged = validity(
        agg.rec.counters, measured.schedule_lag_ms, info, cpu_peak_pct, recon, cpu_sustained_pct
    )
    return ReplayResults(
        target=info.target,
        validity=judged,
        speedup=info.speedup,
        duration_s=measured.duration_s,
        run_id=info.run_id,
        processes=info.processes,
        calls=CallCounts.from_counters(info.planned, agg.rec.counters),
        endpoints=measured.endpoints,
        flows=measured.flows,
        schedule_lag_ms=measured.schedule_lag_ms,
        throughput=measured.throughput,
        reconciliation=recon,
        thresholds=tuple(evaluate(measured, limits, webhooks)),
        cpu_peak_pct=round(cpu_peak_pct, 1),
        webhooks=webhooks,
        cpu_sustained_pct=None if cpu_sustained_pct is None else round(cpu_sustained_pct, 1),
        cpu_window_s=None if cpu_sustained_pct is None else WINDOW_S,
        aborted=aborted,
    )


def finalize(
    agg: Aggregate,
    info: RunInfo,
    targets: Targets,
    out_dir: Path,
    duration_s: float,
    cpu_peak_pct: float,
    thresholds: Path | None = None,
    since_ms: int = 0,
    do_reconcile: bool = True,
    stream: TextIO = sys.stdout,
    cpu_sustained_pct: float | None = None,
    aborted: str = "",
    timeseries: Path | None = None,
    scale: int = 1,
) -> Outcome:
    """Everything after the last call: see the module docstring.

    ``results.json`` is always written; a thresholds file that does not load (normally
    caught before the run starts) is reported in one line and exits 2."""
    limits: list[Limit] = []
    bad_thresholds = ""
    if thresholds:
        try:
            limits = load_thresholds(thresholds)
        except UserError as exc:
            bad_thresholds = str(exc)
    recon: Reconciliation | None = None
    if do_reconcile:
        transport = HttpxTransport()

        def get(provider: str, path: str, name: str) -> HttpResult:
            return transport.send(
                "GET", targets.base(provider) + path, targets.headers(provider), None, name, 30.0
            )

        try:
            recon = reconcile_copies(  # ``--scale``: every copy, by its own run id
                get,
                info.run_id,
                scale,
                agg.rec.expected_tasks,
                agg.rec.deleted_tasks,
                since_ms,
                budget_s=RECONCILE_BUDGET_S,
            )
        finally:
            transport.close()
    results = judge(agg, info, recon, duration_s, cpu_peak_pct, limits, cpu_sustained_pct, aborted)
    checks = results.thresholds
    path = write_results(results, out_dir)
    if timeseries is not None:
        write_timeseries(timeseries_rows(agg), timeseries)
    for line in summary_lines(results):
        print(line, file=stream)
    # Written for every run: its ``run validity`` case turns a CI that reads only JUnit
    # red for an invalid run, with or without thresholds.
    write_junit(checks, out_dir / "junit.xml", validity=results.validity, aborted=aborted)
    failed = [c for c in checks if not c.passed]
    if aborted:
        print(f"ABORTED: {aborted}", file=stream)
    if checks:
        print(("THRESHOLDS VIOLATED:" if failed else "thresholds: all passed"), file=stream)
        print(format_table(checks), file=stream)
    code = exit_code(
        results.valid, bool(failed), bad_input=bool(bad_thresholds), aborted=bool(aborted)
    )
    if bad_thresholds:
        print(f"error: {bad_thresholds}", file=stream)
    elif failed and code == EXIT_INVALID:
        print(
            "run invalid: exit 3, not 1 (a run that measured nothing trustworthy has not "
            "shown a regression)",
            file=stream,
        )
    print(f"wrote {path}", file=stream)
    return Outcome(results, code, path)
