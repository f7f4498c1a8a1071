"""The dispatch strategies the model calls, and the load mode's route length."""

from __future__ import annotations

import math

import pytest

from sim.demand import build_demand
from sim.dispatch import route_length_m
from sim.dispatchers import AutoAssign, NoDispatch, Queue, unit_quantity
from sim.geo import geodesic_m
from sim.model import Model
from sim.rng import make_streams
from sim.run import simulate
from sim.submission import plan_submissions
from tests.fixtures.scenarios import make_scenario


def _model(policy: str) -> Model:
    sc = make_scenario(dispatch={"policy": policy})
    streams = make_streams(1)
    tasks, orders = build_demand(sc, streams)
    return Model(sc, streams, tasks, orders, plan_submissions(orders, sc.submission))


def test_route_length_from_plain_stops() -> None:
    assert route_length_m(40.75, -73.98, []) == (0.0, 40.75, -73.98)
    stops = [(40.76, -73.98), (40.76, -73.97), (40.75, -73.97)]
    total, lat, lon = route_length_m(40.75, -73.98, stops)
    expected = (
        geodesic_m(40.75, -73.98, 40.76, -73.98)
        + geodesic_m(40.76, -73.98, 40.76, -73.97)
        + geodesic_m(40.76, -73.97, 40.75, -73.97)
    )
    assert math.isclose(total, expected, rel_tol=1e-12) and (lat, lon) == (40.75, -73.97)
    assert route_length_m(40.75, -73.98, iter(stops)) == (total, lat, lon)


@pytest.mark.parametrize(
    ("policy", "kind", "tracks"),
    [
        ("distance", AutoAssign, False),
        ("load", AutoAssign, True),
        ("queue", Queue, False),
        ("none", NoDispatch, False),
    ],
)
def test_each_policy_gets_its_strategy(policy: str, kind: type, tracks: bool) -> None:
    m = _model(policy)
    assert isinstance(m.dispatcher, kind) and m.tracks_routes is tracks


def test_unit_quantity_counts_dropoffs_only() -> None:
    m = _model("distance")
    pickups = [t for t in m.tasks if t.is_pickup]
    dropoffs = [t for t in m.tasks if not t.is_pickup]
    assert pickups and dropoffs
    assert unit_quantity([pickups[0], dropoffs[0]]) == dropoffs[0].quantity
    assert unit_quantity([pickups[0]]) == 0.0


def test_nobody_is_assigned_without_dispatch_and_the_queue_drains() -> None:
    none = simulate(make_scenario(dispatch={"policy": "none"}), seed=2).tasks
    assert none["assigned_s"].isna().all()
    queue = simulate(make_scenario(dispatch={"policy": "queue"}), seed=2).tasks
    assert queue["assigned_s"].notna().all()
    assert not queue["did_auto_assign"].any()
    auto = simulate(make_scenario(dispatch={"policy": "distance"}), seed=2).tasks
    assert auto["did_auto_assign"].any()
