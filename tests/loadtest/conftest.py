"""Fixtures for the load-test packages: traces of the tiny scenario and a served emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.scenarios import REPO

SCENARIOS = REPO / "scenarios"


@pytest.fixture(scope="session")
def tiny_traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """trace.jsonl of the tiny scenario in each submission mode."""
    from loadtest.trace.onfleet import write_trace
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    root = tmp_path_factory.mktemp("tiny")
    out = {}
    for mode in ("single", "batch", "batch-async"):
        scenario = load_scenario(SCENARIOS / "tiny.toml", [f"submission.mode={mode}"])
        path = root / f"{mode}.jsonl"
        write_trace(simulate(scenario, seed=7), path)
        out[mode] = path
    return out


@pytest.fixture
def emulator() -> Iterator[str]:
    """The emulator (fast profile) on a free loopback port, served from a thread."""
    from loadtest.emulator.config import fast
    from loadtest.emulator.serve import EmulatorServer

    with EmulatorServer(fast()) as url:
        yield url
