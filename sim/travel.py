"""Travel: how long a worker takes between two points.

A :class:`TravelModel` answers ``leg(...) -> (distance_m, duration_s)``.  The default is
the exact WGS84 geodesic times a detour factor, driven at the vehicle's speed scaled by a
time-of-day profile (the speed at departure holds for the whole leg).  A travel-time
matrix or a routing engine can replace it by implementing the same protocol.
"""

from __future__ import annotations

import math
from typing import Protocol

from sim.geo import geodesic_m
from sim.scenario import Scenario


class TravelModel(Protocol):
    def leg(
        self,
        lat1: float,
        lon1: float,
        lat2: float,
        lon2: float,
        depart_s: float,
        speed_mps: float,
    ) -> tuple[float, float]:
        """Road distance (m) and duration (s) of a trip departing at ``depart_s``."""
        ...


class GeodesicTravel:
    """Geodesic × detour factor at the vehicle speed × the hour's multiplier."""

    def __init__(self, detour_factor: float, speed_profile: list[float], start_hour_utc: float):
        self.detour = detour_factor
        self.profile = speed_profile
        self.start_hour = start_hour_utc

    def speed_factor(self, t_s: float) -> float:
        if not self.profile:
            return 1.0
        hour = math.floor(self.start_hour + t_s / 3600.0) % 24
        return self.profile[hour]

    def leg(
        self,
        lat1: float,
        lon1: float,
        lat2: float,
        lon2: float,
        depart_s: float,
        speed_mps: float,
    ) -> tuple[float, float]:
        dist = geodesic_m(lat1, lon1, lat2, lon2) * self.detour
        return dist, dist / (speed_mps * self.speed_factor(depart_s))


class NoTravel:
    """Teleporting workers: zero distance, zero time (queueing-model validation)."""

    def leg(
        self,
        lat1: float,
        lon1: float,
        lat2: float,
        lon2: float,
        depart_s: float,
        speed_mps: float,
    ) -> tuple[float, float]:
        return 0.0, 0.0


def travel_model(scenario: Scenario) -> TravelModel:
    t = scenario.travel
    if t.model == "none":
        return NoTravel()
    start = scenario.scenario.start
    start_hour = start.hour + start.minute / 60 + start.second / 3600
    return GeodesicTravel(t.detour_factor, list(t.speed_profile), start_hour)
