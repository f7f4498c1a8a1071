"""The command line: ``fleetsim trace`` and ``fleetsim replay --dry-run``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.cli import main
from loadtest.trace.onfleet import write_trace
from tests.fixtures.runs import make_day
from tests.fixtures.scenarios import SCENARIOS


def test_trace_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_trace(make_day("batch"), tmp_path / "trace.jsonl")
    assert main(["trace", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "calls by operation" in out and "task.batch" in out and "peak rate" in out


def test_trace_write_from_run_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim.output import write_outputs
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    scenario = load_scenario(SCENARIOS / "tiny.toml", [])
    write_outputs(simulate(scenario, seed=1), tmp_path / "run")
    code = main(
        [
            "trace",
            str(tmp_path / "run"),
            "--write",
            "--providers",
            "onfleet,hypertrack",
            "--no-driver-app",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "order.track" not in out  # HyperTrack tracking starts with the driver app
    assert "driver." not in out and "task.create" in out


def test_trace_write_reproduces_simulate_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``trace --write`` on a run rewrites the very trace ``simulate`` wrote, poll
    interval included (a non-default one: the old rewrite fell back to 2.0)."""
    from loadtest.trace.format import read_trace

    run = tmp_path / "run"
    args = ["simulate", str(SCENARIOS / "tiny.toml"), "--out", str(run), "--quiet"]
    args += ["--set", "submission.mode=batch-async", "--set", "submission.poll_s=3.5"]
    assert main(args) == 0
    written = (run / "trace.jsonl").read_bytes()
    header = read_trace(run / "trace.jsonl").header
    assert header.poll_s == 3.5
    assert {c.poll_s for c in read_trace(run / "trace.jsonl").calls if c.poll_s} == {3.5}
    (run / "trace.jsonl").unlink()
    assert main(["trace", str(run), "--write"]) == 0
    capsys.readouterr()
    assert (run / "trace.jsonl").read_bytes() == written


def test_bad_trace_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "trace.jsonl").write_text('{"format": "nope"}\n')
    assert main(["trace", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a fleetsim trace" in err and "Traceback" not in err


def test_dry_run_masks_credentials_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONFLEET_API_KEY", "super-secret-key-123")
    write_trace(make_day("single"), tmp_path / "trace.jsonl")
    # Port 9 (discard) on loopback: nothing listens, and nothing is sent anyway.
    code = main(
        ["replay", str(tmp_path / "trace.jsonl"), "--host", "http://127.0.0.1:9", "--dry-run", "5"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "super-secret-key-123" not in out and "url-secret" not in out
    import base64

    assert base64.b64encode(b"super-secret-key-123:").decode() not in out
    assert "Authorization: Basic ****" in out
    assert out.count("\nPOST ") + out.count("\nPUT ") == 5
    assert "<team:0>" in out and "<run-id>" in out


def test_replay_rejects_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_trace(make_day(), tmp_path / "trace.jsonl")
    assert main(["replay", str(tmp_path), "--host", "127.0.0.1:8080"]) == 2
    assert "must be an http(s) URL" in capsys.readouterr().err
    assert main(["replay", str(tmp_path), "--host", "http://127.0.0.1:1", "--speedup", "0"]) == 2
    assert (
        main(["replay", str(tmp_path), "--host", "http://127.0.0.1:1", "--run-time", "soon"]) == 2
    )
