"""Seeded replay runs whose ``results.json`` bytes are pinned under ``tests/golden/``.

Each case is raw samples (as the executor records them), what the run was, its
reconciliation, CPU peak and thresholds.  The goldens were written by the writer as it was
before the typed results record existed, so a byte-equal file proves the record writes
exactly what older tools read; the calls, attempts, mean, p90, p99.9, corrected p95 and
histogram keys were added to them deliberately (issue 12), and so were each throughput
point's p50_ms and p99_ms (issue 13: the latency-over-time chart).  Regenerate (only when the
schema changes on purpose) with ``python -m tests.loadtest.replay.golden_results``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.replay.finalize import judge
from loadtest.replay.reconcile import Reconciliation
from loadtest.replay.results import ReplayResults, RunInfo, write_results
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.thresholds import Limit, parse_thresholds

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    samples: Callable[[Recorder], None]
    info: RunInfo
    recon: Reconciliation | None
    duration_s: float
    cpu_peak_pct: float
    thresholds: dict[str, Any] = field(default_factory=dict)

    @property
    def golden(self) -> Path:
        return GOLDEN / f"replay_results_{self.name}.json"

    def aggregate(self) -> Aggregate:
        rec = Recorder()
        self.samples(rec)
        agg = Aggregate()
        agg.merge(rec.drain())
        return agg

    def limits(self) -> list[Limit]:
        return parse_thresholds(self.thresholds)

    def results(self) -> ReplayResults:
        return judge(
            self.aggregate(),
            self.info,
            self.recon,
            self.duration_s,
            self.cpu_peak_pct,
            self.limits(),
        )


def _full(r: Recorder) -> None:
    # Two endpoints over ~3 s, some failures (one retried), two flows, every counter.
    # Each POST is its own call; the 9 GETs are the polls of 3 calls, one of which failed.
    for i in range(37):
        t = i * 0.081
        ok = i % 11 != 5
        r.request("POST /api/v2/tasks", t, 10.0 + (i * 7) % 23 + 0.25, 12.5 + i * 0.75, ok)
        r.outcome("POST /api/v2/tasks", ok)
        r.lag(0.1 + (i % 9) * 0.37)
    for i in range(9):
        r.request(
            "GET /api/v2/tasks/batch/{jobId}", 0.3 + i * 0.29, 4.0 + i, 4.5 + i, i != 3, i == 3
        )
    for ok in (True, False, True):
        r.outcome("GET /api/v2/tasks/batch/{jobId}", ok)
    r.flow("onfleet.batch_async", 1.25, 3, 20, 0, True)
    r.flow("onfleet.batch_async", 2.5, 4, 18, 2, True)
    r.flow("onfleet.batch_async", 0.75, 1, 0, 20, False)
    r.flow("deftship.batch", 0.333, 0, 7, 1, True)
    counters = {
        "planned": 50,
        "sent": 40,
        "skipped": 3,
        "retries": 5,
        "checked_before_retry": 2,
        "recovered": 1,
        "exceptions": 1,
        "unresolved": 1,
        "lost_not_resent": 1,
        "workers_reused": 2,
        "ordering_retries": 3,
        "no_response": 1,
        "unauthorised": 0,
        "tasks_errored": 23,
    }
    for k, n in counters.items():
        r.count(k, n)
    r.expected_tasks.extend(range(45))


def _unreachable(r: Recorder) -> None:
    for i in range(5):
        r.request("POST /api/v2/tasks", i * 0.5, 0.0, 0.0, False)
        r.outcome("POST /api/v2/tasks", False)
        r.lag(300.0 + i)
    r.count("sent", 5)
    r.count("no_response", 5)
    r.expected_tasks.extend([1, 2])


def _empty(r: Recorder) -> None:
    pass


CASES = (
    Case(
        "full",
        _full,
        RunInfo("http://127.0.0.1:8080", 60.0, "run-full", 50, processes=2),
        Reconciliation(45, 44, 1, 2, listed=61),
        3.0004,
        42.37,
        {
            "endpoints": {
                "*": {"p99_ms": 30, "max_error_ratio": 0.05, "min_rps": 5},
                "GET /api/v2/tasks/batch/{jobId}": {"p95_ms": 100},
                "POST /api/v2/tasks/batch": {"p99_ms": 500},
                "DELETE /api/v2/tasks/{id}": {"p99_ms": 500, "required": True},
            },
            "flows": {
                "onfleet.batch_async": {"p95_ms": 2000, "max_error_ratio": 0.5, "min_rps": 0.5},
                "deftship.batch": {"p99_ms": 400},
                "onfleet.batch": {"p99_ms": 400},
            },
            "schedule_lag": {"p50_ms": 1, "p99_ms": 5, "max_ms": 10},
        },
    ),
    Case(
        "unreachable",
        _unreachable,
        RunInfo("http://127.0.0.1:9", 10.0, "run-down", 5),
        Reconciliation(2, None, None, None, error="target unreachable: no answer"),
        2.0,
        95.04,
    ),
    Case("empty", _empty, RunInfo("http://127.0.0.1:1", 1.0, "run-empty", 0), None, 0.0, 0.0),
)


def write_goldens() -> None:
    """Write every case's golden with the current writer."""
    for case in CASES:
        write_results(case.results(), GOLDEN).replace(case.golden)


if __name__ == "__main__":
    write_goldens()
