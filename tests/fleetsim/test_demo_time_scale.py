"""``fleetsim demo`` runs its emulator at the replay's speed, with a paced trace."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

import loadtest.emulator.serve as serve
import loadtest.replay.launch as launch
from fleetsim.pipeline import run_demo
from loadtest.trace.format import read_trace
from sim.errors import UserError
from tests.fixtures.scenarios import REPO


def test_demo_emulator_time_scale_is_the_speedup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    class FakeServer:
        def __init__(self, config: Any) -> None:
            seen["config"] = config

        def __enter__(self) -> str:
            return "http://127.0.0.1:9"

        def __exit__(self, *exc: object) -> None:
            return None

    def fake_replay(opts: Any, stream: Any) -> int:
        seen["speedup"] = opts.speedup
        return 0

    monkeypatch.setattr(serve, "EmulatorServer", FakeServer)
    monkeypatch.setattr(launch, "run_replay", fake_replay)
    out = tmp_path / "demo"
    with pytest.raises(UserError, match="wrote no results"):  # the fake replay wrote none
        run_demo(REPO / "scenarios" / "tiny.toml", out, 10.0, "realistic", io.StringIO())
    assert seen["speedup"] > 1
    assert seen["config"].time_scale == seen["speedup"]
    assert seen["config"].profile == "realistic"
    assert read_trace(out / "trace.jsonl").header.pacing == {"onfleet": 20.0, "nash": 20.0}
