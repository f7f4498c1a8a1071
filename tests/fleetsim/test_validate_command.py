"""``fleetsim validate`` and the warnings ``fleetsim simulate`` prints before it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fleetsim.commands.simulate as simulate_command
from fleetsim.cli import main
from sim.errors import UserError
from tests.fixtures.scenarios import SCENARIOS

TINY = SCENARIOS / "tiny.toml"
BATCH = ["--set", "submission.mode=batch"]  # tiny's 40 orders/h never fill 500-task batches


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_shipped_scenario_is_ok_without_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(str(p) for p in SCENARIOS.glob("*.toml"))
    code, out, err = _run(capsys, "validate", "--strict", *paths)
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"ok: {p}" for p in paths]


def test_warnings_go_to_stderr_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "validate", str(TINY), *BATCH, "--set", "fleet.capacity=0.5")
    assert code == 0
    assert out == f"ok: {TINY} (2 warnings)\n"
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"fleetsim validate: warning: {TINY}: fleet.capacity = 0.5: ")
    assert lines[1].startswith(f"fleetsim validate: warning: {TINY}: submission.batch_size = 500: ")


def test_strict_turns_warnings_into_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "validate", "--strict", str(TINY), *BATCH)
    assert (code, out) == (1, "")
    assert "warning:" in err


def test_errors_exit_2_with_one_line_naming_the_override(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "validate", str(TINY), "--set", "fleet.workers=abc")
    assert (code, out) == (2, "")
    assert err.startswith("fleetsim validate: error: --set 'fleet.workers=abc': fleet.workers: ")
    assert len(err.splitlines()) == 1


def test_an_error_in_one_file_does_not_hide_the_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.read_text().replace("[fleet]", "[fleet]\nwrokers = 3"))
    code, out, err = _run(capsys, "validate", str(bad), str(TINY))
    assert code == 2
    assert out == f"ok: {TINY}\n"
    assert err == (
        f"fleetsim validate: error: {bad}: fleet.wrokers: unknown key; did you mean 'workers'? "
        "allowed keys: capacity, groups, hubs, roster, shift_end_h, shift_start_h, speed_kmh, "
        "start, teams, vehicle, workers\n"
    )


def test_a_csv_scenario_has_its_order_file_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        TINY.read_text().replace("[demand]", '[demand]\nsource = "csv"\ncsv = "orders.csv"')
    )
    code, out, err = _run(capsys, "validate", str(path))
    assert (code, out) == (2, "")
    assert err == (
        f"fleetsim validate: error: demand.csv: cannot open '{tmp_path / 'orders.csv'}': "
        "No such file or directory\n"
    )
    (tmp_path / "orders.csv").write_text("created_s,dropoff_lat,dropoff_lon\n0,40.75,-73.98\n")
    code, out, err = _run(capsys, "validate", str(path))
    # tiny writes demand.rate_per_h, which a CSV scenario ignores.
    assert (code, out) == (0, f"ok: {path} (1 warning)\n")
    assert "demand.rate_per_h = 40: ignored" in err


def test_simulate_prints_the_warnings_before_it_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise UserError("stopped before the run")

    monkeypatch.setattr(simulate_command, "simulate", refuse)
    argv = ["simulate", str(TINY), *BATCH, "--quiet", "--out", str(tmp_path / "run")]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert err.splitlines() == [
        err.splitlines()[0],
        "fleetsim simulate: error: stopped before the run",
    ]
    assert err.startswith(f"fleetsim simulate: warning: {TINY}: submission.batch_size = 500: ")


def test_simulate_of_a_clean_scenario_prints_no_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["simulate", str(TINY), "--quiet", "--no-trace", "--out", str(tmp_path / "run")]
    code, out, err = _run(capsys, *argv)
    assert (code, err) == (0, "")
    assert out == f"wrote {tmp_path / 'run'}/\n"
