"""``fleetsim report RUN --replay REPLAY_DIR``: a replay's sections in the run's page."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.cli import main
from loadtest.replay.results import CallCounts, ReplayResults, write_results


def test_the_replay_sections_come_from_replay_dir(tiny_copy: Path, tmp_path: Path) -> None:
    replay = tmp_path / "replay"
    write_results(
        ReplayResults(
            target="http://127.0.0.1:1",
            calls=CallCounts(planned=7, sent=7, ok=7),
            cpu_peak_pct=93.0,
            cpu_sustained_pct=41.0,
            cpu_window_s=5.0,
            aborted="POST /api/v2/tasks p99_ms = 812 against the limit 200",
        ),
        replay,
    )
    assert main(["report", str(tiny_copy)]) == 0
    assert "Load-test replay" not in (tiny_copy / "report.html").read_text()
    assert main(["report", str(tiny_copy), "--replay", str(replay)]) == 0
    page = (tiny_copy / "report.html").read_text()
    assert "Load-test replay" in page and "http://127.0.0.1:1" in page
    assert "CPU held for 5 s (%)" in page and "p99_ms = 812 against the limit 200" in page


def test_a_replay_dir_without_results_is_exit_2(
    tiny_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tiny_copy), "--replay", str(tmp_path)]) == 2
    assert "no results.json there" in capsys.readouterr().err
