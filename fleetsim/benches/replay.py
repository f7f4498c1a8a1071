"""``replay.lag``: schedule lag while the replay sustains 1,000 calls/s (target p99 ≤ 10 ms).

A synthetic trace of independent ``GET /api/v2/auth/test`` calls, evenly spaced at the
target rate, is replayed through the real path (``fleetsim replay``: Locust child process,
open-model scheduler, executor) against the emulator's fast profile served from this
process.  The same-run baseline is the lag of a bare gevent sleep loop keeping the same
schedule in a child process: what the machine itself allows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleetsim.bench import BenchContext, BenchResult
from loadtest.trace.format import TraceCall, TraceHeader, dump_trace

RATE = 1000.0
TARGET_P99_MS = 10.0

_BASELINE = """
import sys, time, gevent
import numpy as np
rate, n = float(sys.argv[1]), int(sys.argv[2])
t0 = time.monotonic() + 0.2
lags = []
for i in range(n):
    due = t0 + i / rate
    d = due - time.monotonic()
    gevent.sleep(d if d > 0 else 0)
    lags.append((time.monotonic() - due) * 1000.0)
a = np.sort(np.asarray(lags))
print(float(a[max(0, int(np.ceil(0.99 * len(a))) - 1)]))
"""


def _trace(path: Path, n: int) -> None:
    header = TraceHeader(
        scenario="bench-lag",
        seed=0,
        start_epoch_ms=0,
        duration_s=n / RATE,
        providers=("onfleet",),
        submission_mode="none",
        counts={"calls": n},
    )
    calls = (
        TraceCall(
            id=i,
            at_s=i / RATE,
            provider="onfleet",
            op="auth.test",
            method="GET",
            path="/api/v2/auth/test",
            family=i,
        )
        for i in range(n)
    )
    dump_trace(header, calls, path)


def bench_lag(ctx: BenchContext) -> list[BenchResult]:
    from loadtest.emulator.config import fast
    from loadtest.emulator.serve import EmulatorServer
    from loadtest.replay.launch import ReplayOptions, run_replay
    from loadtest.replay.results import read_results

    seconds = 3 if ctx.quick else 10
    n = int(RATE * seconds)
    work = ctx.workdir / "replay-lag"
    work.mkdir(parents=True, exist_ok=True)
    trace = work / "trace.jsonl"
    _trace(trace, n)
    out = work / "out"
    with EmulatorServer(fast()) as url:
        opts = ReplayOptions(
            trace=trace,
            host=url,
            speedup=1.0,
            out=out,
            run_time_s=seconds + 5.0,
            max_lag_ms=1e9,
            log_path=work / "locust.log",
            start_delay_s=2.0,
        )
        with open(work / "stdout.txt", "w") as stream:
            code = run_replay(opts, stream)
    res = read_results(out / "results.json")
    lag = res.schedule_lag_ms
    rows = [p for p in res.throughput if p.t_s < seconds]
    achieved = sum(p.rps for p in rows) / max(1, len(rows))
    base = subprocess.run(
        [sys.executable, "-c", _BASELINE, str(RATE), str(n)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    base_p99 = float(base.stdout.strip())
    p99 = lag.p99_ms
    return [
        BenchResult(
            name="replay.lag",
            value=p99,
            unit="ms p99 lag",
            baseline=base_p99,
            ratio=p99 / base_p99 if base_p99 > 0 else None,
            target=f"<= {TARGET_P99_MS:g}",
            met=p99 <= TARGET_P99_MS and achieved >= 0.95 * RATE,
            note="baseline: bare gevent sleep loop on the same schedule",
            extra={
                "achieved_rps": round(achieved, 1),
                "target_rps": RATE,
                "lag_p50_ms": lag.p50_ms,
                "lag_max_ms": lag.max_ms,
                "calls_sent": res.calls.sent,
                "calls_failed": res.calls.failed,
                "seconds": seconds,
                "exit_code": code,
            },
        )
    ]


BENCHMARKS = [("replay.lag", bench_lag)]
