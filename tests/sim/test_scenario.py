from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.scenario_io import apply_overrides, dump_scenario_toml, load_scenario, parse_scenario
from tests.fixtures.scenarios import REPO, make_scenario


@pytest.mark.parametrize("name", ["lunch-rush", "parcel-morning", "grocery-batches", "tiny"])
def test_shipped_scenarios_validate(name: str) -> None:
    sc = load_scenario(REPO / "scenarios" / f"{name}.toml")
    assert sc.name == name


def _err(**sections: dict[str, object]) -> str:
    with pytest.raises(ScenarioError) as info:
        make_scenario(**sections)  # type: ignore[arg-type]
    return str(info.value)


def test_unknown_key_lists_the_allowed_ones() -> None:
    msg = _err(fleet={"wrokers": 3})
    assert "fleet.wrokers: unknown key" in msg
    assert "allowed keys:" in msg and "workers" in msg


def test_wrong_type_names_path_and_value() -> None:
    msg = _err(fleet={"workers": "many"})
    assert "fleet.workers: got 'many'" in msg and "integer" in msg


def test_negative_rate() -> None:
    msg = _err(demand={"rate_per_h": -5})
    assert "demand.rate_per_h: got -5" in msg and "greater than or equal to 0" in msg


def test_window_end_before_start() -> None:
    msg = _err(demand={"window": {"complete_after_min": 30, "complete_before_min": 10}})
    assert "demand.window" in msg and "must be after complete_after_min" in msg


def test_latitude_out_of_range() -> None:
    msg = _err(region={"center": [95.0, 0.0]})
    assert "region.center: got [95.0, 0.0]" in msg and "outside [-90, 90]" in msg


def test_unknown_policy_lists_the_policies() -> None:
    msg = _err(dispatch={"policy": "fastest"})
    assert "dispatch.policy: got 'fastest'" in msg
    assert "'distance', 'load', 'queue', 'none' or 'optimise'" in msg


def test_batch_size_capped_at_500() -> None:
    assert "submission.batch_size: got 501" in _err(submission={"batch_size": 501})


def test_overrides_parse_toml_values_and_bare_words() -> None:
    raw = apply_overrides(
        {}, ["fleet.workers=80", "dispatch.policy=load", "demand.mix={dropoff=1}"]
    )
    assert raw == {
        "fleet": {"workers": 80},
        "dispatch": {"policy": "load"},
        "demand": {"mix": {"dropoff": 1}},
    }
    with pytest.raises(ScenarioError, match=r"expected section\.key=value"):
        apply_overrides({}, ["fleet.workers"])


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[fleet\nworkers = 3\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_effective_scenario_round_trips_through_toml(tmp_path: Path) -> None:
    sc = load_scenario(REPO / "scenarios" / "lunch-rush.toml", ["fleet.workers=33"])
    path = tmp_path / "s.toml"
    path.write_text(dump_scenario_toml(sc))
    again = load_scenario(path)
    assert again.fleet.workers == 33
    assert again.content_hash() == sc.content_hash()


def test_hash_changes_with_content() -> None:
    a = make_scenario()
    b = make_scenario(fleet={"workers": 4})
    assert a.content_hash() != b.content_hash()
    assert a.content_hash() == make_scenario().content_hash()


def test_rate_profile_must_cover_the_duration() -> None:
    msg = _err(scenario={"duration_h": 3.0}, demand={"rate_profile_per_h": [10, 20]})
    assert "needs 3" in msg


def test_parse_accepts_a_valid_mapping() -> None:
    sc = parse_scenario(
        {"scenario": {"name": "x"}, "region": {"center": [1, 2]}, "fleet": {"workers": 1}}
    )
    assert sc.dispatch.policy == "distance"


def test_unknown_key_suggests_the_closest_allowed_one() -> None:
    assert "fleet.wrokers: unknown key; did you mean 'workers'?" in _err(fleet={"wrokers": 3})
    hotspots = {"kind": "hotspots", "hotspots": [{"lat": 40.75, "lon": -73.98, "wieght": 2}]}
    msg = _err(demand={"pickups": hotspots})
    assert "demand.pickups.hotspots.0.wieght: unknown key; did you mean 'weight'?" in msg
    assert "allowed keys: lat, lon, spread_m, weight" in msg


def test_unknown_key_far_from_every_allowed_one_gets_no_guess() -> None:
    msg = _err(fleet={"zzz": 3})
    assert "fleet.zzz: unknown key; allowed keys:" in msg and "did you mean" not in msg


def test_unknown_section_suggests_the_table(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text((REPO / "scenarios" / "tiny.toml").read_text() + "\n[fleeet]\nx = 1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: fleeet: unknown key; did you mean 'fleet'? allowed keys: cost, demand, "
        "dispatch, failures, fleet, region, scenario, submission, travel"
    )


TINY = REPO / "scenarios" / "tiny.toml"


def _set_err(*items: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(TINY, list(items))
    return str(info.value)


def test_set_bad_value_names_the_override_not_the_file() -> None:
    msg = _set_err("fleet.workers=abc")
    assert msg.startswith("--set 'fleet.workers=abc': fleet.workers: got 'abc'; ")
    assert str(TINY) not in msg


def test_set_bad_path_names_the_override_and_suggests() -> None:
    msg = _set_err("fleet.wrokers=3")
    assert msg.startswith("--set 'fleet.wrokers=3': fleet.wrokers: unknown key; did you mean")
    msg = _set_err("fleeet.workers=3")
    assert msg.startswith("--set 'fleeet.workers=3': fleeet: unknown key; did you mean 'fleet'?")


def test_set_inside_a_table_names_the_override_that_set_it() -> None:
    msg = _set_err("demand.window={complete_after_min=30, complete_before_min=10}")
    assert msg.startswith("--set 'demand.window={complete_after_min=30, complete_before_min=10}'")


def test_set_breaking_a_rule_across_a_table_names_file_and_override() -> None:
    msg = _set_err("fleet.workers=4", "fleet.start=hubs")
    assert msg.startswith(f"{TINY} with --set 'fleet.workers=4', --set 'fleet.start=hubs': fleet:")
    assert "needs at least one entry in hubs" in msg


def test_the_last_of_two_overrides_of_a_field_is_named() -> None:
    msg = _set_err("fleet.workers=abc", "fleet.workers=-1")
    assert msg.startswith("--set 'fleet.workers=-1': fleet.workers: got -1")


def test_a_file_error_stays_the_files_even_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TINY.read_text().replace("workers = 6", "workers = 0"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, ["dispatch.policy=load"])
    assert str(info.value).startswith(f"{path}: fleet.workers: got 0")


def test_set_cannot_reach_base_dir() -> None:
    assert _set_err("base_dir=/tmp") == "--set 'base_dir=/tmp': base_dir: unknown key"
