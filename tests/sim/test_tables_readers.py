"""The readers of a run directory keep working on the analyst layout: the trace written
from ``read_run`` is byte-identical to the one written from the simulation itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.trace.onfleet import TraceOptions, write_trace
from sim.output import read_run, write_outputs
from sim.run import SimResult, simulate
from sim.scenario_io import load_scenario
from tests.fixtures.scenarios import REPO

OVERRIDES = [
    "submission.mode='batch-async'",
    "fleet.workers=2",
    "demand.rate_per_h=120",
    "scenario.drain_h=0.5",
]
ALL = TraceOptions(providers=("onfleet", "hypertrack", "nash", "deftship"))


@pytest.fixture(scope="module")
def result() -> SimResult:
    return simulate(load_scenario(REPO / "scenarios" / "tiny.toml", overrides=OVERRIDES))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_trace_from_the_files_is_the_trace_from_the_run(
    result: SimResult, tmp_path: Path, fmt: str
) -> None:
    out = write_outputs(result, tmp_path / "run", fmt=fmt)  # type: ignore[arg-type]
    write_trace(result, tmp_path / "direct.jsonl", ALL)
    write_trace(read_run(out), tmp_path / "read.jsonl", ALL)
    direct = (tmp_path / "direct.jsonl").read_bytes()
    assert direct.count(b"\n") > 100
    assert (tmp_path / "read.jsonl").read_bytes() == direct
