"""The scenario checks: each fires on a crafted scenario and stays silent on the shipped ones."""

from __future__ import annotations

from typing import Any

import pytest

from sim.demand import build_demand
from sim.rng import make_streams
from sim.scenario import Scenario
from sim.scenario_checks import (
    check_batch_fill,
    check_capacity,
    check_places_in_region,
    check_rate_ignored,
    check_scenario,
    check_window_vs_travel,
    tasks_per_order_moments,
    typical_trip_s,
)
from sim.scenario_io import load_scenario, parse_scenario
from sim.submission import plan_submissions
from tests.fixtures.scenarios import SCENARIOS, make_scenario

SHIPPED = sorted(SCENARIOS.glob("*.toml"))


def _raw(**sections: dict[str, Any]) -> Scenario:
    """Like ``make_scenario`` but without its ``demand.rate_per_h``."""
    raw: dict[str, Any] = {
        "scenario": {"name": "t", "duration_h": 2.0},
        "region": {"center": [40.75, -73.98], "radius_m": 1500},
        "fleet": {"workers": 3},
    }
    raw.update(sections)
    return parse_scenario(raw)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_have_no_warnings(path: Any) -> None:
    assert check_scenario(load_scenario(path)) == []


# -- places outside the region ------------------------------------------------------------


def _hotspots(*points: tuple[float, float]) -> dict[str, Any]:
    return {"kind": "hotspots", "hotspots": [{"lat": a, "lon": b} for a, b in points]}


def test_hotspot_outside_the_region_is_named_by_index() -> None:
    sc = make_scenario(demand={"pickups": _hotspots((40.751, -73.981), (40.80, -73.98))})
    [w] = check_places_in_region(sc)
    assert w.path == "demand.pickups.hotspots.1"
    assert w.value == "[40.8, -73.98]"
    assert "5.6 km from region.center [40.75, -73.98]" in w.problem
    assert "region.radius_m = 1500" in w.problem


def test_the_region_edge_is_radius_m() -> None:
    # 0.0126 and 0.0144 degrees of latitude are about 1.40 and 1.60 km; radius_m is 1500.
    inside = make_scenario(demand={"dropoffs": _hotspots((40.75 + 0.0126, -73.98))})
    outside = make_scenario(demand={"dropoffs": _hotspots((40.75 + 0.0144, -73.98))})
    assert check_places_in_region(inside) == []
    assert [w.path for w in check_places_in_region(outside)] == ["demand.dropoffs.hotspots.0"]


def test_moving_the_centre_leaves_the_hotspots_and_hubs_behind() -> None:
    path = SCENARIOS / "parcel-morning.toml"
    assert check_places_in_region(load_scenario(path)) == []
    moved = load_scenario(path, ["region.center=[41.5, -87.6]"])
    assert [w.path for w in check_places_in_region(moved)] == ["fleet.hubs.0", "fleet.hubs.1"]
    lunch = load_scenario(SCENARIOS / "lunch-rush.toml", ["region.center=[40.70, -74.05]"])
    assert len(check_places_in_region(lunch)) == 4


def test_unused_places_are_not_checked() -> None:
    far = [[40.9, -73.98]]
    assert check_places_in_region(make_scenario(fleet={"hubs": far})) == []  # start random
    assert len(check_places_in_region(make_scenario(fleet={"hubs": far, "start": "hubs"}))) == 1
    csv = {"source": "csv", "csv": "x.csv", "dropoffs": _hotspots((40.9, -73.98))}
    assert check_places_in_region(_raw(demand=csv)) == []


# -- rate_per_h ignored -------------------------------------------------------------------


def test_rate_per_h_next_to_a_profile_is_ignored() -> None:
    [w] = check_rate_ignored(_raw(demand={"rate_per_h": 90, "rate_profile_per_h": [10, 20]}))
    assert (w.path, w.value) == ("demand.rate_per_h", "90")
    assert "rate_profile_per_h" in w.problem
    # The default rate (not written) is not the planner's mistake; alone, the rate is used.
    assert check_rate_ignored(_raw(demand={"rate_profile_per_h": [10, 20]})) == []
    assert check_rate_ignored(_raw(demand={"rate_per_h": 90})) == []


def test_rate_per_h_set_by_override_next_to_a_profile() -> None:
    sc = load_scenario(SCENARIOS / "lunch-rush.toml", ["demand.rate_per_h=400"])
    assert [w.path for w in check_scenario(sc)] == ["demand.rate_per_h"]


def test_rate_per_h_with_csv_demand_is_ignored() -> None:
    [w] = check_rate_ignored(_raw(demand={"source": "csv", "csv": "x.csv", "rate_per_h": 5}))
    assert "csv" in w.problem


# -- windows shorter than the trip -------------------------------------------------------


def test_typical_trip_follows_speed_detour_and_profile() -> None:
    base = make_scenario(fleet={"speed_kmh": 36}, travel={"detour_factor": 1.0})
    trip = typical_trip_s(base)
    # Two uniform points in a disk of radius R are a median ~0.9 R apart (at 10 m/s).
    assert 0.75 * 150 < trip < 1.05 * 150
    fast = make_scenario(fleet={"speed_kmh": 72}, travel={"detour_factor": 1.0})
    assert typical_trip_s(fast) == pytest.approx(trip / 2)
    detour = make_scenario(fleet={"speed_kmh": 36}, travel={"detour_factor": 2.0})
    assert typical_trip_s(detour) == pytest.approx(trip * 2)
    slow = make_scenario(
        fleet={"speed_kmh": 36}, travel={"detour_factor": 1.0, "speed_profile": [0.5] * 24}
    )
    assert typical_trip_s(slow) == pytest.approx(trip * 2)
    assert typical_trip_s(base) == trip  # a fixed seed: the same scenario, the same answer


def test_window_shorter_than_the_trip_warns() -> None:
    sc = make_scenario(demand={"window": {"complete_before_min": 2}})
    [w] = check_window_vs_travel(sc)
    assert (w.path, w.value) == ("demand.window.complete_before_min", "2")
    assert "typical trip takes" in w.problem
    assert (
        check_window_vs_travel(make_scenario(demand={"window": {"complete_before_min": 30}})) == []
    )


def test_window_counts_from_complete_after() -> None:
    window = {"complete_after_min": 9, "complete_before_min": 11}
    [w] = check_window_vs_travel(make_scenario(demand={"window": window}))
    assert "leaves 2.0 min after complete_after_min = 9" in w.problem


def test_window_check_skips_teleporting_and_open_windows() -> None:
    short = {"window": {"complete_before_min": 1}}
    assert check_window_vs_travel(make_scenario(demand=short, travel={"model": "none"})) == []
    assert check_window_vs_travel(make_scenario()) == []


# -- capacity ---------------------------------------------------------------------------


def test_capacity_below_one_dropoff_fits_no_order() -> None:
    [w] = check_capacity(make_scenario(fleet={"capacity": 0.5}))
    assert (w.path, w.value) == ("fleet.capacity", "0.5")
    assert "no order fits" in w.problem


def test_capacity_below_the_largest_multi_dropoff_order() -> None:
    demand = {"mix": {"single_pickup_multi_dropoff": 1}, "stops_max": 6, "quantity": 2}
    [w] = check_capacity(make_scenario(demand=demand))  # capacity 10 < 6 x 2
    assert "single_pickup_multi_dropoff can need 12 units" in w.problem
    assert "at least 12" in w.fix
    # Task by task, or under a policy that ignores capacity, the order fits.
    assert (
        check_capacity(make_scenario(demand=demand, dispatch={"consider_dependencies": False}))
        == []
    )
    assert check_capacity(make_scenario(demand=demand, dispatch={"policy": "queue"})) == []
    assert check_capacity(make_scenario(demand={**demand, "stops_max": 5})) == []


# -- batches that never fill -----------------------------------------------------------


def test_task_moments_follow_the_order_kinds() -> None:
    sc = make_scenario(demand={"mix": {"dropoff": 1, "pickup_dropoff": 1}})
    assert tasks_per_order_moments(sc) == pytest.approx((1.5, 2.5))
    mix = {"multi_pickup_multi_dropoff": 1, "pickup_dropoff": 0}  # pickup_dropoff defaults to 1
    many = make_scenario(demand={"mix": mix, "stops_max": 3})
    assert tasks_per_order_moments(many) == pytest.approx((5.0, 26.0))  # 4 or 6 tasks
    for kind in ("single_pickup_multi_dropoff", "multi_pickup_single_dropoff"):
        one_side = make_scenario(demand={"mix": {kind: 1, "pickup_dropoff": 0}, "stops_max": 3})
        assert tasks_per_order_moments(one_side) == pytest.approx((3.5, 12.5))  # 3 or 4 tasks


def _batch(rate: float, size: int, flush_s: float = 60.0) -> Scenario:
    return make_scenario(
        demand={"rate_per_h": rate},
        submission={"mode": "batch", "batch_size": size, "flush_s": flush_s},
    )


def _largest_batch(sc: Scenario) -> int:
    _, orders = build_demand(sc, make_streams(sc.scenario.seed))
    return max(len(c.task_ids) for c in plan_submissions(orders, sc.submission))


def test_batches_that_cannot_fill_warn_and_indeed_never_fill() -> None:
    sc = _batch(rate=600, size=60)  # ~15 tasks a minute
    [w] = check_batch_fill(sc)
    assert (w.path, w.value) == ("submission.batch_size", "60")
    assert "about 15.0 tasks arrive per flush_s = 60 s" in w.problem
    assert "raise flush_s to about 240" in w.fix
    assert _largest_batch(sc) < 60


def test_batches_that_can_fill_are_silent_and_do_fill() -> None:
    sc = _batch(rate=600, size=25)
    assert check_batch_fill(sc) == []
    assert _largest_batch(sc) == 25


def test_batch_fill_uses_the_peak_hour_and_skips_single_mode() -> None:
    profile = {"rate_per_h": 10, "rate_profile_per_h": [10, 6000]}
    sub = {"mode": "batch-async", "batch_size": 100}
    assert (
        check_batch_fill(make_scenario(scenario={"duration_h": 2}, demand=profile, submission=sub))
        == []
    )
    assert len(check_batch_fill(make_scenario(submission=sub))) == 1
    assert check_batch_fill(make_scenario(submission={"batch_size": 100})) == []
