"""Determinism, golden KPIs, output files and the command line's error behaviour."""

import hashlib
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
import pytest

import sim
from fleetsim.cli import main
from sim.output import read_run, write_outputs
from sim.run import simulate
from sim.scenario_io import load_scenario
from sim.table_schema import normalise
from tests.fixtures.scenarios import REPO

TINY = REPO / "scenarios" / "tiny.toml"
GOLDEN = REPO / "tests" / "golden" / "tiny_kpis.json"


def _digest(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_scenario_and_seed_give_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    sc = load_scenario(TINY)
    a = write_outputs(simulate(sc, seed=3), tmp_path / "a", fmt=fmt)  # type: ignore[arg-type]
    b = write_outputs(simulate(sc, seed=3), tmp_path / "b", fmt=fmt)  # type: ignore[arg-type]
    assert _digest(a) == _digest(b)
    c = write_outputs(simulate(sc, seed=4), tmp_path / "c", fmt=fmt)  # type: ignore[arg-type]
    assert _digest(a)[f"tasks.{fmt}"] != _digest(c)[f"tasks.{fmt}"]


def test_golden_kpis_for_the_tiny_scenario() -> None:
    """Regenerate deliberately with FLEETSIM_UPDATE_GOLDEN=1 when the model changes."""
    kpis = simulate(load_scenario(TINY)).kpis
    if os.environ.get("FLEETSIM_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(orjson.dumps(kpis, option=orjson.OPT_INDENT_2) + b"\n")
    assert kpis == orjson.loads(GOLDEN.read_bytes())


def test_run_directory_round_trips_and_records_provenance(tmp_path: Path) -> None:
    sc = load_scenario(TINY)
    r = simulate(sc)
    out = write_outputs(r, tmp_path / "run")
    run = read_run(out)
    # read back in the analyst layout (sim.table_schema), whatever the in-memory form
    origin = r.meta.start_epoch_ms
    pd.testing.assert_frame_equal(run.tasks, normalise("tasks", r.tasks, origin))
    pd.testing.assert_frame_equal(run.events, normalise("events", r.events, origin))
    assert run.meta["scenario"] == "tiny" and run.meta["seed"] == 7
    assert run.meta["scenario_hash"] == sc.content_hash()
    # the version comes from the installed distribution, i.e. pyproject.toml
    assert run.meta["version"] == importlib.metadata.version("fleetsim") == sim.__version__
    assert (out / "scenario.toml").is_file()
    kinds = set(run.events["kind"])
    assert {
        "taskCreated",
        "taskAssigned",
        "taskStarted",
        "taskArrival",
        "taskCompleted",
        "workerDuty",
    } <= kinds


def test_kpis_are_consistent_with_the_tables() -> None:
    r = simulate(load_scenario(TINY))
    k, t, w = r.kpis, r.tasks, r.workers
    assert k["tasks_created"] == len(t)
    assert k["tasks_completed"] + k["tasks_failed"] + k["tasks_open"] == k["tasks_created"]
    assert k["tasks_completed"] == int(t["success"].sum())
    assert k["workers"] == len(w)
    assert 0 < k["utilisation_pct"] <= 100
    assert k["empty_km"] <= k["km_driven"]
    assert k["km_driven"] == pytest.approx(w["distance_m"].sum() / 1000, rel=1e-6)


def test_cli_simulate_writes_outputs_and_prints_kpis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "simulate",
                str(TINY),
                "--out",
                str(tmp_path / "o"),
                "--set",
                "fleet.workers=5",
                "--format",
                "csv",
                "--no-trace",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "on_time_pct" in out and "tasks_created" in out
    assert (tmp_path / "o" / "tasks.csv").is_file()
    assert read_run(tmp_path / "o").workers.shape[0] == 5


@pytest.mark.parametrize(
    "args,message",
    [
        (["--set", "fleet.workers=-3"], "fleet.workers: got -3"),
        (["--set", "dispatch.policy=fastest"], "dispatch.policy: got 'fastest'"),
        (["--set", "fleet.wrokers=3"], "fleet.wrokers: unknown key"),
        (["--set", "region.center=[91.0, 0.0]"], "latitude 91.0 is outside"),
        (["--set", "demand.rate_per_h=-1"], "demand.rate_per_h: got -1"),
        (["--set", "fleet.workers='lots'"], "fleet.workers: got 'lots'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_message_and_no_output(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "fleetsim.cli", "simulate", str(TINY), "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no half-written temporary directory either


def test_cli_bad_csv_row_names_the_line(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text("created_s,dropoff_lat,dropoff_lon\n10,40.7,-73.9\n20,north,-73.9\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetsim.cli",
            "simulate",
            str(TINY),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "demand.source=csv",
            "--set",
            f"demand.csv='{csv}'",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "line 3: dropoff_lat = 'north': expected a number" in proc.stderr
    assert "Traceback" not in proc.stderr
