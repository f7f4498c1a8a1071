import math
from pathlib import Path

import numpy as np
import pytest

from sim.demand import arrival_times, build_demand, sample_service
from sim.errors import ScenarioError
from sim.rng import make_streams
from sim.run import simulate
from sim.scenario import Service
from tests.fixtures.scenarios import make_scenario


def test_poisson_arrivals_have_the_right_rate() -> None:
    rng = np.random.default_rng(3)
    counts = [arrival_times(rng, 120.0, [], 3600.0).size for _ in range(400)]
    assert abs(np.mean(counts) - 120) < 3
    assert abs(np.var(counts) - 120) < 25  # Poisson: variance = mean


def test_hourly_profile_shapes_the_arrivals() -> None:
    t = arrival_times(np.random.default_rng(1), 0.0, [100.0, 1000.0], 7200.0)
    assert np.all(np.diff(t) >= 0)
    first, second = (t < 3600).sum(), (t >= 3600).sum()
    assert second > 5 * first


@pytest.mark.parametrize(
    "spec,mean,sd",
    [
        (Service(kind="fixed", mean_s=90), 90, 0),
        (Service(kind="exponential", mean_s=60), 60, 60),
        (Service(kind="lognormal", mean_s=120, sd_s=40), 120, 40),
    ],
)
def test_service_distributions_have_their_moments(spec: Service, mean: float, sd: float) -> None:
    x = sample_service(np.random.default_rng(0), spec, 200_000)
    assert math.isclose(x.mean(), mean, rel_tol=0.01)
    assert math.isclose(x.std(), sd, rel_tol=0.02, abs_tol=1e-9)


def test_empirical_service_draws_only_given_values() -> None:
    x = sample_service(np.random.default_rng(0), Service(kind="empirical", values_s=[10, 20]), 1000)
    assert set(np.unique(x)) == {10.0, 20.0}


def test_batch_patterns_build_dependencies() -> None:
    sc = make_scenario(
        demand={
            "mix": {
                "pickup_dropoff": 0,
                "single_pickup_multi_dropoff": 1,
                "multi_pickup_single_dropoff": 1,
                "multi_pickup_multi_dropoff": 1,
            },
            "rate_per_h": 200,
        }
    )
    tasks, orders = build_demand(sc, make_streams(1))
    by_id = {t.id: t for t in tasks}
    kinds_seen = set()
    for o in orders:
        fam = [by_id[i] for i in o.task_ids]
        picks = [t for t in fam if t.is_pickup]
        drops = [t for t in fam if not t.is_pickup]
        kinds_seen.add(o.kind)
        # Pickups come first in id order and every dropoff depends only on pickups.
        assert [t.is_pickup for t in fam] == sorted([t.is_pickup for t in fam], reverse=True)
        for d in drops:
            assert d.dependencies and all(by_id[x].is_pickup for x in d.dependencies)
        if o.kind == 2:
            assert len(picks) == 1 and len(drops) >= 2
        if o.kind == 3:
            assert len(picks) >= 2 and len(drops) == 1
        if o.kind == 4:
            assert all(set(d.dependencies) == {p.id for p in picks} for d in drops)
    assert kinds_seen == {2, 3, 4}


def test_common_random_numbers_fleet_and_policy_do_not_change_demand() -> None:
    base = simulate(make_scenario(), seed=5).tasks
    for change in ({"fleet": {"workers": 9}}, {"dispatch": {"policy": "load"}}):
        other = simulate(make_scenario(**change), seed=5).tasks  # type: ignore[arg-type]
        for col in ("ordered_s", "lat", "lon", "service_s", "is_pickup", "dependencies"):
            assert base[col].equals(other[col]), col


CSV_HEAD = "created_s,pickup_lat,pickup_lon,dropoff_lat,dropoff_lon,complete_before_s,service_s\n"


def _csv_scenario(tmp_path: Path, body: str) -> None:
    (tmp_path / "orders.csv").write_text(CSV_HEAD + body)
    sc = make_scenario(demand={"source": "csv", "csv": str(tmp_path / "orders.csv")})
    build_demand(sc, make_streams(0))


def test_csv_orders_are_read(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        CSV_HEAD + "60,40.75,-73.98,40.76,-73.97,1800,90\n10,,,40.74,-73.99,,\n"
    )
    sc = make_scenario(demand={"source": "csv", "csv": str(tmp_path / "orders.csv")})
    tasks, orders = build_demand(sc, make_streams(0))
    assert [o.ordered_s for o in orders] == [10.0, 60.0]  # sorted by creation
    assert len(tasks) == 3
    assert tasks[2].service_s == 90.0 and tasks[2].complete_before_s == 1800.0
    assert tasks[2].dependencies == (1,)


@pytest.mark.parametrize(
    "row,expect",
    [
        ("60,40.75,-73.98,abc,-73.97,,\n", "line 2: dropoff_lat = 'abc': expected a number"),
        ("60,40.75,-73.98,95,-73.97,,\n", "line 2: dropoff: latitude 95.0 is outside"),
        ("60,40.75,,40.7,-73.97,,\n", "line 2: pickup_lat and pickup_lon go together"),
        ("60,,,40.7,-73.97,,\n,,,40.7,-73.9,,\n", "line 3: created_s"),
        ("-5,,,40.7,-73.97,,\n", "line 2: created"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, row: str, expect: str) -> None:
    with pytest.raises(ScenarioError, match=expect.replace("(", r"\(")):
        _csv_scenario(tmp_path, row)


def test_csv_missing_file_and_unknown_column(tmp_path: Path) -> None:
    sc = make_scenario(demand={"source": "csv", "csv": str(tmp_path / "none.csv")})
    with pytest.raises(ScenarioError, match="cannot open"):
        build_demand(sc, make_streams(0))
    (tmp_path / "o.csv").write_text("created_s,dropoff_lat,dropoff_lon,colour\n1,1,1,red\n")
    sc = make_scenario(demand={"source": "csv", "csv": str(tmp_path / "o.csv")})
    with pytest.raises(ScenarioError, match="line 1: unknown column"):
        build_demand(sc, make_streams(0))


def _reference_orders(sc, streams):  # type: ignore[no-untyped-def]
    """The per-order builder (``_Builder.add_order``) fed with generate_orders' draws."""
    from sim.demand import (
        DROPOFF,
        MANY_TO_ONE,
        ONE_TO_MANY,
        PICKUP_DROPOFF,
        _Builder,
        sample_places,
    )

    d = sc.demand
    times = arrival_times(streams.arrivals, d.rate_per_h, d.rate_profile_per_h, 3600.0 * 3)
    n = times.size
    w = np.asarray(d.mix.weights())
    kinds = streams.kinds.choice(5, size=n, p=w / w.sum())
    sizes = streams.kinds.integers(d.stops_min, d.stops_max + 1, size=n)
    n_pick = np.select(
        [kinds == DROPOFF, kinds == PICKUP_DROPOFF, kinds == ONE_TO_MANY], [0, 1, 1], sizes
    )
    n_drop = np.select(
        [kinds == DROPOFF, kinds == PICKUP_DROPOFF, kinds == MANY_TO_ONE], [1, 1, 1], sizes
    )
    plat, plon = sample_places(streams.places, d.pickups, sc, int(n_pick.sum()))
    dlat, dlon = sample_places(streams.places, d.dropoffs, sc, int(n_drop.sum()))
    psvc = sample_service(streams.service, d.pickup_service or d.service, int(n_pick.sum()))
    dsvc = sample_service(streams.service, d.service, int(n_drop.sum()))
    b = _Builder(sc, streams)
    ip = idr = 0
    for k in range(n):
        t = float(times[k])
        np_, nd = int(n_pick[k]), int(n_drop[k])
        picks = [
            (float(plat[ip + j]), float(plon[ip + j]), float(psvc[ip + j])) for j in range(np_)
        ]
        drops = [
            (float(dlat[idr + j]), float(dlon[idr + j]), float(dsvc[idr + j])) for j in range(nd)
        ]
        ip, idr = ip + np_, idr + nd
        after = t + 60 * d.window.complete_after_min
        before = t + 60 * d.window.complete_before_min
        b.add_order(t, int(kinds[k]), picks, drops, after, before)
    return b.finish()


def test_vectorised_demand_matches_the_per_order_builder() -> None:
    sc = make_scenario(
        scenario={"duration_h": 3.0},
        demand={
            "mix": {
                "dropoff": 1,
                "pickup_dropoff": 1,
                "single_pickup_multi_dropoff": 1,
                "multi_pickup_single_dropoff": 1,
                "multi_pickup_multi_dropoff": 1,
            },
            "rate_per_h": 300,
            "window": {"complete_after_min": 5, "complete_before_min": 50},
            "cancel": {"probability": 0.2},
        },
        failures={"no_show_probability": 0.1},
    )
    tasks, orders = build_demand(sc, make_streams(7))
    ref_tasks, ref_orders = _reference_orders(sc, make_streams(7))
    assert len(tasks) == len(ref_tasks) > 1000
    fields = [s for s in ref_tasks[0].__slots__ if s != "dependents"]

    def same(a: object, b: object) -> bool:
        return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)

    for t, r in zip(tasks, ref_tasks, strict=True):
        for f in fields:
            assert same(getattr(t, f), getattr(r, f)), (t.id, f, getattr(t, f), getattr(r, f))
        assert [x.id for x in t.dependents] == [x.id for x in r.dependents]
    assert [
        (o.order_id, o.ordered_s, o.kind, o.task_ids, math.isnan(o.cancel_s)) for o in orders
    ] == [(o.order_id, o.ordered_s, o.kind, o.task_ids, math.isnan(o.cancel_s)) for o in ref_orders]
    assert {o.kind for o in orders} == {0, 1, 2, 3, 4}
