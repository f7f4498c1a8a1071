"""Mixed fleets: [[fleet.groups]], roster CSVs, breaks, end-hub returns, per-vehicle
speed profiles, and common random numbers per worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.errors import ScenarioError
from sim.fleet import build_fleet
from sim.geo import geodesic_m
from sim.output import write_outputs
from sim.rng import make_streams
from sim.roster import read_roster
from sim.run import SimResult, simulate
from sim.scenario import Scenario
from sim.scenario_io import parse_scenario
from sim.travel import GeodesicTravel, travel_model

HUB = [40.7549, -73.9840]
HEADER = "id,team,vehicle,capacity,shift_start,shift_end,breaks,start_lat,start_lon,end_lat,end_lon"


def scenario(fleet: dict[str, Any], base_dir: Path | None = None, **sections: Any) -> Scenario:
    raw: dict[str, Any] = {
        "scenario": {"name": "t", "seed": 1, "duration_h": 0.5, "drain_h": 3.0},
        "region": {"center": HUB, "radius_m": 1500},
        "fleet": fleet,
        "demand": {"rate_per_h": 30, "mix": {"dropoff": 1, "pickup_dropoff": 1}},
    }
    raw.update(sections)
    return parse_scenario(raw, base_dir=base_dir)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _fleet(sc: Scenario) -> list[Any]:
    return build_fleet(sc, make_streams(sc.scenario.seed))


# -- groups ---------------------------------------------------------------------------


def test_groups_make_a_mixed_fleet() -> None:
    sc = scenario(
        {
            "groups": [
                {"count": 2, "vehicle": "BICYCLE", "team": "east", "breaks": ["1+15"]},
                {"count": 1, "vehicle": "CAR", "speed_kmh": 36, "capacity": 20,
                 "shift_start_h": 1, "shift_end_h": 5, "start_hub": HUB, "end_hub": HUB},
            ]
        }
    )  # fmt: skip
    assert sc.fleet.workers == 3
    ws = _fleet(sc)
    assert [(w.vehicle, w.team, w.capacity) for w in ws] == [
        ("BICYCLE", "east", 10.0),
        ("BICYCLE", "east", 10.0),
        ("CAR", "default", 20.0),
    ]
    assert ws[0].speed_mps == pytest.approx(15 / 3.6) and ws[2].speed_mps == pytest.approx(10.0)
    assert ws[0].breaks == [(3600.0, 900.0)] and ws[2].breaks == []
    assert (ws[2].shift_start_s, ws[2].shift_end_s) == (3600.0, 18000.0)
    assert (ws[2].lat, ws[2].lon) == tuple(HUB) and ws[2].end_hub == tuple(HUB)
    assert ws[0].end_hub is None


@pytest.mark.parametrize(
    ("fleet", "message"),
    [
        ({"workers": 5, "groups": [{"count": 2}]}, "disagrees with the groups' counts (total 2)"),
        ({"groups": [{"count": 1, "breaks": ["soon"]}]}, "is not START_H+MINUTES"),
        ({"groups": [{"count": 1, "shift_end_h": 2, "breaks": ["3+10"]}]}, "outside the shift"),
        ({"groups": [{"count": 1, "breaks": ["1+60", "1.5+10"]}]}, "overlaps the previous"),
        ({"groups": [{"count": 1}], "roster": "r.csv"}, "either groups or roster"),
    ],
)
def test_bad_groups_are_refused_clearly(fleet: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario(fleet)


def test_adding_a_worker_to_a_group_moves_nobody_else() -> None:
    def starts(counts: tuple[int, int]) -> list[list[tuple[float, float]]]:
        sc = scenario({"groups": [{"count": counts[0]}, {"count": counts[1], "team": "b"}]})
        ws = _fleet(sc)
        return [
            [(w.lat, w.lon) for w in ws if w.team == "default"],
            [(w.lat, w.lon) for w in ws if w.team == "b"],
        ]

    small, big = starts((3, 4)), starts((4, 4))
    assert big[0][:3] == small[0]  # the group's first three stay put
    assert big[1] == small[1]  # the other group does not move at all
    assert big[0][3] not in small[0]


# -- roster CSV -------------------------------------------------------------------------


def _roster(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    return _write(tmp_path / "roster.csv", [header, *rows])


def test_roster_rows_become_workers(tmp_path: Path) -> None:
    _roster(
        tmp_path,
        [
            "bike-1,east,bicycle,4,0,4.5,2+20;3.5+10,,,40.75,-73.98",
            "van-7,west,TRUCK,50,1,9,,40.76,-73.99,40.76,-73.99",
        ],
    )
    sc = scenario({"roster": "roster.csv"}, base_dir=tmp_path)
    assert sc.fleet.workers == 2
    ws = _fleet(sc)
    assert [w.name for w in ws] == ["bike-1", "van-7"]
    assert ws[0].vehicle == "BICYCLE" and ws[0].breaks == [(7200.0, 1200.0), (12600.0, 600.0)]
    assert ws[0].end_hub == (40.75, -73.98)
    assert (ws[1].lat, ws[1].lon) == (40.76, -73.99) and ws[1].capacity == 50.0
    assert ws[1].shift_start_s == 3600.0


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("id,team,vehicle", ["a,t,CAR"], "missing column(s) capacity, shift_start, shift_end"),
        (HEADER + ",colour", ["a,t,CAR,1,0,2,,,,,,red"], "unknown column(s) colour"),
        (HEADER, ["a,t,CAR,1,0,2,,,,,", "b,t,BOAT,1,0,2,,,,,"], "line 3 (id 'b'): vehicle"),
        (HEADER, ["a,t,CAR,1,0,2,,,,,", "a,t,CAR,1,0,2,,,,,"], "line 3: id 'a' repeats line 2"),
        (HEADER, ["a,t,CAR,1,0,2,lunch,,,,"], "line 2 (id 'a'): breaks.0: break 'lunch'"),
        (HEADER, ["a,t,CAR,1,3,2,,,,,"], "line 2 (id 'a'): row: shift_end_h"),
        (HEADER, ["a,t,CAR,1,0,2,,40.7,,,"], "line 2: give both start_lat and start_lon"),
        (HEADER, ["a,t,CAR,-1,0,2,,,,,"], "line 2 (id 'a'): capacity"),
        (HEADER, [], "the roster has no workers"),
    ],
)
def test_bad_rosters_name_the_file_and_line(
    tmp_path: Path, header: str, rows: list[str], message: str
) -> None:
    path = _roster(tmp_path, rows, header)
    with pytest.raises(ScenarioError) as err:
        read_roster(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_roster_errors_surface_when_the_scenario_loads(tmp_path: Path) -> None:
    _roster(tmp_path, ["a,t,CAR,1,0,2,,,,,", "b,t,CAR,1,0,2,,,,,"])
    with pytest.raises(ScenarioError, match=r"fleet.workers = 3 disagrees with the roster"):
        scenario({"roster": "roster.csv", "workers": 3}, base_dir=tmp_path)
    with pytest.raises(ScenarioError, match="cannot read"):
        scenario({"roster": "nope.csv"}, base_dir=tmp_path)


def test_the_scenario_hash_covers_the_roster_bytes(tmp_path: Path) -> None:
    _roster(tmp_path, ["a,t,CAR,1,0,2,,,,,"])
    first = scenario({"roster": "roster.csv"}, tmp_path).content_hash()
    assert scenario({"roster": "roster.csv"}, tmp_path).content_hash() == first
    _roster(tmp_path, ["a,t,CAR,20,0,2,,,,,"])  # same name, another capacity
    assert scenario({"roster": "roster.csv"}, tmp_path).content_hash() != first


def test_roster_random_starts_are_keyed_by_worker_id(tmp_path: Path) -> None:
    _roster(tmp_path, ["a,t,CAR,1,0,2,,,,,", "b,t,CAR,1,0,2,,,,,"])
    before = {w.name: (w.lat, w.lon) for w in _fleet(scenario({"roster": "roster.csv"}, tmp_path))}
    _roster(tmp_path, ["new,t,CAR,1,0,2,,,,,", "a,t,CAR,1,0,2,,,,,", "b,t,CAR,1,0,2,,,,,"])
    after = {w.name: (w.lat, w.lon) for w in _fleet(scenario({"roster": "roster.csv"}, tmp_path))}
    assert after["a"] == before["a"] and after["b"] == before["b"]


# -- breaks and end of shift in a run ---------------------------------------------------


def _orders(tmp_path: Path, rows: list[str]) -> str:
    return str(_write(tmp_path / "orders.csv", ["created_s,dropoff_lat,dropoff_lon", *rows]))


def _one_courier(tmp_path: Path, group: dict[str, Any], orders: list[str]) -> SimResult:
    sc = scenario(
        {"groups": [{"count": 1, "start_hub": HUB, "shift_end_h": 3, **group}]},
        demand={"source": "csv", "csv": _orders(tmp_path, orders)},
        dispatch={"max_assigned_task_count": 5},
    )
    return simulate(sc)


def test_a_break_delays_the_next_task_by_its_length(tmp_path: Path) -> None:
    orders = ["60,40.7600,-73.9800", "61,40.7500,-73.9900"]
    plain = _one_courier(tmp_path, {}, orders)
    brk = _one_courier(tmp_path, {"breaks": ["0.05+20"]}, orders)  # due at 180 s, 20 min
    t0, t1 = plain.tasks, brk.tasks
    # The first task is under way at 180 s: the break waits until it is done ...
    assert t1.loc[0, "completed_s"] == t0.loc[0, "completed_s"] > 180.0
    ev = brk.events
    off = ev[(ev["kind"] == "workerDuty") & (ev["detail"] == "break")]
    assert list(off["time_s"]) == [pytest.approx(t1.loc[0, "completed_s"])]
    # ... and the second task, which stayed assigned, starts exactly 20 minutes later.
    assert t1.loc[1, "started_s"] - t0.loc[1, "started_s"] == pytest.approx(1200.0)
    assert t1.loc[1, "completed_s"] - t0.loc[1, "completed_s"] == pytest.approx(1200.0)
    assert (ev["kind"] == "taskUnassigned").sum() == 0
    assert t1.loc[1, "assigned_s"] < off["time_s"].iloc[0]
    assert brk.kpis["break_h"] == pytest.approx(20 / 60)


def test_end_hub_return_is_driven_and_counted(tmp_path: Path) -> None:
    # The shift ends at 0.25 h; an order at 1 h keeps the run going past it.
    far = ["60,40.7650,-73.9700"]
    res = _one_courier(
        tmp_path, {"shift_end_h": 0.25, "end_hub": HUB}, [*far, "3600,40.7500,-73.9900"]
    )
    w = res.workers.iloc[0]
    leg_m = geodesic_m(40.7650, -73.9700, *HUB) * 1.3  # last stop -> hub, default detour
    assert w["return_distance_m"] == pytest.approx(leg_m)
    assert w["return_s"] == pytest.approx(leg_m / (30 / 3.6))  # a CAR at 30 km/h
    assert res.kpis["return_km"] == pytest.approx(leg_m / 1000, abs=1e-6)
    off = res.events[(res.events["kind"] == "workerDuty") & (res.events["detail"] == "off")]
    # Off duty on arrival at the hub, not at the shift's end.
    assert off["time_s"].iloc[0] == pytest.approx(900.0 + w["return_s"])
    assert (off["lat"].iloc[0], off["lon"].iloc[0]) == tuple(HUB)
    # The return is in km_driven too: the only task's leg plus the way back.
    assert w["distance_m"] == pytest.approx(geodesic_m(*HUB, 40.7650, -73.9700) * 1.3 + leg_m)


def test_return_is_counted_when_the_day_ends_before_the_shift(tmp_path: Path) -> None:
    res = _one_courier(tmp_path, {"end_hub": [40.7500, -73.9900]}, ["60,40.7650,-73.9700"])
    want = geodesic_m(40.7650, -73.9700, 40.7500, -73.9900) * 1.3
    assert res.workers.iloc[0]["return_distance_m"] == pytest.approx(want)


# -- per-vehicle profiles ---------------------------------------------------------------


def test_bicycles_are_not_slowed_by_traffic_as_cars_are() -> None:
    rush = [1.0] * 24
    rush[11] = 0.5
    sc = scenario(
        {"workers": 2},
        travel={"speed_profile": rush, "vehicle_profiles": {"BICYCLE": []}},
    )
    model = travel_model(sc)
    assert isinstance(model, GeodesicTravel)
    a, b = (40.75, -73.98), (40.76, -73.97)
    car = model.leg(*a, *b, 0.0, 10.0, "CAR")[1]
    bike = model.leg(*a, *b, 0.0, 10.0, "BICYCLE")[1]
    assert car == pytest.approx(2 * bike)  # the same speed; only the car meets rush hour
    assert model.leg(*a, *b, 3600.0, 10.0, "CAR")[1] == pytest.approx(bike)  # 12:00: free


def test_mixed_roster_run_is_byte_identical_twice(tmp_path: Path) -> None:
    _roster(
        tmp_path,
        [
            "b1,t,BICYCLE,4,0,3,0.2+10,,,40.75,-73.98",
            "c1,t,CAR,8,0,3,,40.76,-73.99,40.76,-73.99",
            "c2,t,CAR,8,0,0.3,,,,40.76,-73.99",
        ],
    )
    sc = scenario({"roster": "roster.csv"}, base_dir=tmp_path)
    a = write_outputs(simulate(sc), tmp_path / "a")
    b = write_outputs(simulate(sc), tmp_path / "b")
    for p in sorted(a.iterdir()):
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name
    w = pd.read_parquet(a / "workers.parquet")
    assert list(w["vehicle"].astype(str)) == ["BICYCLE", "CAR", "CAR"]
    assert w["return_distance_m"].sum() > 0
