"""Where workers are: positions interpolated along the leg a worker is driving.

Concepts held here:

* :func:`interpolate` / :func:`interpolate_many` -- the point a fraction of the way along a
  leg, the one place that knows how a travel model moves a worker: along the WGS84
  geodesic (the geodesic model), or linearly in latitude and longitude (a model whose
  ``interpolation`` attribute is ``"linear"``, such as a travel-time matrix between cells).
* :class:`Legs` -- the leg each worker is on (from, to, departure, arrival), per worker
  row, with the vectorised questions dispatch asks at a decision time: where each moving
  worker is now, and how much of each leg is still to drive.

A worker's speed holds for the whole leg (the travel model fixes it at departure), so the
fraction of the leg driven is the fraction of its duration elapsed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pyproj import Geod

from sim.dispatch import FleetSnapshot
from sim.geo import RHO_MIN_M, FloatArray, ecef_point, geodesic_upper_bound_m
from sim.nearest_index import INDEX_MIN_WORKERS, LegRow, MovingNearest

Interpolation = Literal["geodesic", "linear"]
_GEOD: Final = Geod(ellps="WGS84")


def interpolation_of(travel: Any) -> Interpolation:
    """How ``travel`` moves a worker along a leg (``geodesic`` unless it says otherwise)."""
    kind = getattr(travel, "interpolation", "geodesic")
    return "linear" if kind == "linear" else "geodesic"


def interpolate(
    kind: Interpolation, lat1: float, lon1: float, lat2: float, lon2: float, frac: float
) -> tuple[float, float]:
    """The point ``frac`` (0..1, clipped) of the way from point 1 to point 2."""
    f = min(1.0, max(0.0, frac))
    if f <= 0.0 or (lat1 == lat2 and lon1 == lon2):
        return lat1, lon1
    if f >= 1.0:
        return lat2, lon2
    if kind == "linear":
        return lat1 + (lat2 - lat1) * f, lon1 + (lon2 - lon1) * f
    az, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    lon, lat, _ = _GEOD.fwd(lon1, lat1, az, dist * f)
    return float(lat), float(lon)


def interpolate_many(
    kind: Interpolation,
    lat1: FloatArray,
    lon1: FloatArray,
    lat2: FloatArray,
    lon2: FloatArray,
    frac: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """:func:`interpolate` over arrays (one leg per element)."""
    f = np.clip(frac, 0.0, 1.0)
    if lat1.size == 0:
        return lat1.copy(), lon1.copy()
    if kind == "linear":
        return lat1 + (lat2 - lat1) * f, lon1 + (lon2 - lon1) * f
    az, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    lon, lat, _ = _GEOD.fwd(lon1, lat1, az, np.asarray(dist) * f)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    # The ends exactly (fwd rounds in the last digits): a worker that has not left, or has
    # arrived, is exactly where the event log says.
    done = f >= 1.0
    lat = np.where(done, lat2, np.where(f <= 0.0, lat1, lat))
    lon = np.where(done, lon2, np.where(f <= 0.0, lon1, lon))
    return lat, lon


@dataclass(frozen=True, slots=True)
class _Gathered:
    version: int
    t0: FloatArray
    inv_dur: FloatArray
    start: FloatArray
    span: FloatArray
    err: FloatArray


class Legs:
    """The leg each worker row is driving, if any.

    ``start`` is called when a worker sets off and ``stop`` when it arrives; ``moving``
    lists the rows on a leg.  The arrays are per row (worker id) so that dispatch can ask
    about every moving worker at once.
    """

    def __init__(self, n: int, kind: Interpolation = "geodesic", chords: bool = True) -> None:
        self.kind: Interpolation = kind
        #: Whether to keep each leg's chord (what ``distance`` decisions shortlist with);
        #: the other policies never ask, so they skip its cost.
        self.chords = chords
        self.from_lat = np.zeros(n)
        self.from_lon = np.zeros(n)
        self.to_lat = np.zeros(n)
        self.to_lon = np.zeros(n)
        self.t0 = np.zeros(n)
        self.t1 = np.zeros(n)
        self.inv_dur = np.zeros(n)  # 1 / duration, for fractions without a division
        #: Geodesic length (m) of each leg, for the distance still to drive.
        self.length_m = np.zeros(n)
        # ECEF ends of each leg, and how far the point that fraction along the chord can
        # be from the true point on the geodesic (see :meth:`approx_xyz`).
        self.from_xyz = np.zeros((n, 3))
        self.to_xyz = np.zeros((n, 3))
        self.err_m = np.zeros(n)
        #: An upper bound on each leg's speed along its geodesic (m/s), and the fastest
        #: leg started since :meth:`reset_peak_speed`: how far a worker can have moved.
        self.speed_mps = np.zeros(n)
        self.peak_speed_mps = 0.0
        #: Per row, the leg's chord columns as plain floats (``None`` when not on a leg):
        #: a decision reads a handful of rows, where list access beats numpy indexing.
        self.chord_rows: list[LegRow | None] = [None] * n
        self.on_leg: npt.NDArray[np.bool_] = np.zeros(n, dtype=np.bool_)
        #: Rows on a leg, kept as a set so that a decision touches only moving workers.
        self.moving: set[int] = set()
        self._rows: npt.NDArray[np.intp] | None = None
        #: Bumped whenever a leg starts or ends (callers cache per version and time).
        self.version = 0
        self._gathered: _Gathered | None = None

    def start(
        self,
        i: int,
        lat1: float,
        lon1: float,
        lat2: float,
        lon2: float,
        depart_s: float,
        duration_s: float,
        length_m: float,
    ) -> None:
        if duration_s <= 0 or (lat1 == lat2 and lon1 == lon2):
            return  # arrives at once: never between two points
        self.from_lat[i] = lat1
        self.from_lon[i] = lon1
        self.to_lat[i] = lat2
        self.to_lon[i] = lon2
        self.t0[i] = depart_s
        self.t1[i] = depart_s + duration_s
        self.inv_dur[i] = 1.0 / duration_s
        self.length_m[i] = length_m
        self.on_leg[i] = True
        self.moving.add(i)
        self._rows = None
        self.version += 1
        if not self.chords:
            return
        a = ecef_point(lat1, lon1)
        b = ecef_point(lat2, lon2)
        self.from_xyz[i] = a
        self.to_xyz[i] = b
        chord = math.dist(a, b)
        # A geodesic bends no more sharply than RHO_MIN_M, so it stays within
        # L^2/(8 rho) of its chord (taken twice over), and the point a fraction f along
        # it projects onto the chord within L - chord of the chord's own point at f.
        err = length_m * length_m / (4.0 * RHO_MIN_M) + max(0.0, length_m - chord) + 0.01
        self.err_m[i] = err
        # Bounded by the chord, not by length_m: whatever length the caller passed, the
        # geodesic the worker follows is no longer than geodesic_upper_bound_m(chord).
        speed = geodesic_upper_bound_m(chord) / duration_s
        self.speed_mps[i] = speed
        if speed > self.peak_speed_mps:
            self.peak_speed_mps = speed
        self.chord_rows[i] = (
            depart_s,
            1.0 / duration_s,
            a[0],
            a[1],
            a[2],
            b[0] - a[0],
            b[1] - a[1],
            b[2] - a[2],
            err,
        )

    def stop(self, i: int) -> None:
        if self.on_leg[i]:
            self.on_leg[i] = False
            self.moving.discard(i)
            self.chord_rows[i] = None
            self._rows = None
            self.version += 1

    def gathered(self) -> _Gathered:
        """The moving legs' columns in :meth:`rows` order (cached per leg change)."""
        if self._gathered is None or self._gathered.version != self.version:
            rows = self.rows()
            a = self.from_xyz[rows]
            self._gathered = _Gathered(
                self.version,
                self.t0[rows],
                1.0 / (self.t1[rows] - self.t0[rows]),
                a,
                self.to_xyz[rows] - a,
                self.err_m[rows],
            )
        return self._gathered

    def reset_peak_speed(self) -> None:
        """Start tracking the fastest leg afresh (an index rebuilt now knows the others)."""
        self.peak_speed_mps = 0.0

    def rows(self) -> npt.NDArray[np.intp]:
        """The moving rows, ascending (cached until a leg starts or ends)."""
        if self._rows is None:
            self._rows = np.array(sorted(self.moving), dtype=np.intp)
        return self._rows

    def fraction(self, rows: npt.NDArray[np.intp], now_s: float) -> FloatArray:
        t0 = self.t0[rows]
        out: FloatArray = np.clip((now_s - t0) / (self.t1[rows] - t0), 0.0, 1.0)
        return out

    def position(self, i: int, now_s: float, lat: float, lon: float) -> tuple[float, float]:
        """Where row ``i`` is at ``now_s``; ``lat, lon`` (its last stop) when not moving."""
        if not self.on_leg[i]:
            return lat, lon
        t0 = float(self.t0[i])
        frac = (now_s - t0) / (float(self.t1[i]) - t0)
        return interpolate(
            self.kind,
            float(self.from_lat[i]),
            float(self.from_lon[i]),
            float(self.to_lat[i]),
            float(self.to_lon[i]),
            frac,
        )

    def positions(self, rows: npt.NDArray[np.intp], now_s: float) -> tuple[FloatArray, FloatArray]:
        """Where the moving ``rows`` are at ``now_s``, vectorised."""
        return interpolate_many(
            self.kind,
            self.from_lat[rows],
            self.from_lon[rows],
            self.to_lat[rows],
            self.to_lon[rows],
            self.fraction(rows, now_s),
        )

    def remaining_m(self, rows: npt.NDArray[np.intp], now_s: float) -> FloatArray:
        """Geodesic metres still to drive on each leg (exact on the geodesic: the point is
        that fraction of the way along it)."""
        out: FloatArray = self.length_m[rows] * (1.0 - self.fraction(rows, now_s))
        return out

    def remaining_one_m(self, i: int, now_s: float) -> float:
        if not self.on_leg[i]:
            return 0.0
        t0 = float(self.t0[i])
        frac = min(1.0, max(0.0, (now_s - t0) / (float(self.t1[i]) - t0)))
        return float(self.length_m[i]) * (1.0 - frac)


def refresh_snapshot(
    legs: Legs,
    snap: FleetSnapshot,
    rest_m: FloatArray,
    now_s: float,
    mode: str,
    *,
    index: bool = True,
) -> None:
    """Bring ``snap`` to ``now_s`` for a dispatch decision: for ``load``, each moving
    worker's route is what is left of its leg plus ``rest_m`` (its planned stops after
    the leg); for ``distance``, each moving worker is where it is along its leg.

    A large fleet under ``distance`` (geodesic legs) gets a :class:`MovingNearest` index
    instead: this call only moves its clock, and positions are worked out for the few
    workers a decision looks at (the whole fleet only if something reads all of them).
    ``index = False`` keeps the per-decision update (the benchmark's same-run baseline)."""
    if (
        index
        and mode == "distance"
        and legs.kind == "geodesic"
        and legs.chords
        and len(snap) >= INDEX_MIN_WORKERS
    ):
        idx = snap.motion
        if not isinstance(idx, MovingNearest) or idx.legs is not legs:
            idx = MovingNearest(legs, snap)
            snap.motion = idx
        idx.advance(now_s)
        return
    if not legs.moving:
        return
    rows = legs.rows()
    if mode == "load":
        snap.route_m[rows] = rest_m[rows] + legs.remaining_m(rows, now_s)
    elif legs.kind == "geodesic" and legs.chords:
        # Cheap and vectorised: the point that fraction along each leg's chord, within
        # err_m of the true one; the choice resolves exact positions for its shortlist.
        # The per-leg columns are gathered once per set of legs, not per decision.
        g = legs.gathered()
        f = np.clip((now_s - g.t0) * g.inv_dur, 0.0, 1.0)[:, None]
        xyz = g.start + g.span * f
        fresh = snap.approx_rows is not rows
        snap.set_approx(rows, xyz, g.err, lambda r: legs.positions(r, now_s), fresh)
    else:
        lat, lon = legs.positions(rows, now_s)
        snap.move_many(rows, lat, lon)


def leg_fraction(t0: float, t1: float, now_s: float) -> float:
    """The fraction of a leg from ``t0`` to ``t1`` driven at ``now_s``."""
    if t1 <= t0:
        return 1.0
    return min(1.0, max(0.0, (now_s - t0) / (t1 - t0)))


__all__ = [
    "Interpolation",
    "Legs",
    "interpolate",
    "interpolate_many",
    "interpolation_of",
    "leg_fraction",
    "refresh_snapshot",
]
