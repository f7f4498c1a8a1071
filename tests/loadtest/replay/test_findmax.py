"""``fleetsim replay --find-max``: bracketing and bisection, and a real search against an
emulator whose rate limit implies the answer."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loadtest.replay.findmax import FILE_NAME, Probe, judge_probe, run_find_max, search
from loadtest.replay.results import ReplayResults, ThresholdCheck, Validity
from loadtest.trace.format import TraceCall, TraceHeader, dump_trace
from sim.errors import UserError


def capacity(limit: float, calls: list[float]):  # type: ignore[no-untyped-def]
    """A probe that passes at or below ``limit`` and records the values it was asked."""

    def probe(v: float) -> Probe:
        calls.append(v)
        ok = v <= limit
        return Probe(v, ok, 0 if ok else 1, "" if ok else "X: p99_ms 9 > 1", () if ok else ("X",))

    return probe


def test_speedup_search_brackets_then_bisects_to_the_tolerance() -> None:
    asked: list[float] = []
    found = search(capacity(37.0, asked), "speedup", 1.0, 20)
    assert asked[:7] == [1, 2, 4, 8, 16, 32, 64]  # doubling until the first failure
    assert found.best is not None and found.broke_at is not None
    assert found.best <= 37.0 < found.broke_at <= found.best * 1.1
    assert found.converged and found.breaking == "X: p99_ms 9 > 1"
    assert found.breaking_scopes == ("X",)


def test_search_goes_down_when_the_start_fails_and_respects_max_runs() -> None:
    asked: list[float] = []
    found = search(capacity(3.0, asked), "speedup", 100.0, 4)
    assert asked == [100, 50, 25, 12.5]  # never more than --max-runs
    assert found.best is None and found.broke_at == 12.5 and not found.converged


def test_scale_search_is_over_integers_and_ends_adjacent() -> None:
    asked: list[float] = []
    found = search(capacity(5.0, asked), "scale", 1.0, 10)
    assert all(v == int(v) for v in asked)
    assert (found.best, found.broke_at) == (5.0, 6.0) and found.converged


def test_a_capacity_above_everything_tried_has_no_upper_bound() -> None:
    found = search(capacity(1e9, []), "speedup", 1.0, 3)
    assert found.best == 4.0 and found.broke_at is None and not found.converged


def test_an_interrupted_probe_stops_the_search() -> None:
    asked: list[float] = []

    def probe(v: float) -> Probe:
        asked.append(v)
        return Probe(v, False, 130, "interrupted")

    found = search(probe, "speedup", 1.0, 8)
    assert asked == [1.0] and found.interrupted


def test_bad_search_arguments_are_refused() -> None:
    with pytest.raises(UserError, match="--max-runs 0"):
        search(capacity(1, []), "speedup", 1.0, 0)
    with pytest.raises(UserError, match="choose one of"):
        search(capacity(1, []), "users", 1.0, 3)


def test_a_probe_names_what_broke_worst_first(tmp_path: Path) -> None:
    checks = (
        ThresholdCheck("GET /a", "p99_ms", 100.0, 110.0, False),
        ThresholdCheck("onfleet.batch", "p99_ms", 100.0, 400.0, False),
        ThresholdCheck("GET /b", "p99_ms", 100.0, 50.0, True),
    )
    p = judge_probe(2.0, 1, ReplayResults(thresholds=checks), tmp_path)
    assert not p.passed and p.scopes == ("onfleet.batch", "GET /a")
    assert p.broke == "onfleet.batch: p99_ms 400 > 100"
    bad = ReplayResults(validity=Validity.of(["schedule lag p99 900 ms exceeds the bound"]))
    p = judge_probe(2.0, 3, bad, tmp_path)
    assert p.broke.startswith("run invalid: schedule lag") and p.scopes == ("run validity",)
    assert judge_probe(2.0, 0, ReplayResults(), tmp_path).passed


def test_find_max_without_thresholds_exits_2(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _auth_trace(trace, 5, 0.1)
    host = ("--host", "http://127.0.0.1:9")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetsim.cli",
            "replay",
            str(trace),
            *host,
            "--find-max",
            "speedup",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--find-max needs --thresholds" in proc.stderr + proc.stdout


def _auth_trace(path: Path, n: int, spacing_s: float) -> None:
    """``n`` independent ``GET /api/v2/auth/test`` calls, ``spacing_s`` simulated s apart."""
    header = TraceHeader(
        scenario="find-max",
        seed=0,
        start_epoch_ms=0,
        duration_s=n * spacing_s,
        providers=("onfleet",),
        submission_mode="none",
        counts={"calls": n},
    )
    calls = (
        TraceCall(
            id=i,
            at_s=i * spacing_s,
            provider="onfleet",
            op="auth.test",
            method="GET",
            path="/api/v2/auth/test",
            family=i,
        )
        for i in range(n)
    )
    dump_trace(header, calls, path)


@pytest.mark.slow
def test_find_max_speedup_converges_within_the_rate_limits_bracket(tmp_path: Path) -> None:
    from loadtest.emulator.config import RateLimitConfig, fast
    from loadtest.emulator.serve import EmulatorServer
    from loadtest.replay.launch import ReplayOptions

    # 60 calls 0.1 simulated s apart: at speedup s they come 10*s per second.  The
    # emulator admits 30 per rolling second, so the limit implies s* = 3: any run at a
    # speedup above it gets 429s (retried, so only the retry ratio shows them).
    limit, spacing = 30, 0.1
    implied = limit * spacing
    trace = tmp_path / "trace.jsonl"
    _auth_trace(trace, 60, spacing)
    gate = tmp_path / "gate.toml"
    gate.write_text('[endpoints."GET /api/v2/auth/test"]\nmax_retry_ratio = 0\n')
    cfg = dataclasses.replace(fast(), rate_limit=RateLimitConfig(onfleet_per_s=limit))
    out = tmp_path / "out"
    said = io.StringIO()
    with EmulatorServer(cfg) as url:
        opts = ReplayOptions(
            trace=trace, host=url, speedup=2.0, out=out, thresholds=gate, start_delay_s=0.5
        )
        code = run_find_max(opts, "speedup", max_runs=6, stream=said)
    assert code == 0, said.getvalue()
    found = orjson.loads((out / FILE_NAME).read_bytes())
    assert found["best"] is not None and found["broke_at"] is not None, said.getvalue()
    # Within the bracket the limit implies: nothing above it passes (a run there must be
    # refused), and the search gets within about 10% of it (a loaded machine may bunch
    # calls near the limit, which only lowers the answer a little).
    assert implied / 1.6 <= found["best"] <= implied * 1.05, said.getvalue()
    assert implied * 0.95 <= found["broke_at"] * 1.0 <= implied * 1.5, said.getvalue()
    assert found["breaking_scopes"] == ["GET /api/v2/auth/test"]
    assert found["breaking"].startswith("GET /api/v2/auth/test: max_retry_ratio")
    assert len(found["runs"]) <= 6
    assert all((Path(r["out"]) / "results.json").is_file() for r in found["runs"])
    assert "highest passing" in said.getvalue()


def test_retry_ratio_gate_counts_retried_attempts() -> None:
    from loadtest.replay.results import EndpointStats
    from loadtest.replay.thresholds import evaluate, parse_thresholds

    row = EndpointStats("GET /a", count=10, retried=2, calls=8)
    limits = parse_thresholds({"endpoints": {"GET /a": {"max_retry_ratio": 0.1}}})
    (check,) = evaluate(ReplayResults(duration_s=1.0, endpoints=(row,)), limits)
    assert check.actual == pytest.approx(0.2) and not check.passed
    limits = parse_thresholds({"endpoints": {"GET /a": {"max_retry_ratio": 0.25}}})
    (check,) = evaluate(ReplayResults(duration_s=1.0, endpoints=(row,)), limits)
    assert check.passed
