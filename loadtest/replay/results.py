"""``results.json``: assembling it (schema in docs/CONTRACTS.md), judging validity, printing.

Concepts held here: :class:`RunInfo` (what the run was), :func:`validity` (load-generator
saturation: CPU above 90% or schedule lag over a bound makes the run invalid),
:func:`build_results`, :func:`write_results` and :func:`summary_lines`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from loadtest.replay.reconcile import Reconciliation
from loadtest.replay.stats import Aggregate
from loadtest.replay.thresholds import Check

RESULTS_VERSION = 1
CPU_LIMIT_PCT = 90.0


@dataclass(frozen=True, slots=True)
class RunInfo:
    target: str
    speedup: float
    run_id: str
    planned: int
    max_lag_p99_ms: float = 250.0
    processes: int = 1


def validity(
    agg: Aggregate,
    info: RunInfo,
    cpu_peak_pct: float,
    recon: Reconciliation | None = None,
) -> list[str]:
    """Why the run cannot be trusted (empty when it can): the generator saturated, no
    call succeeded (target unreachable, bad credentials), or reconciliation failed."""
    reasons = []
    c = agg.rec.counters
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
    if recon is not None and recon.error:
        reasons.append(f"reconciliation could not run: {recon.error}")
    if cpu_peak_pct > CPU_LIMIT_PCT:
        reasons.append(f"load generator CPU reached {cpu_peak_pct:.0f}% (> {CPU_LIMIT_PCT:.0f}%)")
    lag = agg.lag()
    if lag["p99"] > info.max_lag_p99_ms:
        reasons.append(
            f"schedule lag p99 {lag['p99']:.0f} ms exceeds the bound {info.max_lag_p99_ms:.0f} ms"
        )
    return reasons


def build_results(
    agg: Aggregate,
    info: RunInfo,
    reasons: list[str],
    recon: Reconciliation | None,
    checks: list[Check],
    duration_s: float,
    cpu_peak_pct: float,
) -> dict[str, Any]:
    c = agg.rec.counters
    return {
        "version": RESULTS_VERSION,
        "target": info.target,
        "valid": not reasons,
        "invalid_reasons": reasons,
        "speedup": info.speedup,
        "duration_s": round(duration_s, 3),
        "run_id": info.run_id,
        "processes": info.processes,
        "calls": {
            "planned": info.planned,
            "sent": c.get("sent", 0),
            "ok": c.get("ok", 0),
            "failed": c.get("failed", 0),
            "skipped": c.get("skipped", 0),
            "retries": c.get("retries", 0),
            "checked_before_retry": c.get("checked_before_retry", 0),
            "recovered": c.get("recovered", 0),
            "exceptions": c.get("exceptions", 0),
            "unresolved": c.get("unresolved", 0),
            "lost_not_resent": c.get("lost_not_resent", 0),
            "workers_reused": c.get("workers_reused", 0),
            "ordering_retries": c.get("ordering_retries", 0),
        },
        "endpoints": agg.endpoints(duration_s),
        "flows": agg.flow_stats(),
        "schedule_lag_ms": agg.lag(),
        "throughput": agg.throughput(),
        "reconciliation": recon.to_json() if recon else None,
        "thresholds": [ch.to_json() for ch in checks],
        "load_generator": {"cpu_peak_pct": round(cpu_peak_pct, 1)},
    }


def write_results(results: Mapping[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    return path


def read_results(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def summary_lines(r: Mapping[str, Any]) -> list[str]:
    """A human summary of a results.json."""
    out = []
    if not r["valid"]:
        bar = "!" * 72
        out += [bar, "RUN INVALID: its numbers cannot be trusted:"]
        out += [f"  - {why}" for why in r["invalid_reasons"]]
        out += [bar]
    calls = r["calls"]
    dur = r["duration_s"]
    rate = calls["sent"] / dur if dur else 0.0
    out.append(
        f"target {r['target']}  speedup {r['speedup']:g}x  duration {dur:.1f} s  "
        f"processes {r.get('processes', 1)}"
    )
    out.append(
        f"calls: planned {calls['planned']}, sent {calls['sent']}, ok {calls['ok']}, "
        f"failed {calls['failed']}, skipped {calls['skipped']}, unresolved "
        f"{calls.get('unresolved', 0)}, retries {calls['retries']}  ({rate:.1f} calls/s)"
    )
    tp = r.get("throughput") or []
    if tp:
        peak = max(tp, key=lambda row: row["rps"])
        errs = sum(row["errors_per_s"] for row in tp)
        out.append(
            f"throughput: mean {rate:.1f} req/s, peak {peak['rps']:.0f} req/s at "
            f"t={peak['t_s']} s, {errs:.0f} error responses"
        )
    lag = r["schedule_lag_ms"]
    out.append(
        f"schedule lag: p50 {lag['p50']:.2f} ms  p99 {lag['p99']:.2f} ms  max {lag['max']:.2f} ms"
    )
    out.append(
        f"{'endpoint':<44} {'count':>7} {'err':>5} {'rps':>7} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'p99 corr':>9}"
    )
    for e in r["endpoints"]:
        out.append(
            f"{e['name']:<44} {e['count']:>7} {e['errors']:>5} {e['rps']:>7.1f} "
            f"{e['p50_ms']:>8.1f} {e['p99_ms']:>8.1f} {e['p99_corrected_ms']:>9.1f}"
        )
    for f in r["flows"]:
        out.append(
            f"flow {f['name']}: {f['count']} jobs, p50 {f['p50_s']:.3f} s, p95 "
            f"{f['p95_s']:.3f} s, p99 {f['p99_s']:.3f} s, max {f['max_s']:.3f} s, "
            f"polls/job {f['polls_per_job']:.1f}, tasks created "
            f"{f['tasks_created']}, errored {f['tasks_errored']}"
        )
    if not r["flows"]:
        out.append("batch flows: none (this trace creates its tasks one call at a time)")
    rec = r.get("reconciliation")
    if rec:
        if rec.get("error"):
            out.append(
                f"reconciliation: expected {rec['expected']}, created/missing/duplicated "
                f"unknown  (error: {rec['error']})"
            )
        else:
            out.append(
                f"reconciliation: expected {rec['expected']}, created {rec['created']}, "
                f"missing {rec['missing']}, duplicated {rec['duplicated']}"
            )
    return out
