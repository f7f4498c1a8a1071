"""Fixtures shared by every test package: the repository root, synthetic and real runs.

The builders live in :mod:`tests.fixtures.runs`; each package's own fixtures sit in its
``conftest.py``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fixtures.runs import (
    RESULTS_JSON,
    TINY,
    SyntheticRun,
    make_day,
    synthetic_frames,
    write_run_dir,
)
from tests.fixtures.scenarios import REPO


@pytest.fixture
def synthetic_run_dir(tmp_path: Path) -> Path:
    return write_run_dir(tmp_path / "synthetic", synthetic_frames())


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of scenarios/tiny.toml (simulated once per test session)."""
    from sim.output import write_outputs
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    out = tmp_path_factory.mktemp("tiny") / "run"
    write_outputs(simulate(load_scenario(TINY), seed=7), out)
    return out


@pytest.fixture
def tiny_copy(tiny_run_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the real tiny run, for tests that add files to it."""
    dst = tmp_path / "tiny"
    shutil.copytree(tiny_run_dir, dst)
    return dst


@pytest.fixture
def results_json() -> dict[str, Any]:
    return orjson.loads(orjson.dumps(RESULTS_JSON))


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def day() -> SyntheticRun:
    return make_day()
