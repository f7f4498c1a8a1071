"""Comparing replays (loadtest.replay.compare): intervals from histograms, the gate, the
outputs, and two real replays of the tiny trace against the emulator."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.replay.compare import (
    MIN_SAMPLES,
    compare_paths,
    compare_replays,
    ratio_delta_ci,
    run_compare,
)
from loadtest.replay.histogram import LatencyHistogram
from loadtest.replay.results import (
    CallCounts,
    EndpointStats,
    FlowStats,
    ReplayResults,
    Validity,
    write_results,
)
from loadtest.replay.stats import percentile
from sim.errors import UserError

TASKS = "POST /api/v2/tasks"
UPDATE = "PUT /api/v2/tasks/{taskId}"


def _endpoint(name: str, samples: np.ndarray, failed: int = 0) -> EndpointStats:
    return EndpointStats(
        name,
        count=len(samples),
        calls=len(samples),
        failed_calls=failed,
        p50_ms=percentile(samples, 50),
        p95_ms=percentile(samples, 95),
        p99_ms=percentile(samples, 99),
        histogram=LatencyHistogram.of_ms(samples),
    )


def _results(seed: int, scale: float = 1.0, sizes: Sequence[int] = (300, 80, 30)) -> ReplayResults:
    """A replay whose endpoints' latencies are lognormal (median 40 ms, p99 ~120 ms)."""
    rng = np.random.default_rng(seed)
    names = (TASKS, UPDATE, "POST /api/v2/workers")
    eps = tuple(
        _endpoint(name, scale * rng.lognormal(np.log(40.0), 0.47, n))
        for name, n in zip(names, sizes, strict=True)
    )
    n_calls = sum(sizes)
    return ReplayResults(
        target="http://127.0.0.1:1",
        speedup=100.0,
        calls=CallCounts(planned=n_calls, sent=n_calls, ok=n_calls),
        endpoints=eps,
    )


def test_replays_from_one_distribution_are_rarely_called_different() -> None:
    # Holm over the family holds the chance of *any* false alarm near 5% (3 of these 40).
    runs = [_results(s) for s in range(41)]
    flagged = sum(bool(compare_replays(a, b).significant) for a, b in pairwise(runs))
    assert flagged <= 4


def test_a_clear_latency_shift_is_found_as_a_regression() -> None:
    for s in range(5):
        c = compare_replays(_results(s), _results(1000 + s, scale=1.6))
        d = c.find("endpoints", TASKS, "p50_ms")
        assert d is not None and d.low > 0 and d.verdict == "worse"
        assert d.low <= d.delta <= d.high


def test_too_few_samples_give_no_interval() -> None:
    small = _results(1, sizes=(MIN_SAMPLES - 1, 80, 30))
    c = compare_replays(small, _results(2, scale=3.0, sizes=(MIN_SAMPLES - 1, 80, 30)))
    d = c.find("endpoints", TASKS, "p99_ms")
    assert d is not None and not d.has_interval and d.verdict == "no interval"


def test_error_ratio_interval() -> None:
    low, high = ratio_delta_ci(0, 200, 30, 200)
    assert 0 < low < 0.15 < high <= 1
    low, high = ratio_delta_ci(0, 10, 1, 10)
    assert low < 0 < high


@given(
    st.integers(0, 50).flatmap(lambda x: st.tuples(st.just(x), st.integers(max(x, 1), 60))),
    st.integers(0, 50).flatmap(lambda x: st.tuples(st.just(x), st.integers(max(x, 1), 60))),
)
def test_error_ratio_interval_stays_in_range_and_holds_the_delta(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    low, high = ratio_delta_ci(a[0], a[1], b[0], b[1])
    d = b[0] / b[1] - a[0] / a[1]
    assert -1.0 <= low <= d <= high <= 1.0


def test_changed_calls_and_lag_without_interval() -> None:
    base = _results(1)
    extra = _endpoint("GET /api/v2/tasks/{taskId}", np.full(5, 10.0))
    new = dataclasses.replace(_results(2), endpoints=(*_results(2).endpoints, extra))
    c = compare_replays(base, new)
    (changed,) = [t for t in c.tables if t.title == "Changed calls"]
    assert changed.rows == (("GET /api/v2/tasks/{taskId}", "task.get", 0, 5, "only in new"),)
    lag = c.find("lag", "schedule_lag", "lag_p99_ms")
    assert lag is not None and not lag.has_interval


def test_a_flow_is_compared_in_seconds() -> None:
    rng = np.random.default_rng(3)

    def flow(scale: float) -> FlowStats:
        s = rng.lognormal(0.0, 0.3, 100) * scale
        return FlowStats(
            "onfleet.batch_async",
            count=100,
            p50_s=percentile(s, 50),
            p95_s=percentile(s, 95),
            p99_s=percentile(s, 99),
            histogram=LatencyHistogram.of_ms(s * 1000.0),
        )

    base = dataclasses.replace(_results(1), flows=(flow(1.0),))
    new = dataclasses.replace(_results(2), flows=(flow(2.0),))
    d = compare_replays(base, new).find("flows", "onfleet.batch_async", "p50_s")
    assert d is not None and d.unit == "s" and 0.5 < d.delta < 1.5 and d.verdict == "worse"


def _replay_dir(path: Path, results: ReplayResults) -> Path:
    write_results(results, path)
    return path


def test_run_compare_gate_exits_1_with_junit(tmp_path: Path) -> None:
    base = _replay_dir(tmp_path / "base", _results(1))
    slow = _replay_dir(tmp_path / "slow", _results(2, scale=1.6))
    same = _replay_dir(tmp_path / "same", _results(3))
    gate = tmp_path / "gate.toml"
    gate.write_text("[p99_ms]\nmax_increase_pct = 10\n[error_ratio]\nmax_increase = 0.001\n")
    out = run_compare(base, slow, tmp_path / "out", gate)
    assert out.exit_code == 1 and out.failed
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert "<failure" in junit and 'name="run validity"' in junit
    assert (tmp_path / "out" / "compare.html").is_file()
    ok = run_compare(base, same, tmp_path / "out2", gate, junit=tmp_path / "j.xml")
    assert ok.exit_code == 0 and not ok.failed
    assert "<failure" not in (tmp_path / "j.xml").read_text()


def test_gating_an_invalid_replay_exits_3(tmp_path: Path) -> None:
    bad = dataclasses.replace(_results(1), validity=Validity(False, ("schedule lag p99 400 ms",)))
    base = _replay_dir(tmp_path / "base", bad)
    new = _replay_dir(tmp_path / "new", _results(2))
    gate = tmp_path / "gate.toml"
    gate.write_text("[p99_ms]\nmax_increase_pct = 10\n")
    out = run_compare(base, new, tmp_path / "out", gate)
    assert out.exit_code == 3 and out.invalid
    assert any("invalid" in w for w in out.comparison.warnings)
    assert "run invalid" in (tmp_path / "out" / "junit.xml").read_text()


def test_a_replay_and_a_run_are_not_compared(tmp_path: Path) -> None:
    replay = _replay_dir(tmp_path / "replay", _results(1))
    run = tmp_path / "run"
    run.mkdir()
    (run / "kpis.json").write_text('{"kpis": {}}')
    with pytest.raises(UserError, match="cannot compare a replay"):
        compare_paths(replay, run)


def test_a_gate_naming_an_unknown_endpoint_writes_nothing(tmp_path: Path) -> None:
    base = _replay_dir(tmp_path / "base", _results(1))
    gate = tmp_path / "gate.toml"
    gate.write_text('[endpoints."POST /api/v2/task".p99_ms]\nmax_increase_pct = 5\n')
    with pytest.raises(UserError, match="did you mean 'POST /api/v2/tasks'"):
        run_compare(base, base, tmp_path / "out", gate)
    assert not (tmp_path / "out").exists()


# -- real replays ------------------------------------------------------------------------


@pytest.mark.slow
def test_replays_against_one_emulator_agree_and_injected_latency_is_found(
    tmp_path: Path, tiny_traces: dict[str, Path]
) -> None:
    from loadtest.emulator.config import LatencyConfig, RouteLatency, fast
    from loadtest.emulator.serve import EmulatorServer
    from loadtest.replay.launch import ReplayOptions, run_replay

    def replay(name: str, median_ms: float) -> Path:
        latency = LatencyConfig(enabled=True, default=RouteLatency(median_ms, 3 * median_ms))
        config = dataclasses.replace(fast(), latency=latency)
        out = tmp_path / name
        with EmulatorServer(config) as url:
            opts = ReplayOptions(
                trace=tiny_traces["single"],
                host=url,
                speedup=1600.0,
                out=out,
                start_delay_s=0.5,
                log_path=tmp_path / f"{name}.log",
            )
            assert run_replay(opts) == 0, (tmp_path / f"{name}.log").read_text()[-2000:]
        return out

    # Three replays at once: 207 calls each at ~25 calls/s load neither core much.
    with ThreadPoolExecutor(3) as pool:
        base, same, slow = pool.map(replay, ("base", "same", "slow"), (30.0, 30.0, 90.0))
    gate = tmp_path / "gate.toml"
    gate.write_text("[p50_ms]\nmax_increase_pct = 20\n")
    agree = run_compare(base, same, tmp_path / "agree", gate)
    assert agree.comparison.significant == () and agree.exit_code == 0
    found = run_compare(base, slow, tmp_path / "found", gate)
    worse = [d for d in found.comparison.significant if d.verdict == "worse"]
    assert worse and all(d.section == "endpoints" for d in worse)
    assert found.exit_code == 1


def test_a_gate_on_a_registry_endpoint_this_trace_lacks_is_skipped(tmp_path: Path) -> None:
    base = _replay_dir(tmp_path / "base", _results(1))
    gate = tmp_path / "gate.toml"
    gate.write_text('[endpoints."POST /api/v2/tasks/batch".p99_ms]\nmax_increase_pct = 5\n')
    (check,) = run_compare(base, base, None, gate).checks or ()
    assert check.skipped and check.reason == "not in this comparison"
