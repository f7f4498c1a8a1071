"""Travel benchmarks: the vectorised travel-time matrix an optimiser asks for.

``sim.travel_matrix`` times ``matrix_s`` over 1,000 × 1,000 city points:

* the geodesic model (chord bounds, exact where they are loose) against the exact inverse
  problem solved for every pair by PROJ in one vectorised call, in the same run;
* the H3 matrix model (the shipped lunch-rush example) against the geodesic model;
* one leg of each, per call, as the simulation drives them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fleetsim.bench import BenchContext, BenchFn, BenchResult
from sim.geo import geodesic_many_m
from sim.matrix import MatrixTravel, read_matrix
from sim.travel import GeodesicTravel, VehicleSpec

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "scenarios" / "data" / "lunch-rush-matrix.parquet"
CENTRE = (40.7549, -73.9840)


def _best(fn: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t)
    return best


def bench_matrix(ctx: BenchContext) -> list[BenchResult]:
    n = 300 if ctx.quick else 1000
    rng = np.random.default_rng(11)
    lat = CENTRE[0] + rng.uniform(-0.018, 0.018, n)  # the lunch-rush region, ~2 km
    lon = CENTRE[1] + rng.uniform(-0.024, 0.024, n)
    car = VehicleSpec("CAR", 20 / 3.6)
    geo = GeodesicTravel(1.35, [], 11.0)
    cells = MatrixTravel(read_matrix(MATRIX, 8), geo, frozenset({"CAR"}))
    repeat = 2

    t_geo = _best(lambda: geo.matrix_s(lat, lon, lat, lon, 0.0, car), repeat)
    t_exact = _best(
        lambda: geodesic_many_m(
            np.repeat(lat, n), np.repeat(lon, n), np.tile(lat, n), np.tile(lon, n)
        ),
        repeat,
    )
    t_cells = _best(lambda: cells.matrix_s(lat, lon, lat, lon, 0.0, car), repeat)
    legs = 2000

    def drive(model: GeodesicTravel | MatrixTravel) -> None:
        for k in range(legs):
            i, j = k % n, (k * 7 + 1) % n
            model.leg(lat[i], lon[i], lat[j], lon[j], 60.0 * k, car.speed_mps, "CAR")

    t_leg_geo = _best(lambda: drive(geo), repeat) / legs
    t_leg_cells = _best(lambda: drive(cells), repeat) / legs
    pairs = n * n
    return [
        BenchResult(
            "sim.travel_matrix.geodesic",
            t_geo,
            "s",
            baseline=t_exact,
            ratio=t_geo / t_exact,
            note=f"{n}x{n} matrix_s; baseline: exact geodesic for every pair (PROJ, vectorised)",
            extra={"pairs": pairs, "ns_per_pair": round(t_geo / pairs * 1e9, 1)},
        ),
        BenchResult(
            "sim.travel_matrix.h3",
            t_cells,
            "s",
            baseline=t_geo,
            ratio=t_cells / t_geo,
            note=f"{n}x{n} matrix_s on the lunch-rush H3 matrix; baseline: the geodesic model",
            extra={"cells_in_table": len(cells.table.cells)},
        ),
        BenchResult(
            "sim.travel_leg.h3",
            t_leg_cells * 1e6,
            "us/leg",
            baseline=t_leg_geo * 1e6,
            ratio=t_leg_cells / t_leg_geo,
            note="one driven leg on the H3 matrix; baseline: one geodesic leg",
        ),
    ]


BENCHMARKS: list[tuple[str, BenchFn]] = [("sim.travel_matrix", bench_matrix)]
