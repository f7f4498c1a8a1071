"""RunMeta: one JSON form, read back unchanged, and readable as a mapping by old callers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sim.errors import UserError
from sim.output import read_run
from sim.run_meta import RunMeta

META = RunMeta(
    scenario="tiny",
    scenario_hash="sha256:ab",
    seed=7,
    version="0.1.0",
    start_epoch_ms=1763884800000,
    duration_s=3600.0,
    end_s=5012.5,
)


def test_json_round_trip_keeps_the_kpis_json_key_order() -> None:
    doc = META.to_json()
    assert list(doc) == [
        "scenario",
        "scenario_hash",
        "seed",
        "version",
        "start_epoch_ms",
        "duration_s",
        "end_s",
    ]
    assert RunMeta.from_json({**doc, "kpis": {}}) == META


def test_it_reads_as_a_mapping() -> None:
    assert META["seed"] == 7 and META.get("end_s") == 5012.5
    assert META.get("orders") is None and "kpis" not in META
    assert dict(META) == META.to_json()
    with pytest.raises(KeyError):
        META["nope"]


def test_a_run_read_back_has_the_meta_it_was_written_with(tiny_run_dir: Path) -> None:
    run = read_run(tiny_run_dir)
    doc = orjson.loads((tiny_run_dir / "kpis.json").read_bytes())
    assert isinstance(run.meta, RunMeta)
    assert {**run.meta.to_json(), "kpis": run.kpis} == doc


def test_missing_keys_are_named() -> None:
    with pytest.raises(UserError, match=r"x\.json: missing end_s"):
        RunMeta.from_json({k: v for k, v in META.to_json().items() if k != "end_s"}, "x.json")
