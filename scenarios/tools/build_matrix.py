"""Build an example travel-time matrix between H3 cells for a scenario's region.

The times come from fleetsim's own geodesic model (WGS84 geodesic between cell centres ×
detour factor, at a vehicle speed scaled by an hourly rush-hour profile), one row per
ordered pair of distinct cells and hour.  It exercises ``travel.model = "matrix"`` end to
end; it is NOT road data.  Real matrices come from a routing engine (OSRM's or Valhalla's
table service, or a traffic provider) sampled per hour of day.

    python scenarios/tools/build_matrix.py scenarios/lunch-rush.toml \\
        --out scenarios/data/lunch-rush-matrix.parquet

Writes Parquet (``.parquet``) or CSV (``.csv``) with the columns
``from_cell, to_cell, seconds, meters, hour``.  Same arguments, same file.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import h3  # type: ignore[import-untyped]
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim.errors import UserError
from sim.scenario_io import load_scenario
from sim.travel import GeodesicTravel, VehicleSpec

#: Speed multipliers by hour of day: free-flowing nights, morning and evening peaks, a
#: slower lunch (a car in a dense centre; bicycles are usually left out of it).
RUSH_HOUR: tuple[float, ...] = (
    1.3, 1.3, 1.3, 1.3, 1.25, 1.15, 1.0, 0.75, 0.6, 0.7, 0.85, 0.8,
    0.7, 0.75, 0.85, 0.8, 0.7, 0.6, 0.65, 0.8, 0.95, 1.05, 1.15, 1.25,
)  # fmt: skip


def region_cells(lat: float, lon: float, radius_m: float, resolution: int) -> list[str]:
    """Cells whose disk of rings covers the region (sorted, so the output is stable)."""
    spacing_m = h3.average_hexagon_edge_length(resolution, unit="m") * math.sqrt(3)
    rings = math.ceil(radius_m / spacing_m) + 1
    return sorted(h3.grid_disk(h3.latlng_to_cell(lat, lon, resolution), rings))


def build(
    cells: list[str],
    hours: list[int],
    speed_kmh: float,
    detour: float,
    profile: tuple[float, ...] = RUSH_HOUR,
) -> pa.Table:
    """One row per (from cell, to cell, hour), from cell centre to cell centre."""
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    model = GeodesicTravel(detour, list(profile), 0.0)  # hour 0 = midnight: at_s is clock
    car = VehicleSpec("CAR", speed_kmh / 3.6)
    n = len(cells)
    ids = np.array([h3.str_to_int(c) for c in cells], dtype=np.int64)
    off_diagonal = ~np.eye(n, dtype=bool)  # within one cell the simulator uses the geodesic
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("f", "t", "s", "m", "h")}
    for hour in hours:
        dist, dur = model.matrix(
            centres[:, 0], centres[:, 1], centres[:, 0], centres[:, 1], hour * 3600.0, car
        )
        parts["f"].append(np.repeat(ids, n).reshape(n, n)[off_diagonal])
        parts["t"].append(np.tile(ids, n).reshape(n, n)[off_diagonal])
        parts["s"].append(np.round(dur[off_diagonal], 1))
        parts["m"].append(np.round(dist[off_diagonal], 1))
        parts["h"].append(np.full(int(off_diagonal.sum()), hour, dtype=np.int8))
    return pa.table(
        {
            "from_cell": pa.array([h3.int_to_str(int(c)) for c in np.concatenate(parts["f"])]),
            "to_cell": pa.array([h3.int_to_str(int(c)) for c in np.concatenate(parts["t"])]),
            "seconds": np.concatenate(parts["s"]),
            "meters": np.concatenate(parts["m"]),
            "hour": np.concatenate(parts["h"]),
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", help="the scenario whose region (centre, radius) to cover")
    ap.add_argument("--out", required=True, help="output file, .parquet or .csv")
    ap.add_argument("--resolution", type=int, default=8, help="H3 resolution (default 8)")
    ap.add_argument("--hours", default="11-16", help="hours of day, e.g. 11-16 (default)")
    ap.add_argument("--speed-kmh", type=float, default=20.0, help="free-flow speed (20)")
    ap.add_argument("--detour", type=float, default=None, help="default: the scenario's")
    args = ap.parse_args(argv)
    try:
        sc = load_scenario(args.scenario)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    first, _, last = args.hours.partition("-")
    try:
        hours = list(range(int(first), int(last or first) + 1))
    except ValueError:
        hours = []
    if not hours or not all(0 <= h <= 23 for h in hours):
        print(f"error: --hours {args.hours!r}: give hours of day 0..23 as A-B", file=sys.stderr)
        return 2
    lat, lon = sc.region.center
    cells = region_cells(lat, lon, sc.region.radius_m, args.resolution)
    detour = args.detour if args.detour is not None else sc.travel.detour_factor
    table = build(cells, hours, args.speed_kmh, detour)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        pacsv.write_csv(table, out)
    else:
        pq.write_table(table, out, compression="zstd")
    print(f"{out}: {table.num_rows} rows, {len(cells)} cells at resolution "
          f"{args.resolution}, hours {hours[0]}-{hours[-1]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
