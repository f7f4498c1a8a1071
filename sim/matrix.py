"""Travel-time matrices between H3 cells: reading, checking and looking them up.

Concepts held here:

* :class:`CellTable` -- a validated table of trips between H3 cells at one resolution,
  read by :func:`read_matrix` from Parquet or CSV with the columns
  ``from_cell, to_cell, seconds[, meters][, hour]`` (cells as H3 strings or 64-bit ints;
  ``hour`` 0..23 in the scenario start's offset);
* :class:`CellTravel` -- the travel model over cells: a leg departs from the cell of its
  origin in the hour of its departure; a trip within one cell, or a vehicle the table is
  not for, uses the geodesic model; a pair (and hour) the table lacks falls back to it
  too, and is counted;
* :class:`MatrixTravel` -- :class:`CellTravel` over a :class:`CellTable`.

Times from a table with an ``hour`` column are used as they are (the hours carry the
traffic); times from a table without one are scaled by the vehicle's hourly speed
profile, as the geodesic model's are.
"""

from __future__ import annotations

import math
from pathlib import Path

import h3  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim.errors import ScenarioError
from sim.travel import FloatArray, GeodesicTravel, Times, VehicleSpec, _arrays, _MatrixParts

IntArray = npt.NDArray[np.int64]
COLUMNS = ("from_cell", "to_cell", "seconds")
OPTIONAL = ("meters", "hour")
ANY_HOUR = 24  # the hour slot of rows in a table without an hour column


def cell_of(lat: float, lon: float, resolution: int) -> int:
    """The H3 cell (64-bit int) holding a point."""
    return int(h3.str_to_int(h3.latlng_to_cell(lat, lon, resolution)))


def cells_of(lat: FloatArray, lon: FloatArray, resolution: int) -> IntArray:
    """:func:`cell_of` for many points (one h3 call per point, not per pair)."""
    return np.array(
        [cell_of(a, b, resolution) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)],
        dtype=np.int64,
    )


class CellTable:
    """Trips between H3 cells, keyed by (from cell, to cell, hour).

    Lookups come in two forms: :meth:`find` for one leg (a dict) and :meth:`find_many`
    for many pairs (a sorted-key ``searchsorted``, no Python loop over pairs)."""

    def __init__(
        self,
        from_cell: IntArray,
        to_cell: IntArray,
        hour: IntArray | None,
        seconds: FloatArray,
        meters: FloatArray | None,
        resolution: int,
    ) -> None:
        self.resolution = resolution
        self.hourly = hour is not None
        self.seconds = seconds
        self.meters = meters if meters is not None else np.full(seconds.shape, np.nan)
        self.cells = np.unique(np.concatenate([from_cell, to_cell]))
        self._ncell = len(self.cells)
        slot = hour if hour is not None else np.full(seconds.shape, ANY_HOUR, dtype=np.int64)
        keys = self._key(
            np.searchsorted(self.cells, from_cell), np.searchsorted(self.cells, to_cell), slot
        )
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._rows = order
        self._cell_id = {int(c): i for i, c in enumerate(self.cells.tolist())}
        self._row = dict(zip(keys.tolist(), range(len(keys)), strict=True))

    def __len__(self) -> int:
        return len(self.seconds)

    def _key(self, fid: IntArray, tid: IntArray, slot: IntArray) -> IntArray:
        return (fid.astype(np.int64) * self._ncell + tid) * (ANY_HOUR + 1) + slot

    def find(self, f: int, t: int, hour: int) -> tuple[float, float] | None:
        """Seconds and metres (NaN: no metres column) from cell ``f`` to ``t``, or None."""
        fid = self._cell_id.get(f)
        tid = self._cell_id.get(t)
        if fid is None or tid is None:
            return None
        slot = hour if self.hourly else ANY_HOUR
        row = self._row.get((fid * self._ncell + tid) * (ANY_HOUR + 1) + slot)
        if row is None:
            return None
        return float(self.seconds[row]), float(self.meters[row])

    def find_many(
        self, f: IntArray, t: IntArray, hour: IntArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        """Seconds, metres and a found mask for many (from, to, hour) triples."""
        fid = np.clip(np.searchsorted(self.cells, f), 0, self._ncell - 1)
        tid = np.clip(np.searchsorted(self.cells, t), 0, self._ncell - 1)
        known = (self.cells[fid] == f) & (self.cells[tid] == t)
        slot = hour if self.hourly else np.full(f.shape, ANY_HOUR, dtype=np.int64)
        keys = self._key(fid, tid, slot)
        pos = np.clip(np.searchsorted(self._keys, keys), 0, len(self._keys) - 1)
        found = known & (self._keys[pos] == keys)
        rows = self._rows[pos]
        seconds = np.where(found, self.seconds[rows], np.nan)
        meters = np.where(found, self.meters[rows], np.nan)
        return seconds, meters, found


class CellTravel(_MatrixParts):
    """A travel model over H3 cells with the geodesic model for what it cannot answer."""

    def __init__(
        self, geo: GeodesicTravel, resolution: int, vehicles: frozenset[str], hourly: bool
    ) -> None:
        self.geo = geo
        self.resolution = resolution
        self.vehicles = vehicles
        self.hourly = hourly
        self.fallbacks = 0
        self.matrix_fallbacks = 0

    # What a subclass provides: its answers for one pair and for many.
    def find(self, f: int, t: int, hour: int) -> tuple[float, float] | None:
        raise NotImplementedError

    def find_many(
        self, f: IntArray, t: IntArray, hour: IntArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        raise NotImplementedError

    def leg(
        self,
        lat1: float,
        lon1: float,
        lat2: float,
        lon2: float,
        depart_s: float,
        speed_mps: float,
        vehicle: str | None = None,
    ) -> tuple[float, float]:
        geo = self.geo
        if vehicle is not None and vehicle not in self.vehicles:
            return geo.leg(lat1, lon1, lat2, lon2, depart_s, speed_mps, vehicle)
        f = cell_of(lat1, lon1, self.resolution)
        t = cell_of(lat2, lon2, self.resolution)
        if f == t:  # within one cell a cell-to-cell time says nothing: the geodesic does
            return geo.leg(lat1, lon1, lat2, lon2, depart_s, speed_mps, vehicle)
        hit = self.find(f, t, geo.hour_of(depart_s))
        if hit is None or math.isnan(hit[0]):
            self.fallbacks += 1
            return geo.leg(lat1, lon1, lat2, lon2, depart_s, speed_mps, vehicle)
        seconds, meters = hit
        if not self.hourly:
            seconds /= geo.speed_factor(depart_s, vehicle)
        if math.isnan(meters):
            meters = geo.leg(lat1, lon1, lat2, lon2, depart_s, speed_mps, vehicle)[0]
        return meters, seconds

    def matrix(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> tuple[FloatArray, FloatArray]:
        geo = self.geo
        dist, dur = geo.matrix(from_lat, from_lon, to_lat, to_lon, at_s, vehicle)
        if vehicle.kind not in self.vehicles or dist.size == 0:
            return dist, dur
        flat, flon, tlat, tlon = _arrays(from_lat, from_lon, to_lat, to_lon)
        n, m = flat.size, tlat.size
        fc = np.repeat(cells_of(flat, flon, self.resolution), m)
        tc = np.tile(cells_of(tlat, tlon, self.resolution), n)
        at = np.broadcast_to(np.asarray(at_s, dtype=np.float64), (n,))
        hours = np.repeat(geo.hours_of(at), m)
        seconds, meters, found = self.find_many(fc, tc, hours)
        found &= ~np.isnan(seconds)
        use = found & (fc != tc)
        self.matrix_fallbacks += int(np.count_nonzero(~found & (fc != tc)))
        if not self.hourly:
            seconds = seconds / np.repeat(geo.profile_of(vehicle.kind)[geo.hours_of(at)], m)
        dist_flat = dist.ravel()
        dur_flat = dur.ravel()
        dur_flat[use] = seconds[use]
        has_m = use & ~np.isnan(meters)
        dist_flat[has_m] = meters[has_m]
        return dist_flat.reshape(n, m), dur_flat.reshape(n, m)


class MatrixTravel(CellTravel):
    """``travel.model = "matrix"``: a :class:`CellTable` read from a file."""

    def __init__(self, table: CellTable, geo: GeodesicTravel, vehicles: frozenset[str]) -> None:
        super().__init__(geo, table.resolution, vehicles, table.hourly)
        self.table = table
        self.find = table.find  # type: ignore[method-assign]
        self.find_many = table.find_many  # type: ignore[method-assign]


# -- reading and checking -------------------------------------------------------------


def _read_table(path: Path) -> tuple[pa.Table, bool]:
    """The file as an Arrow table (CSV: every column as text) and whether it is CSV."""
    if not path.is_file():
        raise ScenarioError(f"travel.matrix: no such file {path}")
    is_csv = path.suffix.lower() in (".csv", ".gz") and not path.name.endswith(".parquet")
    try:
        if is_csv:
            with path.open("rb") as fh:
                head = fh.readline().decode("utf-8-sig").strip().split(",")
            types = {name.strip(): pa.string() for name in head}
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
        else:
            table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        kind = "CSV" if is_csv else "Parquet"
        raise ScenarioError(f"{path}: not a readable {kind} file: {e}") from None
    return table, is_csv


def _where(path: Path, i: int, is_csv: bool) -> str:
    return f"{path}: line {i + 2}" if is_csv else f"{path}: row {i + 1}"


def _cells(values: list[object], name: str, path: Path, is_csv: bool, res: int) -> IntArray:
    """H3 cells (strings or ints) as 64-bit ints, every one valid and at resolution ``res``.

    Each distinct value is checked once (a matrix repeats every cell many times)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise ScenarioError(f"{_where(path, i, is_csv)}: {name} is empty")
    ints = np.empty(len(uniques), dtype=np.int64)
    for k, v in enumerate(uniques.tolist()):
        try:
            text = h3.int_to_str(int(v)) if isinstance(v, int) else str(v).strip()
            ok = bool(h3.is_valid_cell(text))
        except (ValueError, TypeError, OverflowError):
            ok = False
        where = _where(path, int(np.argmax(codes == k)), is_csv)
        if not ok:
            raise ScenarioError(f"{where}: {name} {v!r} is not an H3 cell")
        got = h3.get_resolution(text)
        if got != res:
            raise ScenarioError(
                f"{where}: {name} {v!r} is at H3 resolution {got}, "
                f"the scenario says travel.h3_resolution = {res}"
            )
        ints[k] = int(h3.str_to_int(text))
    out: IntArray = ints[codes]
    return out


def _numbers(
    values: list[object], name: str, path: Path, is_csv: bool, integer: bool = False
) -> FloatArray:
    raw = pd.Series(values, dtype=object)
    x = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScenarioError(f"{_where(path, i, is_csv)}: {name} {values[i]!r} is not a number")
    if (x < 0).any():
        i = int(np.flatnonzero(x < 0)[0])
        raise ScenarioError(f"{_where(path, i, is_csv)}: {name} {values[i]!r} is negative")
    if integer:
        wrong = (x != np.floor(x)) | (x > 23)
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise ScenarioError(
                f"{_where(path, i, is_csv)}: hour {values[i]!r} is not a whole hour of day 0..23"
            )
    return x


def read_matrix(path: Path, resolution: int) -> CellTable:
    """Read and check a travel-time matrix; a :class:`ScenarioError` names the file and
    the row (CSV: the line) of the first problem."""
    table, is_csv = _read_table(path)
    names = [n.strip() for n in table.column_names]
    table = table.rename_columns(names)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ScenarioError(
            f"{path}: missing column(s) {', '.join(missing)}; a matrix needs "
            f"{', '.join(COLUMNS)} and may have {', '.join(OPTIONAL)} (has {', '.join(names)})"
        )
    if table.num_rows == 0:
        raise ScenarioError(f"{path}: the matrix has no rows")

    def col(name: str) -> list[object]:
        values: list[object] = table.column(name).to_pylist()
        return values

    f = _cells(col("from_cell"), "from_cell", path, is_csv, resolution)
    t = _cells(col("to_cell"), "to_cell", path, is_csv, resolution)
    seconds = _numbers(col("seconds"), "seconds", path, is_csv)
    meters = _numbers(col("meters"), "meters", path, is_csv) if "meters" in names else None
    hour = (
        _numbers(col("hour"), "hour", path, is_csv, integer=True).astype(np.int64)
        if "hour" in names
        else None
    )
    slot = hour if hour is not None else np.zeros(len(f), dtype=np.int64)
    keys = np.stack([f, t, slot], axis=1)
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup_keys = keys[first[counts > 1]]
        rows = np.flatnonzero((keys == dup_keys[0]).all(axis=1))
        raise ScenarioError(
            f"{_where(path, int(rows[1]), is_csv)}: repeats the trip of "
            f"{'line' if is_csv else 'row'} {int(rows[0]) + (2 if is_csv else 1)} "
            "(same from_cell, to_cell" + (", hour)" if hour is not None else ")")
        )
    return CellTable(f, t, hour, seconds, meters, resolution)
