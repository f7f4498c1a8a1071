"""Scenario checks: things a valid scenario may say that are legal but probably wrong.

Concepts held here: the :class:`ScenarioWarning` record (field path, value, what is
probably wrong, the suggested fix), one small pure function per check over a validated
:class:`~sim.scenario.Scenario`, and :func:`check_scenario`, which runs them all in a
fixed order.  Errors (what cannot run at all) stay in :mod:`sim.scenario` and
:mod:`sim.scenario_io`; a warning never stops a run.

The checks read the scenario's own models rather than rules of thumb: places come from
:func:`sim.demand.sample_places`, trips from :func:`sim.travel.travel_model`, order sizes
and task counts from the order kinds of :mod:`sim.demand`, and capacity from how
:mod:`sim.dispatchers` counts a unit's quantity.  Sampling uses a fixed seed, so the same
scenario always gives the same warnings, whatever the run's seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.demand import (
    DROPOFF,
    MANY_TO_MANY,
    MANY_TO_ONE,
    ONE_TO_MANY,
    PICKUP_DROPOFF,
    sample_places,
)
from sim.geo import geodesic_m
from sim.scenario import Scenario
from sim.travel import travel_model

KIND_NAMES: tuple[str, ...] = (
    "dropoff",
    "pickup_dropoff",
    "single_pickup_multi_dropoff",
    "multi_pickup_single_dropoff",
    "multi_pickup_multi_dropoff",
)
#: Trips sampled for the typical travel time: the median of 2,001 draws is within about
#: ±3% of the true median (its standard error is ~1.25/sqrt(n) of the spread).
TRIP_SAMPLES = 2001
#: A batch "can never fill" when even the mean plus this many standard deviations of the
#: tasks arriving in one flush interval stays below ``batch_size``: for the near-normal
#: count that is a chance of about 3 in 100,000 per interval.
FILL_SIGMAS = 4.0
#: The checks' own random stream: fixed, so warnings do not depend on ``--seed``.
_CHECK_SEED = 20260105


@dataclass(frozen=True, slots=True)
class ScenarioWarning:
    """One legal-but-probably-wrong setting: where, what it is, why it is suspect, the fix."""

    path: str
    value: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path} = {self.value}: {self.problem}; {self.fix}"


def _num(x: float) -> str:
    return f"{x:g}"


def _point(lat: float, lon: float) -> str:
    return f"[{lat:g}, {lon:g}]"


def check_places_in_region(sc: Scenario) -> list[ScenarioWarning]:
    """Hotspots and hubs in use whose centre lies outside the region's disk (typically
    left behind when ``region.center`` moved)."""
    lat0, lon0 = sc.region.center
    radius = sc.region.radius_m
    points: list[tuple[str, float, float]] = []
    if sc.demand.source == "generate":
        for side in ("pickups", "dropoffs"):
            places = getattr(sc.demand, side)
            if places.kind == "hotspots":
                for i, h in enumerate(places.hotspots):
                    points.append((f"demand.{side}.hotspots.{i}", h.lat, h.lon))
    if sc.fleet.start == "hubs":
        points.extend((f"fleet.hubs.{i}", lat, lon) for i, (lat, lon) in enumerate(sc.fleet.hubs))
    out = []
    for path, lat, lon in points:
        dist = geodesic_m(lat0, lon0, lat, lon)
        if dist > radius:
            out.append(
                ScenarioWarning(
                    path,
                    _point(lat, lon),
                    f"{dist / 1000:.1f} km from region.center {_point(lat0, lon0)}, outside "
                    f"region.radius_m = {_num(radius)}",
                    "move it inside the region, or set region.center / region.radius_m to cover it",
                )
            )
    return out


def check_rate_ignored(sc: Scenario) -> list[ScenarioWarning]:
    """``demand.rate_per_h`` written while something else decides the order rate."""
    d = sc.demand
    if "rate_per_h" not in d.model_fields_set:
        return []
    if d.source == "csv":
        return [
            ScenarioWarning(
                "demand.rate_per_h",
                _num(d.rate_per_h),
                "ignored: with demand.source = 'csv' the orders come from the CSV",
                "remove demand.rate_per_h",
            )
        ]
    if d.rate_profile_per_h:
        return [
            ScenarioWarning(
                "demand.rate_per_h",
                _num(d.rate_per_h),
                "ignored: demand.rate_profile_per_h sets the rate of every hour",
                "remove demand.rate_per_h, or remove the profile to use a constant rate",
            )
        ]
    return []


def _kinds(sc: Scenario) -> list[int]:
    return [k for k, w in enumerate(sc.demand.mix.weights()) if w > 0]


def _has_pickups(kind: int) -> bool:
    return kind != DROPOFF


def _dropoffs(kind: int, stops: int) -> int:
    """Dropoffs of an order of ``kind`` whose "many" side has ``stops`` stops."""
    return 1 if kind in (DROPOFF, PICKUP_DROPOFF, MANY_TO_ONE) else stops


def _tasks(kind: int, stops: int) -> int:
    """Tasks (pickups + dropoffs) of an order, as :func:`sim.demand.generate_orders` builds it."""
    if kind == DROPOFF:
        return 1
    if kind == PICKUP_DROPOFF:
        return 2
    if kind in (ONE_TO_MANY, MANY_TO_ONE):
        return 1 + stops
    assert kind == MANY_TO_MANY
    return 2 * stops


def typical_trip_s(sc: Scenario) -> float:
    """The median duration of the trip an order needs, by the scenario's own models.

    For an order with pickups that is pickup → dropoff; for a dropoff-only order, the
    previous customer → this one.  Kinds are drawn by ``demand.mix``, places as the run
    draws them, departures uniformly over ``[0, duration_h)`` so a speed profile counts.
    """
    rng = np.random.default_rng(_CHECK_SEED)
    d = sc.demand
    n = TRIP_SAMPLES
    w = np.asarray(d.mix.weights())
    kinds = rng.choice(len(w), size=n, p=w / w.sum())
    plat, plon = sample_places(rng, d.pickups, sc, n)
    alat, alon = sample_places(rng, d.dropoffs, sc, n)
    blat, blon = sample_places(rng, d.dropoffs, sc, n)
    depart = rng.uniform(0.0, sc.scenario.duration_h * 3600.0, n)
    model = travel_model(sc, network=False)  # checks never call a routing engine
    speed = sc.fleet.speed_mps
    trips = np.empty(n)
    for i in range(n):
        picks = _has_pickups(int(kinds[i]))
        lat1, lon1 = (plat[i], plon[i]) if picks else (alat[i], alon[i])
        _, trips[i] = model.leg(
            float(lat1), float(lon1), float(blat[i]), float(blon[i]), float(depart[i]), speed
        )
    return float(np.median(trips))


def check_window_vs_travel(sc: Scenario) -> list[ScenarioWarning]:
    """A delivery window shorter than the typical trip: most orders will be late."""
    d = sc.demand
    w = d.window
    if d.source != "generate" or w.complete_before_min is None or sc.travel.model == "none":
        return []
    # A dropoff can be made from complete_after on at the earliest (its pickup waits
    # for it), so that is the time left for the trip.
    window_min = w.complete_before_min - (w.complete_after_min or 0.0)
    trip_min = typical_trip_s(sc) / 60.0
    if window_min >= trip_min:
        return []
    after = (
        f" after complete_after_min = {_num(w.complete_after_min)}" if w.complete_after_min else ""
    )
    return [
        ScenarioWarning(
            "demand.window.complete_before_min",
            _num(w.complete_before_min),
            f"leaves {window_min:.1f} min{after}, but the typical trip takes "
            f"{trip_min:.1f} min (the median between this scenario's places at "
            f"{_num(sc.fleet.speed_mps * 3.6)} km/h), so most orders will be late",
            f"raise complete_before_min to at least "
            f"{math.ceil(trip_min + (w.complete_after_min or 0.0))}, or bring the places "
            "closer together, or speed the fleet up",
        )
    ]


def unit_sizes(sc: Scenario) -> list[tuple[str, float, float]]:
    """(what, smallest, largest quantity it puts on a vehicle) per kind of dispatch unit.

    As :func:`sim.dispatchers.unit_quantity` counts it: dropoffs carry ``demand.quantity``
    each, pickups free space again; with ``dispatch.consider_dependencies`` an order
    travels as one unit, else task by task.  A CSV order has one dropoff.
    """
    d = sc.demand
    q = d.quantity
    if d.source == "csv" or not sc.dispatch.consider_dependencies:
        return [("a dropoff", q, q)]
    return [
        (
            f"an order of kind {KIND_NAMES[k]}",
            _dropoffs(k, d.stops_min) * q,
            _dropoffs(k, d.stops_max) * q,
        )
        for k in _kinds(sc)
    ]


def check_capacity(sc: Scenario) -> list[ScenarioWarning]:
    """A vehicle that cannot carry a whole order: ``distance`` and ``load`` never assign
    it (the ``queue`` policy ignores capacity, ``none`` assigns nothing)."""
    if sc.dispatch.policy not in ("distance", "load"):
        return []
    cap = sc.fleet.capacity
    sizes = unit_sizes(sc)
    what, _, need = max(sizes, key=lambda s: s[2])
    if need <= cap:
        return []
    per = f"demand.quantity = {_num(sc.demand.quantity)} per dropoff"
    if min(s[1] for s in sizes) > cap:
        problem = (
            f"no order fits in a vehicle (the smallest needs {_num(min(s[1] for s in sizes))}"
            f" units at {per}), so no task is ever assigned"
        )
    else:
        problem = (
            f"{what} can need {_num(need)} units ({per}), more than a vehicle holds, so "
            f"{sc.dispatch.policy} dispatch never assigns it"
        )
    return [
        ScenarioWarning(
            "fleet.capacity",
            _num(cap),
            problem,
            f"raise fleet.capacity to at least {_num(need)}, or lower demand.quantity"
            + (" or demand.stops_max" if need > sc.demand.quantity else ""),
        )
    ]


def tasks_per_order_moments(sc: Scenario) -> tuple[float, float]:
    """E[tasks] and E[tasks²] of one generated order (kinds by mix, sizes uniform)."""
    d = sc.demand
    w = np.asarray(d.mix.weights())
    p = w / w.sum()
    sizes = range(d.stops_min, d.stops_max + 1)
    m1 = m2 = 0.0
    for kind in range(len(p)):
        for s in sizes:
            x = _tasks(kind, s)
            m1 += float(p[kind]) * x / len(sizes)
            m2 += float(p[kind]) * x * x / len(sizes)
    return m1, m2


def check_batch_fill(sc: Scenario) -> list[ScenarioWarning]:
    """Batches that the ``flush_s`` timer always sends before they reach ``batch_size``."""
    sub, d = sc.submission, sc.demand
    if sub.mode == "single" or d.source != "generate":
        return []
    peak_per_h = max(d.rate_profile_per_h) if d.rate_profile_per_h else d.rate_per_h
    orders = peak_per_h * sub.flush_s / 3600.0  # Poisson mean per flush interval
    m1, m2 = tasks_per_order_moments(sc)
    # Tasks per interval are a compound Poisson sum: mean λ·E[X], variance λ·E[X²].
    mean, sd = orders * m1, math.sqrt(orders * m2)
    if mean + FILL_SIGMAS * sd >= sub.batch_size:
        return []
    fill_s = sub.batch_size / (peak_per_h * m1 / 3600.0) if peak_per_h > 0 else math.inf
    raise_flush = f"raise flush_s to about {round(fill_s)}" if fill_s < math.inf else ""
    return [
        ScenarioWarning(
            "submission.batch_size",
            str(sub.batch_size),
            f"at the peak of {_num(peak_per_h)} orders/h about {mean:.1f} tasks arrive per "
            f"flush_s = {_num(sub.flush_s)} s (hardly ever over "
            f"{math.ceil(mean + FILL_SIGMAS * sd)}), so no batch fills and every one is "
            "sent by the timer",
            f"lower batch_size to the batch you expect (about {max(1, round(mean))})"
            + (f", or {raise_flush}" if raise_flush else ""),
        )
    ]


#: Every check, in the order their warnings are printed.
CHECKS: tuple[Callable[[Scenario], list[ScenarioWarning]], ...] = (
    check_places_in_region,
    check_rate_ignored,
    check_window_vs_travel,
    check_capacity,
    check_batch_fill,
)


def check_scenario(sc: Scenario) -> list[ScenarioWarning]:
    """All warnings for a validated scenario (empty when nothing looks wrong)."""
    return [w for check in CHECKS for w in check(sc)]
