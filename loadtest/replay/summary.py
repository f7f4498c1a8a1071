"""The printed summary of a replay's results: what ``fleetsim replay`` and the demo show.

Concept held here: :func:`summary_lines` (every counter, the endpoints, flows, lag,
reconciliation and, for a run with ``--webhooks``, the webhook section).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadtest.replay.webhooks.records import webhook_summary_lines

if TYPE_CHECKING:
    from loadtest.replay.results import ReplayResults


def summary_lines(r: ReplayResults) -> list[str]:
    """A human summary of the results: every counter, the endpoints, flows and lag."""
    out = []
    if not r.validity.valid:
        bar = "!" * 72
        out += [bar, "RUN INVALID: its numbers cannot be trusted:"]
        out += [f"  - {why}" for why in r.validity.reasons]
        out += [bar]
    calls = r.calls
    dur = r.duration_s
    rate = calls.sent / dur if dur else 0.0
    out.append(
        f"target {r.target}  speedup {r.speedup:g}x  duration {dur:.1f} s  processes {r.processes}"
    )
    out.append(
        f"calls: planned {calls.planned}, sent {calls.sent}, ok {calls.ok}, "
        f"failed {calls.failed}, skipped {calls.skipped}, unresolved "
        f"{calls.unresolved}, retries {calls.retries}, attempts {calls.attempts}  "
        f"({rate:.1f} calls/s)"
    )
    out.append(
        f"recovery: checked before retry {calls.checked_before_retry}, recovered "
        f"{calls.recovered}, lost not resent {calls.lost_not_resent}, exceptions "
        f"{calls.exceptions}, workers reused {calls.workers_reused}, ordering retries "
        f"{calls.ordering_retries}"
        + (
            f", retry budget exhausted {calls.retry_budget_exhausted}"
            if calls.retry_budget_exhausted
            else ""
        )
    )
    if r.throughput:
        peak = max(r.throughput, key=lambda p: p.rps)
        errs = sum(p.errors_per_s for p in r.throughput)
        out.append(
            f"throughput: mean {rate:.1f} req/s, peak {peak.rps:.0f} req/s at "
            f"t={peak.t_s} s, {errs:.0f} error responses"
        )
    lag = r.schedule_lag_ms
    out.append(
        f"schedule lag: p50 {lag.p50_ms:.2f} ms  p99 {lag.p99_ms:.2f} ms  max {lag.max_ms:.2f} ms"
    )
    if r.cpu_sustained_pct is not None:
        # Saturation is judged on both: the lag, and the CPU held for a whole window.
        out.append(
            f"load generator: CPU peak {r.cpu_peak_pct:.0f}%, held {r.cpu_sustained_pct:.0f}% "
            f"for {r.cpu_window_s or 0:g} s"
        )
    # "failed" is calls that failed for good (the error ratio's numerator); "attempts"
    # includes every retry and poll.
    out.append(
        f"{'endpoint':<44} {'calls':>7} {'failed':>6} {'attempts':>8} {'rps':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'p99 corr':>9}"
    )
    for e in r.endpoints:
        out.append(
            f"{e.name:<44} {e.calls:>7} {e.failed_calls:>6} {e.count:>8} {e.rps:>7.1f} "
            f"{e.p50_ms:>8.1f} {e.p99_ms:>8.1f} {e.p99_corrected_ms:>9.1f}"
        )
    for f in r.flows:
        out.append(
            f"flow {f.name}: {f.count} jobs, p50 {f.p50_s:.3f} s, p95 "
            f"{f.p95_s:.3f} s, p99 {f.p99_s:.3f} s, max {f.max_s:.3f} s, "
            f"polls/job {f.polls_per_job:.1f}, tasks created "
            f"{f.tasks_created}, errored {f.tasks_errored}"
        )
    if not r.flows:
        out.append("batch flows: none (this trace creates its tasks one call at a time)")
    rec = r.reconciliation
    if rec is not None:
        if rec.error:
            out.append(
                f"reconciliation: expected {rec.expected}, created/missing/duplicated "
                f"unknown  (error: {rec.error})"
            )
        else:
            out.append(
                f"reconciliation: expected {rec.expected}, created {rec.created}, "
                f"missing {rec.missing}, duplicated {rec.duplicated}"
            )
    if r.webhooks is not None:
        out += webhook_summary_lines(r.webhooks)
    return out
