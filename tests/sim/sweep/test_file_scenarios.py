"""FileScenarios: the file is read once; each variant's typed values land on its raw copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.scenario_io import load_scenario, parse_set_value
from sim.sweep import FileScenarios
from sim.sweep.grid import expand_grid, parse_sets, parse_value
from tests.fixtures.scenarios import SCENARIOS


def test_one_parser_for_simulate_and_sweep_values() -> None:
    for text in ("60", "0.5", "true", '"a,b"', "load", "[1, 2]"):
        typed = parse_set_value(text)
        swept = parse_value(text)
        assert swept == (typed if not isinstance(typed, list) else text)
    assert parse_set_value(" [1, 2] ") == [1, 2]


def test_variants_match_load_scenario_and_the_file_is_not_reread(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    shutil.copy(SCENARIOS / "tiny.toml", path)
    source = FileScenarios(path)
    variants = expand_grid(parse_sets(["fleet.workers=2,5", "dispatch.policy=queue,load"]))
    expected = [load_scenario(path, v.overrides).content_hash() for v in variants]
    path.write_text("not = [valid toml")  # a later edit must not reach this sweep
    got = [source.load(v) for v in variants]
    assert [sc.content_hash() for sc in got] == expected
    assert [(sc.fleet.workers, sc.dispatch.policy) for sc in got] == [
        (2, "queue"),
        (2, "load"),
        (5, "queue"),
        (5, "load"),
    ]
    assert source.load(variants[0]).fleet.workers == 2  # variants do not leak into each other


def test_a_bad_value_names_the_field_the_value_and_what_is_allowed() -> None:
    source = FileScenarios(SCENARIOS / "tiny.toml")
    (bad,) = expand_grid(parse_sets(["dispatch.policy=teleport"]))
    with pytest.raises(ScenarioError, match=r"dispatch\.policy: got 'teleport'; .*distance"):
        source.load(bad)
    (nested,) = expand_grid(parse_sets(["fleet.workers.n=3"]))
    with pytest.raises(ScenarioError, match=r"--set 'fleet\.workers\.n=3': workers is not a table"):
        source.load(nested)


def test_an_array_value_is_set_as_an_array() -> None:
    source = FileScenarios(SCENARIOS / "tiny.toml")
    (v,) = expand_grid(parse_sets(["region.center=[40.7, -74.0]"]))
    assert v.items == (("region.center", "[40.7, -74.0]"),)  # a scalar column in sweep.parquet
    assert tuple(source.load(v).region.center) == (40.7, -74.0)


def test_variant_warnings_name_the_variants_that_have_them(tmp_path: Path) -> None:
    from sim.sweep.driver import variant_warnings

    path = tmp_path / "tiny.toml"
    shutil.copy(SCENARIOS / "tiny.toml", path)
    source = FileScenarios(path)
    variants = expand_grid(parse_sets(["demand.window.complete_before_min=1,45"]))
    lines = variant_warnings((v, source.load(v)) for v in variants)
    (line,) = lines  # only the 1-minute window is shorter than the typical trip
    assert line.startswith("demand.window.complete_before_min=1: ")
    assert "typical trip" in line
    # A warning every variant has is printed once, plain.
    both = expand_grid(parse_sets(["submission.mode=batch", "fleet.workers=5,6"]))
    (shared,) = variant_warnings((v, source.load(v)) for v in both)
    assert shared.startswith("submission.batch_size = 500")
