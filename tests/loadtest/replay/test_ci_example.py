"""The README's "Put a threshold gate in CI" example, on a shortened parcel morning.

The same settings as the README (realistic profile, ``--time-scale 5`` and ``--speedup
5``, ``loadtest/thresholds.ci.toml``) pass against a healthy emulator, with every created
task found and under 1% of the attempts refused with 429 (the paced trace keeps within the
realistic profile's 20 calls/s); the same replay against an emulator with 3x the latency
is caught by the gate (exit 1).  Only the morning is shortened (``--set``) and the replay
bounded (``--run-time``); the profile's limits are kept.
"""

from __future__ import annotations

import csv
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from fleetsim.cli import main
from loadtest.emulator.config import realistic
from loadtest.emulator.serve import EmulatorProcess
from tests.fixtures.scenarios import REPO

pytestmark = pytest.mark.slow

SCALE = "5"  # the README block's --time-scale and --speedup
THRESHOLDS = REPO / "loadtest" / "thresholds.ci.toml"
#: A shorter morning with the first upload after 5 minutes; the profile is untouched.
SHORTER = [
    "scenario.duration_h=0.25",
    "scenario.drain_h=0.25",
    "fleet.workers=40",
    "submission.flush_s=300",
]
RUN_TIME = "85s"  # 425 simulated s: the setup, the first upload and its assignments


@pytest.fixture(scope="module")
def morning(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ci") / "parcel-morning"
    sets = [a for s in SHORTER for a in ("--set", s)]
    args = ["simulate", str(REPO / "scenarios" / "parcel-morning.toml"), "--quiet"]
    assert main([*args, "--out", str(out), *sets]) == 0
    return out / "trace.jsonl"


def _slower_profile(path: Path, factor: float) -> Path:
    """The realistic profile with every latency ``factor`` times longer (a regression)."""
    lat = realistic().latency

    def route(r: Any) -> dict[str, float]:
        return {"median_ms": r.median_ms * factor, "p99_ms": r.p99_ms * factor}

    doc = [
        'profile = "realistic"',
        "[latency]",
        f"batch_per_task_ms = {lat.batch_per_task_ms * factor}",
        "[latency.default]",
        *(f"{k} = {v}" for k, v in route(lat.default).items()),
    ]
    for name, r in lat.routes.items():
        doc.append(f'[latency.routes."{name}"]')
        doc += [f"{k} = {v}" for k, v in route(r).items()]
    path.write_text("\n".join(doc) + "\n")
    return path


def _replay(trace: Path, profile: str, out: Path) -> tuple[int, dict[str, Any]]:
    with EmulatorProcess("--profile", profile, "--time-scale", SCALE) as emu:
        code = main(
            [
                "replay",
                str(trace),
                "--host",
                emu.url,
                "--speedup",
                SCALE,
                "--strict-time",
                "--run-time",
                RUN_TIME,
                "--thresholds",
                str(THRESHOLDS),
                "--out",
                str(out),
            ]
        )
    return code, orjson.loads((out / "results.json").read_bytes())


def _429s(out: Path) -> int:
    """429 answers from Locust's failure table (every attempt, retried or not)."""
    with (out / "locust_failures.csv").open(newline="") as f:
        return sum(
            int(row["Occurrences"]) for row in csv.DictReader(f) if "HTTP 429" in row["Error"]
        )


def test_the_readme_uses_these_settings() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("**Put a threshold gate in CI.**", 1)[1].split("```sh", 1)[1]
    block = block.split("```", 1)[0]
    assert f"--time-scale {SCALE}" in block and f"--speedup {SCALE}" in block
    assert "--profile realistic" in block and "loadtest/thresholds.ci.toml" in block
    assert tomllib.loads(THRESHOLDS.read_text())["endpoints"]


def test_the_gate_passes_a_healthy_build(morning: Path, tmp_path: Path) -> None:
    out = tmp_path / "gate"
    code, results = _replay(morning, "realistic", out)
    calls = results["calls"]
    assert code == 0, (calls, results.get("validity"))
    rec = results["reconciliation"]
    assert rec["expected"] > 0 and rec["missing"] == 0 and rec["duplicated"] == 0
    assert calls["failed"] == 0
    # The paced trace keeps within the realistic profile's limit.
    assert _429s(out) < 0.01 * calls["attempts"]


def test_the_gate_catches_3x_latency(morning: Path, tmp_path: Path) -> None:
    slow = _slower_profile(tmp_path / "slow.toml", 3.0)
    code, results = _replay(morning, str(slow), tmp_path / "gate")
    assert code == 1
    assert (tmp_path / "gate" / "junit.xml").is_file()
    put = next(e for e in results["endpoints"] if e["name"] == "PUT /api/v2/tasks/{taskId}")
    assert put["p99_ms"] > 100


def test_the_slower_profile_is_3x() -> None:
    import tempfile

    from loadtest.emulator.config import load_profile

    with tempfile.TemporaryDirectory() as d:
        cfg = load_profile(str(_slower_profile(Path(d) / "p.toml", 3.0)))
    base = realistic()
    assert cfg.latency.default.p99_ms == 3 * base.latency.default.p99_ms
    assert dataclasses.replace(cfg, latency=base.latency, profile=base.profile) == base
