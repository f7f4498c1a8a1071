"""Travel: how long a worker takes between two points, one leg or a whole matrix.

A :class:`TravelModel` answers ``leg(...) -> (distance_m, duration_s)`` for the trip a
worker drives, and ``matrix(...)`` (``matrix_m``/``matrix_s``) for every origin ×
destination pair at once, vectorised, for optimisers and checks.  The models:

* ``geodesic`` (:class:`GeodesicTravel`) -- the exact WGS84 geodesic times a detour factor,
  driven at the vehicle's speed scaled by the hour's multiplier from the vehicle's speed
  profile (the speed at departure holds for the whole leg);
* ``matrix`` (:mod:`sim.matrix`) -- times between H3 cells from a table, by hour;
* ``osrm``, ``valhalla`` (:mod:`sim.osrm`) -- a routing engine's table (matrix) API,
  cached on disk;
* ``none`` (:class:`NoTravel`) -- teleporting workers, for queueing validation.

The cell-based models fall back to the geodesic for pairs they do not know and count the
fallbacks (``fallbacks`` for driven legs, ``matrix_fallbacks`` for matrix pairs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sim.geo import geodesic_m, geodesic_matrix_m
from sim.scenario import Scenario

FloatArray = npt.NDArray[np.float64]
Times = FloatArray | float


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """What a matrix is computed for: the vehicle type (``CAR``...) and its speed."""

    kind: str
    speed_mps: float


class TravelModel(Protocol):
    #: Driven legs the model could not answer itself (geodesic fallbacks).
    fallbacks: int

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
        """Road distance (m) and duration (s) of a trip departing at ``depart_s``."""
        ...

    def matrix(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> tuple[FloatArray, FloatArray]:
        """Distances (m) and durations (s), each ``(len(from), len(to))``; ``at_s`` is the
        departure time, one for all or one per origin."""
        ...

    def matrix_m(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> FloatArray: ...

    def matrix_s(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> FloatArray: ...


class _MatrixParts:
    """``matrix_m``/``matrix_s`` from ``matrix`` (one computation serves both)."""

    def matrix(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    def matrix_m(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> FloatArray:
        return self.matrix(from_lat, from_lon, to_lat, to_lon, at_s, vehicle)[0]

    def matrix_s(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> FloatArray:
        return self.matrix(from_lat, from_lon, to_lat, to_lon, at_s, vehicle)[1]


def _arrays(*xs: FloatArray) -> list[FloatArray]:
    return [np.asarray(x, dtype=np.float64).ravel() for x in xs]


class GeodesicTravel(_MatrixParts):
    """Geodesic × detour factor at the vehicle speed × the hour's multiplier."""

    def __init__(
        self,
        detour_factor: float,
        speed_profile: list[float],
        start_hour_utc: float,
        vehicle_profiles: Mapping[str, list[float]] | None = None,
    ):
        self.detour = detour_factor
        self.profile = speed_profile
        self.start_hour = start_hour_utc
        self.fallbacks = 0
        self.matrix_fallbacks = 0
        #: The plain geodesic (m) of the last :meth:`leg`, before the detour factor: the
        #: model reads it back for the leg's length instead of solving the same geodesic
        #: twice per task.
        self.last_geodesic_m = 0.0
        # Hour -> multiplier, per vehicle type; ``None`` is the fleet-wide profile.
        flat = np.ones(24)
        self._profiles: dict[str | None, FloatArray] = {
            None: np.asarray(speed_profile, dtype=np.float64) if speed_profile else flat
        }
        for kind, prof in (vehicle_profiles or {}).items():
            self._profiles[kind] = np.asarray(prof, dtype=np.float64) if prof else flat
        # The same as plain lists: a leg reads one multiplier, cheaper from a list.
        self._lists = {k: [float(x) for x in v] for k, v in self._profiles.items()}

    def hour_of(self, t_s: float) -> int:
        """The hour of day (0..23, in the start's offset) at ``t_s`` from the start."""
        return math.floor(self.start_hour + t_s / 3600.0) % 24

    def hours_of(self, t_s: FloatArray) -> npt.NDArray[np.int64]:
        return np.floor(self.start_hour + np.asarray(t_s) / 3600.0).astype(np.int64) % 24

    def profile_of(self, vehicle: str | None) -> FloatArray:
        prof = self._profiles.get(vehicle)
        return self._profiles[None] if prof is None else prof

    def speed_factor(self, t_s: float, vehicle: str | None = None) -> float:
        prof = self._lists.get(vehicle) or self._lists[None]
        return prof[math.floor(self.start_hour + t_s / 3600.0) % 24]

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
        geo = self.last_geodesic_m = geodesic_m(lat1, lon1, lat2, lon2)
        dist = geo * self.detour
        return dist, dist / (speed_mps * self.speed_factor(depart_s, vehicle))

    def matrix(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> tuple[FloatArray, FloatArray]:
        flat, flon, tlat, tlon = _arrays(from_lat, from_lon, to_lat, to_lon)
        n = flat.size
        # Every pair at once, within 1 cm of the exact geodesic (never pair by pair).
        dist = geodesic_matrix_m(flat, flon, tlat, tlon) * self.detour
        factor = self.profile_of(vehicle.kind)[self.hours_of(np.broadcast_to(at_s, (n,)))]
        return dist, dist / (vehicle.speed_mps * factor)[:, None]


class NoTravel(_MatrixParts):
    """Teleporting workers: zero distance, zero time (queueing-model validation)."""

    fallbacks = 0

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
        return 0.0, 0.0

    def matrix(
        self,
        from_lat: FloatArray,
        from_lon: FloatArray,
        to_lat: FloatArray,
        to_lon: FloatArray,
        at_s: Times,
        vehicle: VehicleSpec,
    ) -> tuple[FloatArray, FloatArray]:
        zero = np.zeros((np.size(from_lat), np.size(to_lat)))
        return zero, zero.copy()


def geodesic_travel(scenario: Scenario) -> GeodesicTravel:
    t = scenario.travel
    start = scenario.scenario.start
    start_hour = start.hour + start.minute / 60 + start.second / 3600
    return GeodesicTravel(
        t.detour_factor,
        list(t.speed_profile),
        start_hour,
        {str(k): list(v) for k, v in t.vehicle_profiles.items()},
    )


def travel_model(scenario: Scenario, network: bool = True) -> TravelModel:
    """The scenario's travel model.  ``network=False`` (scenario checks) never calls a
    routing engine: ``osrm`` and ``valhalla`` answer with their geodesic fallback instead."""
    t = scenario.travel
    if t.model == "none":
        return NoTravel()
    geo = geodesic_travel(scenario)
    if t.model == "matrix":
        from sim.matrix import MatrixTravel, read_matrix

        assert t.matrix is not None
        table = read_matrix(scenario.path(t.matrix), t.h3_resolution)
        return MatrixTravel(table, geo, frozenset(t.matrix_vehicles))
    if t.model in ("osrm", "valhalla") and network:
        from sim.osrm import EngineTravel

        return EngineTravel.from_scenario(scenario, geo)
    return geo
