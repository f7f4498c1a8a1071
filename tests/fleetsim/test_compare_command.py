"""``fleetsim compare``: output, exit codes, the gate and its JUnit XML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from fleetsim.cli import main
from loadtest.replay.histogram import LatencyHistogram
from loadtest.replay.results import CallCounts, EndpointStats, ReplayResults, write_results
from loadtest.replay.stats import percentile
from sim.output import write_outputs
from sim.run import simulate
from sim.scenario_io import load_scenario
from tests.fixtures.scenarios import SCENARIOS

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


def _run(path: Path, *overrides: str) -> Path:
    return write_outputs(simulate(load_scenario(SCENARIOS / "tiny.toml", list(overrides))), path)


def test_two_runs_print_and_write_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b", "fleet.workers=3")
    out = tmp_path / "out"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "on_time_pct (%)" in text and "no interval" in text and "what-if" in text
    doc = orjson.loads((out / "compare.json").read_bytes())
    assert doc["kind"] == "run" and doc["deltas"][0]["metric"] == "tasks_created"
    assert "<html" in (out / "compare.html").read_text()


def test_the_gate_exits_1_on_a_regression_and_0_on_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, same = _replay(tmp_path / "base", 1), _replay(tmp_path / "same", 2)
    slow = _replay(tmp_path / "slow", 3, scale=1.5)
    gate = tmp_path / "gate.toml"
    gate.write_text("[p99_ms]\nmax_increase_pct = 10\n[error_ratio]\nmax_increase = 0.001\n")
    junit = tmp_path / "junit.xml"
    args = ["--out", str(tmp_path / "o"), "--gate", str(gate), "--junit", str(junit)]
    assert main(["compare", str(base), str(slow), *args]) == 1
    assert "significantly violated" in capsys.readouterr().out
    assert "<failure" in junit.read_text()
    assert main(["compare", str(base), str(same), *args, "--quiet"]) == 0
    assert "gate: passed" in capsys.readouterr().out
    assert "<failure" not in junit.read_text()


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ("[p99_ms]\nmax_increse_pct = 10\n", "did you mean 'max_increase_pct'"),
        ("[p99]\nmax_increase_pct = 10\n", "did you mean 'p99_ms'"),
        ("[p99_ms\n", "invalid TOML"),
    ],
)
def test_a_bad_gate_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gate: str, message: str
) -> None:
    base = _replay(tmp_path / "base", 1)
    (tmp_path / "gate.toml").write_text(gate)
    out = tmp_path / "out"
    code = main(
        ["compare", str(base), str(base), "--gate", str(tmp_path / "gate.toml"), "--out", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_mismatched_or_missing_inputs_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = _replay(tmp_path / "replay", 1)
    run = _run(tmp_path / "run")
    out = ["--out", str(tmp_path / "o")]
    assert main(["compare", str(replay), str(run), *out]) == 2
    assert "cannot compare a replay" in capsys.readouterr().err
    assert main(["compare", str(run), str(tmp_path / "nope"), *out]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["compare", str(run), str(run), "--junit", str(tmp_path / "j.xml"), *out]) == 2
    assert "--gate" in capsys.readouterr().err
    lunch = tmp_path / "lunch"
    lunch.mkdir()
    doc = orjson.loads((run / "kpis.json").read_bytes())
    (lunch / "kpis.json").write_bytes(orjson.dumps({**doc, "scenario": "lunch"}))
    assert main(["compare", str(run), str(lunch), *out]) == 2
    assert "--what-if" in capsys.readouterr().err
    assert main(["compare", str(run), str(lunch), "--what-if", *out]) == 0


def test_a_gate_on_single_runs_says_it_judged_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b", "fleet.workers=2")
    gate = tmp_path / "gate.toml"
    gate.write_text("[on_time_pct]\nmax_decrease = 1\n")
    assert main(["compare", str(a), str(b), "--gate", str(gate), "--out", str(tmp_path / "o")]) == 0
    assert "gate: nothing could be judged (0 judged, 1 skipped)" in capsys.readouterr().out
    assert "<skipped" in (tmp_path / "o" / "junit.xml").read_text()
