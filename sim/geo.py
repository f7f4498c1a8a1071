"""Geography: exact WGS84 geodesics, ECEF coordinates and chord bounds.

Concepts held here:

* ``geodesic_m`` / ``geodesic_many_m`` -- the exact WGS84 geodesic distance.  Both use
  PROJ's ``geod_inverse`` (via :mod:`pyproj`), which is Karney's GeographicLib algorithm
  in C: the same numbers as :mod:`geographiclib` (agreement is checked in the tests to
  well under a micrometre) at about 1 µs a call instead of 45 µs.
* ``ecef`` -- earth-centred coordinates of points on the ellipsoid surface.  The straight
  chord between two surface points bounds the geodesic from both sides
  (``chord <= geodesic <= geodesic_upper_bound(chord)``), which lets nearest-worker
  searches shortlist with cheap vector arithmetic and still return the exact winner.
* ``geodesic_matrix_m`` -- every origin × destination geodesic at once, for travel
  matrices: the chord bounds pin each geodesic to within ``tol_m`` for city-scale pairs
  (the midpoint of the bounds is used), and only pairs where they do not are computed
  exactly.
* sampling helpers for places (uniform in a disk, around hotspots).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]

WGS84_A: Final = 6_378_137.0
WGS84_F: Final = 1 / 298.257223563
WGS84_B: Final = WGS84_A * (1 - WGS84_F)
_E2: Final = WGS84_F * (2 - WGS84_F)
# Smallest radius of curvature of the WGS84 ellipsoid (meridian at the equator, b^2/a).
# No curve on the surface bends more sharply than this, which gives the chord bound.
RHO_MIN_M: Final = WGS84_B * WGS84_B / WGS84_A
_GEOD: Final = Geod(ellps="WGS84")


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Exact WGS84 geodesic distance in metres between two points (degrees)."""
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    return float(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


def geodesic_many_m(
    lat1: FloatArray | float, lon1: FloatArray | float, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Vectorised exact geodesic distances in metres (broadcasts a scalar origin)."""
    lat2 = np.asarray(lat2, dtype=np.float64)
    lon2 = np.asarray(lon2, dtype=np.float64)
    lat1a = np.broadcast_to(np.asarray(lat1, dtype=np.float64), lat2.shape)
    lon1a = np.broadcast_to(np.asarray(lon1, dtype=np.float64), lat2.shape)
    if lat2.size == 0:
        return np.zeros(lat2.shape, dtype=np.float64)
    dist = _GEOD.inv(lon1a, lat1a, lon2, lat2)[2]
    return np.asarray(dist, dtype=np.float64)


def ecef(lat: FloatArray | float, lon: FloatArray | float) -> FloatArray:
    """Earth-centred, earth-fixed coordinates (metres) of surface points; shape (..., 3)."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    sin_phi = np.sin(phi)
    cos_phi = np.cos(phi)
    n = WGS84_A / np.sqrt(1.0 - _E2 * sin_phi * sin_phi)
    x = n * cos_phi * np.cos(lam)
    y = n * cos_phi * np.sin(lam)
    z = n * (1.0 - _E2) * sin_phi
    return np.stack([x, y, z], axis=-1)


def ecef_point(lat: float, lon: float) -> tuple[float, float, float]:
    """:func:`ecef` for one point, in plain floats (a tenth of the cost in hot loops)."""
    phi = math.radians(lat)
    lam = math.radians(lon)
    sin_phi = math.sin(phi)
    cos_phi = math.cos(phi)
    n = WGS84_A / math.sqrt(1.0 - _E2 * sin_phi * sin_phi)
    return (n * cos_phi * math.cos(lam), n * cos_phi * math.sin(lam), n * (1.0 - _E2) * sin_phi)


def geodesic_upper_bound_m(chord_m: float) -> float:
    """An upper bound on the geodesic length between two surface points ``chord_m`` apart.

    The geodesic is no longer than the normal section through both points, a plane curve
    whose curvature never exceeds ``1 / RHO_MIN_M``; by Schur's comparison theorem such a
    curve is no longer than a circular arc of radius ``RHO_MIN_M`` on the same chord.
    (The relative slack is about ``chord^2 / (24 rho^2)``: 1e-7 at 10 km.)
    """
    if chord_m >= 2 * RHO_MIN_M:
        return math.pi * WGS84_A  # half a meridian-ish; anything on earth is shorter
    return 2.0 * RHO_MIN_M * math.asin(chord_m / (2.0 * RHO_MIN_M))


def geodesic_matrix_m(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray, tol_m: float = 0.01
) -> FloatArray:
    """Geodesic distances (m) from every point 1 to every point 2, shape ``(n1, n2)``,
    each within ``tol_m`` of the exact WGS84 geodesic (identical points: exactly 0).

    The chord ``c`` between two surface points bounds the geodesic ``g`` from both sides,
    ``c <= g <= U(c)`` (:func:`geodesic_upper_bound_m`); the midpoint of the bounds is
    within half their gap, about ``c^3 / (48 rho^2)``: under 1 cm up to ~25 km apart.
    Pairs whose gap is wider get the exact geodesic (PROJ, vectorised).  About a
    twentieth of the cost of solving the exact inverse problem for every pair (measured:
    0.15-0.2 s against 3-3.5 s for 1,100 × 1,100 points in a city, on a loaded machine).
    """
    lat1, lon1, lat2, lon2 = (
        np.asarray(x, dtype=np.float64).ravel() for x in (lat1, lon1, lat2, lon2)
    )
    n, m = lat1.size, lat2.size
    if n == 0 or m == 0:
        return np.zeros((n, m))
    a = ecef(lat1, lon1)
    b = ecef(lat2, lon2)
    # Centre both sets first: |a-b|^2 = |a|^2 + |b|^2 - 2 a.b loses precision in
    # proportion to |a|^2, so keep the magnitudes at the size of the area, not the earth.
    origin = (a.sum(axis=0) + b.sum(axis=0)) / (n + m)
    a -= origin
    b -= origin
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    chord = np.sqrt(np.maximum(sq, 0.0))
    ratio = np.minimum(chord / (2.0 * RHO_MIN_M), 1.0)
    upper = 2.0 * RHO_MIN_M * np.arcsin(ratio)
    out: FloatArray = 0.5 * (chord + upper)
    loose = (upper - chord) > 2.0 * tol_m
    if loose.any():
        i, j = np.nonzero(loose)
        out[i, j] = geodesic_many_m(lat1[i], lon1[i], lat2[j], lon2[j])
    same = (lat1[:, None] == lat2[None, :]) & (lon1[:, None] == lon2[None, :])
    out[same] = 0.0
    return out


def validate_lat_lon(lat: float, lon: float) -> str | None:
    """Return a reason when ``(lat, lon)`` is not a valid WGS84 position, else None."""
    if not math.isfinite(lat) or not -90.0 <= lat <= 90.0:
        return f"latitude {lat!r} is outside [-90, 90]"
    if not math.isfinite(lon) or not -180.0 <= lon <= 180.0:
        return f"longitude {lon!r} is outside [-180, 180]"
    return None


def offset_points(
    lat0: float, lon0: float, bearing_deg: FloatArray, distance_m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Points at the given bearings and geodesic distances from an origin (direct problem)."""
    n = np.asarray(distance_m).shape
    lon, lat, _ = _GEOD.fwd(
        np.full(n, lon0, dtype=np.float64),
        np.full(n, lat0, dtype=np.float64),
        np.asarray(bearing_deg, dtype=np.float64),
        np.asarray(distance_m, dtype=np.float64),
    )
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def uniform_in_disk(
    rng: np.random.Generator, lat0: float, lon0: float, radius_m: float, n: int
) -> tuple[FloatArray, FloatArray]:
    """``n`` points uniform (by area, to first order) in a geodesic disk.

    Point ``i`` comes from the ``i``-th pair of draws, so the first ``k`` points are the
    same whatever ``n`` is: adding a worker (or an order) moves none of the others, which
    keeps comparisons between fleet sizes on common random numbers."""
    draws = rng.random((n, 2))  # row i = point i: the prefix does not depend on n
    u = draws[:, 0]
    bearing = draws[:, 1] * 360.0
    dist = radius_m * np.sqrt(u)
    return offset_points(lat0, lon0, bearing, dist)


def around_hotspots(
    rng: np.random.Generator,
    centres: list[tuple[float, float]],
    weights: FloatArray,
    spread_m: FloatArray,
    n: int,
) -> tuple[FloatArray, FloatArray]:
    """``n`` points scattered (circular normal) around weighted hotspots."""
    which = rng.choice(len(centres), size=n, p=weights / weights.sum())
    bearing = rng.random(n) * 360.0
    # Rayleigh radius = circular normal with per-axis sd `spread_m`.
    dist = spread_m[which] * np.sqrt(-2.0 * np.log1p(-rng.random(n)))
    lat = np.empty(n, dtype=np.float64)
    lon = np.empty(n, dtype=np.float64)
    for k, (clat, clon) in enumerate(centres):
        sel = which == k
        if sel.any():
            lat[sel], lon[sel] = offset_points(clat, clon, bearing[sel], dist[sel])
    return lat, lon
