"""``import fleetsim``: the Python API and the notebook-style example that uses it."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import fleetsim
from sim.errors import UserError
from tests.fixtures.scenarios import REPO, SCENARIOS

TINY = SCENARIOS / "tiny.toml"
API = ("load_scenario", "simulate", "read_run", "sweep", "replay", "compare")


def test_the_api_is_six_documented_typed_functions() -> None:
    assert sorted(fleetsim.__all__) == sorted(API)
    for name in API:
        fn = getattr(fleetsim, name)
        assert inspect.getdoc(fn), name
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, name
        assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())


def test_importing_fleetsim_loads_no_library() -> None:
    code = "import sys, fleetsim; print(any(m in sys.modules for m in ('pandas', 'sim.run')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_simulate_read_and_compare_runs(tmp_path: Path) -> None:
    scenario = fleetsim.load_scenario(TINY, ["fleet.workers=4"])
    result = fleetsim.simulate(scenario, out=tmp_path / "a")
    assert (tmp_path / "a" / "trace.jsonl").is_file()
    again = fleetsim.simulate(TINY, seed=7, out=tmp_path / "b", trace=False)
    assert not (tmp_path / "b" / "trace.jsonl").exists()
    run = fleetsim.read_run(tmp_path / "a")
    assert run.kpis == result.kpis and len(run.tasks) == len(result.tasks)
    c = fleetsim.compare(tmp_path / "a", tmp_path / "b", out=tmp_path / "cmp")
    workers = c.find("kpis", "", "workers")
    assert workers is not None and workers.delta == again.kpis["workers"] - 4
    assert (tmp_path / "cmp" / "compare.html").is_file()
    frame = c.to_frame()
    assert list(frame["metric"])[:2] == ["tasks_created", "tasks_completed"]


def test_bad_input_raises_the_commands_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="wrkers"):
        fleetsim.load_scenario(TINY, ["fleet.wrkers=4"])
    with pytest.raises(UserError, match="non-negative"):
        fleetsim.simulate(TINY, seed=-1)
    with pytest.raises(UserError, match="no such trace"):
        fleetsim.replay(tmp_path)
    with pytest.raises(UserError, match="no such directory"):
        fleetsim.compare(tmp_path / "x", tmp_path / "y")


def test_sweep_runs_in_process(tmp_path: Path) -> None:
    res = fleetsim.sweep(TINY, sets=["fleet.workers=4,6"], seeds=2, out=tmp_path / "sw")
    assert len(res.rows) == 4 and not res.failed
    assert (tmp_path / "sw" / "sweep.parquet").is_file()


@pytest.mark.slow
def test_the_notebook_example_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "docs" / "notebook_example.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "paired delta" in proc.stdout and "replay valid: True" in proc.stdout
    for d in ("base", "half", "compare-runs", "sweep-6", "compare-sweeps", "replay"):
        assert (tmp_path / d).is_dir(), d
