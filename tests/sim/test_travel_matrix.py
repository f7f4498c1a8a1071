"""travel.model = "matrix": reading and checking H3 matrices, lookups, fallbacks, the
vectorised matrix API of every model, and the shipped example end to end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.errors import ScenarioError
from sim.geo import geodesic_m, geodesic_many_m, geodesic_matrix_m
from sim.matrix import MatrixTravel, cell_of, read_matrix
from sim.output import write_outputs
from sim.run import simulate
from sim.scenario_io import parse_scenario, read_scenario_file
from sim.travel import GeodesicTravel, NoTravel, VehicleSpec, travel_model
from tests.fixtures.scenarios import SCENARIOS, make_scenario

RES = 8
A = (40.7549, -73.9840)  # two points in different resolution-8 cells
B = (40.7680, -73.9700)
CA, CB = h3.latlng_to_cell(*A, RES), h3.latlng_to_cell(*B, RES)
CAR = VehicleSpec("CAR", 10.0)


def _csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _geo(profile: list[float] | None = None) -> GeodesicTravel:
    return GeodesicTravel(1.3, profile or [], 11.0)


# -- reading and checking ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["from_cell,seconds", f"{CA},10"], "missing column(s) to_cell"),
        (["from_cell,to_cell,seconds", f"{CA},{CB},10", f"nonsense,{CB},10"], "line 3: from_cell"),
        (
            ["from_cell,to_cell,seconds", f"{CA},{h3.latlng_to_cell(*B, 9)},10"],
            "line 2: to_cell",
        ),
        (["from_cell,to_cell,seconds", f"{CA},{CB},-5"], "line 2: seconds '-5' is negative"),
        (["from_cell,to_cell,seconds", f"{CA},{CB},abc"], "line 2: seconds 'abc' is not a number"),
        (["from_cell,to_cell,seconds,hour", f"{CA},{CB},10,24"], "line 2: hour '24'"),
        (
            ["from_cell,to_cell,seconds,hour", f"{CA},{CB},10,3", f"{CA},{CB},12,3"],
            "line 3: repeats the trip of line 2",
        ),
    ],
)
def test_bad_matrix_files_name_the_file_and_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = _csv(tmp_path / "m.csv", lines)
    with pytest.raises(ScenarioError) as err:
        read_matrix(path, RES)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_wrong_resolution_says_which(tmp_path: Path) -> None:
    cell9 = h3.latlng_to_cell(*B, 9)
    path = _csv(tmp_path / "m.csv", ["from_cell,to_cell,seconds", f"{CA},{cell9},10"])
    with pytest.raises(ScenarioError, match=r"resolution 9, the scenario says .* = 8"):
        read_matrix(path, RES)


def test_parquet_rows_are_numbered_and_int_cells_accepted(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    ints = [h3.str_to_int(CA), h3.str_to_int(CB)]
    pq.write_table(
        pa.table({"from_cell": ints, "to_cell": ints[::-1], "seconds": [60.0, -1.0]}), path
    )
    with pytest.raises(ScenarioError, match=r"m.parquet: row 2: seconds -1.0 is negative"):
        read_matrix(path, RES)
    pq.write_table(
        pa.table({"from_cell": ints, "to_cell": ints[::-1], "seconds": [60.0, 70.0]}), path
    )
    table = read_matrix(path, RES)
    assert table.find(cell_of(*A, RES), cell_of(*B, RES), 11) == (
        60.0,
        pytest.approx(math.nan, nan_ok=True),
    )


def test_scenario_needs_a_matrix_path() -> None:
    with pytest.raises(ScenarioError, match="needs matrix ="):
        make_scenario(travel={"model": "matrix"})


# -- legs -------------------------------------------------------------------------------


def _hourly(tmp_path: Path) -> MatrixTravel:
    path = _csv(
        tmp_path / "m.csv",
        [
            "from_cell,to_cell,seconds,meters,hour",
            f"{CA},{CB},300,2500,11",
            f"{CA},{CB},900,2500,12",
        ],
    )
    return MatrixTravel(read_matrix(path, RES), _geo(), frozenset({"CAR"}))


def test_hourly_times_by_departure_and_fallback_counted(tmp_path: Path) -> None:
    m = _hourly(tmp_path)
    # The model's clock starts at 11:00: depart at 0 s is hour 11, at 3600 s hour 12.
    assert m.leg(*A, *B, 0.0, 10.0, "CAR") == (2500.0, 300.0)
    assert m.leg(*A, *B, 3700.0, 10.0, "CAR") == (2500.0, 900.0)
    assert m.fallbacks == 0
    # Hour 13 and the way back are not in the table: geodesic × detour, counted.
    geo = _geo().leg(*A, *B, 7300.0, 10.0)
    assert m.leg(*A, *B, 7300.0, 10.0, "CAR") == geo
    assert m.leg(*B, *A, 0.0, 10.0, "CAR") == pytest.approx(_geo().leg(*B, *A, 0.0, 10.0))
    assert m.fallbacks == 2


def test_same_cell_and_other_vehicles_use_the_geodesic_uncounted(tmp_path: Path) -> None:
    m = _hourly(tmp_path)
    near = (A[0] + 0.001, A[1])
    assert cell_of(*near, RES) == cell_of(*A, RES)
    assert m.leg(*A, *near, 0.0, 10.0, "CAR") == _geo().leg(*A, *near, 0.0, 10.0)
    assert m.leg(*A, *B, 0.0, 5.0, "BICYCLE") == _geo().leg(*A, *B, 0.0, 5.0)
    assert m.fallbacks == 0


def test_hourless_matrix_is_scaled_by_the_vehicle_profile(tmp_path: Path) -> None:
    path = _csv(tmp_path / "m.csv", ["from_cell,to_cell,seconds", f"{CA},{CB},300"])
    profile = [1.0] * 24
    profile[11] = 0.5  # half speed at 11:00
    m = MatrixTravel(read_matrix(path, RES), _geo(profile), frozenset({"CAR"}))
    dist, dur = m.leg(*A, *B, 0.0, 10.0, "CAR")
    assert dur == 600.0
    # No metres column: the distance is the geodesic × detour.
    assert dist == pytest.approx(geodesic_m(*A, *B) * 1.3)


# -- the vectorised matrix API ------------------------------------------------------------


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 40.75 + rng.uniform(-0.02, 0.02, n), -73.98 + rng.uniform(-0.02, 0.02, n)


@pytest.mark.parametrize("at_s", [0.0, np.array([0.0, 3700.0, 100.0, 7300.0])])
def test_matrix_agrees_with_legs_for_geodesic_and_matrix(tmp_path: Path, at_s: Any) -> None:
    flat, flon = _points(4, 1)
    tlat, tlon = _points(5, 2)
    profile = [1.0 + 0.05 * h for h in range(24)]
    flat[0], flon[0] = A
    tlat[0], tlon[0] = B
    for model in (_geo(profile), _hourly(tmp_path)):
        dist, dur = model.matrix(flat, flon, tlat, tlon, at_s, CAR)
        assert dist.shape == dur.shape == (4, 5)
        assert np.array_equal(model.matrix_s(flat, flon, tlat, tlon, at_s, CAR), dur)
        assert np.array_equal(model.matrix_m(flat, flon, tlat, tlon, at_s, CAR), dist)
        dep = np.broadcast_to(at_s, (4,))
        for i in range(4):
            for j in range(5):
                leg = model.leg(flat[i], flon[i], tlat[j], tlon[j], float(dep[i]), 10.0, "CAR")
                # Matrix geodesics are within 1 cm of the exact ones (x detour 1.3).
                assert dist[i, j] == pytest.approx(leg[0], abs=0.013)
                assert dur[i, j] == pytest.approx(leg[1], abs=0.013 / 5.0)


def test_geodesic_matrix_is_within_a_centimetre_and_exact_far_away() -> None:
    lat, lon = _points(60, 7)
    lat = np.concatenate([lat, [51.5, -33.9, lat[0]]])  # London, Sydney, a repeated point
    lon = np.concatenate([lon, [-0.12, 151.2, lon[0]]])
    n = lat.size
    got = geodesic_matrix_m(lat, lon, lat, lon)
    exact = geodesic_many_m(
        np.repeat(lat, n), np.repeat(lon, n), np.tile(lat, n), np.tile(lon, n)
    ).reshape(n, n)
    assert np.abs(got - exact).max() <= 0.01
    assert got[-3:, -3:-1].tolist() == exact[-3:, -3:-1].tolist()  # far pairs: exact
    assert got[0, -1] == got[-1, 0] == 0.0 and (np.diagonal(got) == 0.0).all()


def test_matrix_counts_its_fallbacks_apart_from_driven_legs(tmp_path: Path) -> None:
    m = _hourly(tmp_path)
    _, dur = m.matrix(
        np.array([A[0], B[0]]), np.array([A[1], B[1]]), np.array([B[0]]), np.array([B[1]]), 0.0, CAR
    )
    assert dur[0, 0] == 300.0  # A -> B from the table
    assert m.matrix_fallbacks == 0  # B -> B is within one cell
    m.matrix(np.array([B[0]]), np.array([B[1]]), np.array([A[0]]), np.array([A[1]]), 0.0, CAR)
    assert (m.matrix_fallbacks, m.fallbacks) == (1, 0)


def test_no_travel_matrix_is_zero() -> None:
    flat, flon = _points(3, 3)
    assert not NoTravel().matrix_s(flat, flon, flat, flon, 0.0, CAR).any()
    assert NoTravel().matrix_m(flat, flon, flat[:2], flon[:2], 0.0, CAR).shape == (3, 2)


# -- hour-varying times in a run, and the shipped example ---------------------------------


def _run_with(tmp_path: Path, slow_hour: int) -> Any:
    """One courier, orders from a CSV, a matrix where ``slow_hour`` is four times slower."""
    centre = (40.7549, -73.9840)
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(*centre, RES), 3))
    rows = ["from_cell,to_cell,seconds,hour"]
    for h in (11, 12, 13, 14):
        for a in cells:
            for b in cells:
                if a != b:
                    rows.append(f"{a},{b},{(2400 if h == slow_hour else 600)},{h}")
    matrix = _csv(tmp_path / f"m{slow_hour}.csv", rows)
    orders = _csv(
        tmp_path / "orders.csv",
        ["created_s,dropoff_lat,dropoff_lon", "60,40.7680,-73.9700", "120,40.7450,-73.9950"],
    )
    sc = make_scenario(
        fleet={"workers": 1, "start": "hubs", "hubs": [list(centre)]},
        demand={"source": "csv", "csv": str(orders)},
        travel={"model": "matrix", "matrix": str(matrix), "h3_resolution": RES},
    )
    return simulate(sc)


def test_hour_varying_times_change_arrival_times(tmp_path: Path) -> None:
    slow = _run_with(tmp_path, slow_hour=11).tasks
    fast = _run_with(tmp_path, slow_hour=13).tasks
    # The first leg departs in hour 11: 2400 s when hour 11 is slow, 600 s otherwise.
    first_slow = slow.iloc[0]["arrived_s"] - slow.iloc[0]["started_s"]
    first_fast = fast.iloc[0]["arrived_s"] - fast.iloc[0]["started_s"]
    assert (first_slow, first_fast) == (pytest.approx(2400.0), pytest.approx(600.0))
    assert (slow["arrived_s"] > fast["arrived_s"]).all()


def _small_example(garage: list[float] | None = None) -> Any:
    """The shipped example, one hour of orders at 120 an hour (and the cars' garage moved)."""
    raw = read_scenario_file(SCENARIOS / "lunch-rush-matrix.toml")
    raw["scenario"]["duration_h"] = 1.0
    raw["demand"]["rate_profile_per_h"] = [120]
    if garage is not None:
        raw["fleet"]["groups"][1]["start_hub"] = garage
    return parse_scenario(raw, base_dir=SCENARIOS)


def test_shipped_example_runs_on_its_matrix_and_reports_fallbacks() -> None:
    sc = _small_example()
    model = travel_model(sc)
    assert isinstance(model, MatrixTravel) and model.table.hourly
    res = simulate(sc)
    assert res.kpis["travel_fallbacks"] == 0  # the matrix covers the region
    # A garage 7 km east, outside the matrix: the cars' first legs miss it, counted.
    res2 = simulate(_small_example(garage=[40.7505, -73.90]))
    assert res2.kpis["travel_fallbacks"] > 0
    assert res2.kpis["travel_fallbacks"] == int(res2.workers["travel_fallbacks"].sum())
    cars = res2.workers[res2.workers["vehicle"] == "CAR"]
    assert cars["travel_fallbacks"].sum() == res2.kpis["travel_fallbacks"]  # bikes: geodesic


def test_shipped_matrix_is_what_the_script_builds(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_matrix", SCENARIOS / "tools" / "build_matrix.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "m.parquet"
    assert mod.main([str(SCENARIOS / "lunch-rush.toml"), "--out", str(out)]) == 0
    assert pq.read_table(out).equals(
        pq.read_table(SCENARIOS / "data" / "lunch-rush-matrix.parquet")
    )


def test_same_seed_gives_byte_identical_outputs(tmp_path: Path) -> None:
    sc = _small_example()
    dirs = []
    for k in range(2):
        d = tmp_path / f"run{k}"
        write_outputs(simulate(sc), d)
        dirs.append(d)
    files = sorted(p.name for p in dirs[0].iterdir())
    assert files
    for name in files:
        assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), name


def test_validate_reads_the_matrix(tmp_path: Path) -> None:
    from fleetsim.commands.validate import validate_file

    bad = _csv(tmp_path / "bad.csv", ["from_cell,to_cell,seconds", f"{CA},{CB},-1"])
    text = (SCENARIOS / "lunch-rush-matrix.toml").read_text()
    text = text.replace('"data/lunch-rush-matrix.parquet"', f'"{bad}"')
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"bad.csv: line 2: seconds '-1' is negative"):
        validate_file(path)
