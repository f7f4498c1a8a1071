"""``fleetsim thresholds check`` and the name check ``fleetsim replay`` makes before sending."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.cli import main
from loadtest.trace.onfleet import write_trace
from tests.fixtures.runs import make_day
from tests.fixtures.scenarios import REPO

EXAMPLE = REPO / "loadtest" / "thresholds.example.toml"


@pytest.mark.parametrize("mode", ["single", "batch", "batch-async"])
def test_the_example_file_passes_against_a_demo_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    write_trace(make_day(mode), tmp_path / "trace.jsonl")
    assert main(["thresholds", "check", str(EXAMPLE), "--trace", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "every name is known" in out
    # The other submission modes' names are real but not in this trace: said, not refused.
    assert "not in this trace" in out and "onfleet.batch" in out


def test_without_a_trace_the_registry_decides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["thresholds", "check", str(EXAMPLE)]) == 0
    assert "the operation registry" in capsys.readouterr().out


def test_a_misspelt_name_exits_2_with_the_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_trace(make_day("batch"), tmp_path / "trace.jsonl")
    th = tmp_path / "th.toml"
    th.write_text('[endpoints."PUT /api/v2/task/{taskId}"]\np99_ms = 5\n')
    assert main(["thresholds", "check", str(th), "--trace", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'PUT /api/v2/tasks/{taskId}'" in err and "Traceback" not in err
    assert str(th) in err and len(err.strip().splitlines()) == 1


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["thresholds", "check", str(tmp_path / "nope.toml")]) == 2
    assert "no such thresholds file" in capsys.readouterr().err


def test_replay_refuses_a_name_that_matches_nothing_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_trace(make_day("single"), tmp_path / "trace.jsonl")
    th = tmp_path / "th.toml"
    th.write_text('[flows."onfleet.bacth"]\np99_ms = 5\n')
    out = tmp_path / "out"
    # Nothing listens on port 9; a replay that started would fail differently.
    args = ["replay", str(tmp_path), "--host", "http://127.0.0.1:9", "--thresholds", str(th)]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'onfleet.batch'" in err and "Traceback" not in err
    assert not out.exists()
