"""``fleetsim replay``'s CI options: --baseline/--gate at the end of a run, their checks,
--dry-run's account of what it leaves out, and the Locust web UI's loopback default."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from loadtest.replay.ci import CiOptions, compare_with_baseline
from loadtest.replay.histogram import LatencyHistogram
from loadtest.replay.launch import ReplayOptions, dry_run
from loadtest.replay.results import CallCounts, EndpointStats, ReplayResults, write_results
from loadtest.replay.stats import percentile
from loadtest.trace.format import read_trace
from sim.errors import UserError

TASKS = "POST /api/v2/tasks"


def _replay(path: Path, seed: int, scale: float = 1.0) -> Path:
    samples = scale * np.random.default_rng(seed).lognormal(np.log(40.0), 0.4, 300)
    ep = EndpointStats(
        TASKS,
        count=300,
        calls=300,
        p50_ms=percentile(samples, 50),
        p95_ms=percentile(samples, 95),
        p99_ms=percentile(samples, 99),
        histogram=LatencyHistogram.of_ms(samples),
    )
    write_results(ReplayResults(calls=CallCounts(planned=300, sent=300), endpoints=(ep,)), path)
    return path


def test_baseline_compares_at_the_end_and_the_gate_judges(tmp_path: Path) -> None:
    base = _replay(tmp_path / "base", 1)
    gate = tmp_path / "gate.toml"
    gate.write_text("[p99_ms]\nmax_increase_pct = 10\n")
    same = _replay(tmp_path / "same", 2)
    out = io.StringIO()
    assert compare_with_baseline(CiOptions(baseline=base, gate=gate), same, out) == 0
    assert f"compared with the baseline {base}" in out.getvalue()
    assert (same / "compare" / "compare.json").is_file()
    assert (same / "compare" / "compare.html").is_file()
    assert (same / "compare" / "junit.xml").is_file()
    slow = _replay(tmp_path / "slow", 3, scale=3.0)
    out = io.StringIO()
    assert compare_with_baseline(CiOptions(baseline=base, gate=gate), slow, out) == 1
    assert "significantly violated" in out.getvalue()
    # Without a gate the comparison is only shown and written.
    assert compare_with_baseline(CiOptions(baseline=base), slow, io.StringIO()) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeseries": Path("ts.txt")}, "must end in .csv or .jsonl"),
        ({"metrics_port": 70000}, "must be 0..65535"),
        ({"baseline": Path("/nonexistent")}, "no results.json there"),
        ({"gate": Path("g.toml")}, "--gate needs --baseline"),
    ],
)
def test_bad_ci_options_are_refused_before_anything_runs(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        CiOptions(**kwargs)  # type: ignore[arg-type]


def test_a_bad_gate_file_is_refused_up_front(tmp_path: Path) -> None:
    base = _replay(tmp_path / "base", 1)
    (tmp_path / "g.toml").write_text("[p99_ms\n")
    with pytest.raises(UserError, match=r"--gate .*g\.toml"):
        CiOptions(baseline=base, gate=tmp_path / "g.toml")


def test_dry_run_says_what_it_leaves_out_and_why(tiny_traces: dict[str, Path]) -> None:
    trace = tiny_traces["single"]
    calls = read_trace(trace).calls
    drivers = sum(1 for c in calls if c.op.startswith("driver."))
    teams = sum(1 for c in calls if c.op == "team.create")
    assert drivers and teams
    out = io.StringIO()
    opts = ReplayOptions(trace=trace, host="https://api.example.test", skip_ops=("team.*",))
    assert dry_run(opts, 1, out) == 0
    text = out.getvalue()
    kept = len(calls) - drivers - teams
    assert f"dry run: {kept} of the trace's {len(calls)} calls would be sent" in text
    assert f"left out: {teams} calls (--skip-ops 'team.*')" in text
    assert (
        f"left out: {drivers} calls ('driver.*' calls exist only on the emulator and the "
        "target is not loopback)" in text
    )


def test_plain_locust_web_ui_defaults_to_loopback() -> None:
    # In a child: importing Locust monkey-patches the process with gevent.
    code = (
        "import loadtest.replay.locustfile\n"  # registers its options with Locust
        "from locust.argument_parser import get_parser\n"
        "p = get_parser()\n"
        "print(p.parse_args([]).web_host)\n"
        "print(p.parse_args(['--web-host', '0.0.0.0']).web_host)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["127.0.0.1", "0.0.0.0"]
