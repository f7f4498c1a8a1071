"""Route optimisation: the vehicle-routing problem the ``optimise`` policy solves, via VROOM.

Concepts held here, all pure (no SimPy):

* :class:`Stop`, :class:`Item`, :class:`Vehicle` and :class:`Problem` -- the problem in the
  simulator's terms: tasks to route (alone, as pickup→dropoff shipments, or pinned to the
  worker that has their goods on board) and the on-duty workers where they will next be
  free, with capacity, shift end, breaks and a task limit.
* :func:`travel_matrix_s` / :func:`distance_matrix_m` -- the solver's matrices from the
  scenario's travel model, vectorised over every pair at once (never pair by pair).
* :func:`solve` -- VROOM (``pyvroom``) on the problem cut into small parts
  (:mod:`sim.vrp_split`), two at a time, each at a fixed search size, so a solve ends by
  its own work and the answer is a pure function of the problem; the time limit guards
  each VROOM call (a cut search is run again to its end).  Returns each worker's new
  sequence of task ids and the tasks left out.
* :func:`route_cost_s` -- the duration of a given sequence under the same matrix (tests and
  the ``sequence = "optimise"`` option compare routes with it).

Times handed to VROOM are whole seconds relative to the solve's ``now``; quantities are
scaled to integers (VROOM's amounts are integers), as little as possible.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import vroom  # type: ignore[import-untyped]

from sim.geo import WGS84_A, WGS84_B, FloatArray, ecef
from sim.travel import VehicleSpec

#: Quantities are sent to VROOM as integers: whole units when every quantity is whole,
#: else the first of these scales that makes them so (tenths, hundredths, thousandths).
#: The smallest scale matters: VROOM's search slows down badly with large amounts.
AMOUNT_SCALES = (1, 10, 100, 1000)
#: A skill id per worker, for tasks pinned to the worker that holds their goods.
PIN_SKILL_BASE = 1_000_000
#: Horizon (s) standing in for "no end" in VROOM time windows.
OPEN_END_S = 10 * 24 * 3600
#: Parts of a split problem solved side by side (VROOM releases the GIL while it searches).
SOLVER_THREADS = 2
#: A search the time limit cut is run again with this many times the limit, and at least
#: RERUN_MIN_S (see :func:`_solve_guarded`).
RERUN_LIMIT_FACTOR = 30
RERUN_MIN_S = 30.0
# Mean earth radius for the chord → arc correction (see :func:`distance_matrix_m`).
_R_MEAN = (2 * WGS84_A + WGS84_B) / 3


@dataclass(frozen=True, slots=True)
class Stop:
    """One task as the solver sees it (times in seconds from the scenario start; NaN = none)."""

    task_id: int
    lat: float
    lon: float
    service_s: float
    after_s: float = math.nan
    before_s: float = math.nan
    is_pickup: bool = False
    quantity: float = 0.0


@dataclass(frozen=True, slots=True)
class Item:
    """What the solver places: a job (``delivery`` empty) or a shipment (pickup → delivery).

    Each part is one or more stops served in the given order at one visit (a family with
    several pickups or dropoffs is routed as one compound pickup and one compound delivery,
    located at its first stop).  ``pinned_to`` keeps the item on that worker (its goods are
    on board); ``load`` says whether a lone job's quantity is carried from the start.
    """

    pickup: tuple[Stop, ...]
    delivery: tuple[Stop, ...] = ()
    pinned_to: int | None = None
    load: bool = True

    @property
    def is_shipment(self) -> bool:
        return bool(self.delivery)

    def task_ids(self) -> list[int]:
        return [s.task_id for s in self.pickup + self.delivery]


@dataclass(frozen=True, slots=True)
class BreakWindow:
    """A break a worker must take: start between ``earliest_s`` and ``latest_s``, lasting
    ``duration_s`` (seconds from the scenario start).  The fleet's rosters provide them."""

    earliest_s: float
    latest_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Vehicle:
    """An on-duty worker: where and when it is next free, and what limits its route."""

    id: int
    lat: float
    lon: float
    free_at_s: float
    shift_end_s: float
    speed_mps: float
    capacity: float
    max_tasks: int | None = None
    breaks: tuple[BreakWindow, ...] = ()
    end: tuple[float, float] | None = None
    #: The vehicle type (``CAR``...): travel models may profile it (bicycles and traffic).
    kind: str = "CAR"


@dataclass(slots=True)
class Problem:
    """A routing problem at time ``now_s``; ``travel`` is the scenario's travel model."""

    now_s: float
    vehicles: list[Vehicle]
    items: list[Item]
    travel: Any
    #: Wall-clock guard on each VROOM call (s): never what ends a search (see :func:`solve`).
    time_limit_s: float = 1.0
    #: VROOM's search size for each part: how many searches (from different start
    #: heuristics) and the local search's depth.
    searches: int = 1
    depth: int = 1


@dataclass(slots=True)
class Solution:
    """Each vehicle's task ids in order, and the tasks no vehicle took."""

    routes: dict[int, list[int]] = field(default_factory=dict)
    unassigned: list[int] = field(default_factory=list)
    solve_s: float = 0.0
    #: VROOM calls the time limit cut short: their answers were thrown away and the
    #: search run again to its end (slower than planned, same routes).
    limit_hits: int = 0
    #: Of those, searches cut again on their re-run (at :data:`RERUN_LIMIT_FACTOR` x the
    #: limit): their answers were kept, so they may differ on another machine.
    cut_kept: int = 0
    #: When each vehicle's planned breaks start (s from the scenario start).
    breaks: dict[int, list[float]] = field(default_factory=dict)


# -- matrices ----------------------------------------------------------------------------
def distance_matrix_m(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """Surface distance (m) between every pair of points, vectorised.

    The ECEF chord is exact for points on the ellipsoid; the arc over it is
    ``2 R asin(c / 2R)``.  For city-scale legs the arc correction itself is below 1e-7 of
    the distance at 10 km, so the radius chosen (the mean) changes the result by far less
    than the solver's whole-second rounding; the tests check agreement with the exact
    geodesic.
    """
    xyz = ecef(lat, lon).reshape(-1, 3)
    sq = np.einsum("ij,ij->i", xyz, xyz)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (xyz @ xyz.T)
    np.maximum(d2, 0.0, out=d2)
    chord = np.sqrt(d2)
    arc: FloatArray = 2.0 * _R_MEAN * np.arcsin(np.minimum(chord / (2.0 * _R_MEAN), 1.0))
    np.fill_diagonal(arc, 0.0)
    return arc


def travel_matrix_s(
    travel: Any,
    lat: FloatArray,
    lon: FloatArray,
    depart_s: float,
    speed_mps: float,
    kind: str = "CAR",
) -> FloatArray:
    """Travel time (s) between every pair of points under the scenario's travel model.

    The one place the solver asks the travel model: a model with the vectorised
    ``matrix_s(from_lat, from_lon, to_lat, to_lon, at_s, VehicleSpec)`` of
    :mod:`sim.travel` answers itself (geodesic, H3 matrix, routing engine); otherwise it is
    geodesic × detour at the vehicle speed × the hour's multiplier at ``depart_s`` (as the
    model's ``leg`` does); teleporting (``none``) is zero.
    """
    own = getattr(travel, "matrix_s", None)
    if own is not None:
        vehicle = VehicleSpec(kind, speed_mps)
        # A solve's parts run on threads, and a travel model is a single-threaded object
        # (a routing engine's on-disk cache, fallback counters): one call at a time.
        with _TRAVEL_LOCK:
            raw = own(lat, lon, lat, lon, depart_s, vehicle)
        out: FloatArray = np.asarray(raw, dtype=np.float64)
        return out
    n = len(lat)
    if not hasattr(travel, "detour"):
        return np.zeros((n, n), dtype=np.float64)
    factor = float(travel.speed_factor(depart_s))
    dist = distance_matrix_m(lat, lon)
    res: FloatArray = dist * (float(travel.detour) / (speed_mps * factor))
    return res


_TRAVEL_LOCK = threading.Lock()


def _as_int_matrix(m: FloatArray) -> npt.NDArray[np.uint32]:
    return np.minimum(np.rint(m), 2**31).astype(np.uint32)


# -- building the VROOM input --------------------------------------------------------------
def _rel(t_s: float, now_s: float) -> int:
    return max(0, math.ceil(t_s - now_s))


def _part_timing(
    stops: tuple[Stop, ...], leg_s: FloatArray, now_s: float
) -> tuple[int, tuple[int, int] | None]:
    """A part's service (its stops' services plus the legs between them) and its window
    for the start of service, or None when it has none (or can no longer be met: a task
    already late is still served, as soon as it can be)."""
    service = sum(s.service_s for s in stops) + float(leg_s.sum())
    after = max((s.after_s for s in stops if not math.isnan(s.after_s)), default=math.nan)
    befores = [s.before_s for s in stops if not math.isnan(s.before_s)]
    start = 0 if math.isnan(after) else _rel(after, now_s)
    if not befores:
        return round(service), (None if start == 0 else (start, OPEN_END_S))
    end = math.floor(min(befores) - now_s - service)
    if end < start:
        return round(service), (None if start == 0 else (start, OPEN_END_S))
    return round(service), (start, end)


def _until(t_s: float, now_s: float) -> int:
    return max(0, math.floor(t_s - now_s))


def _tws(tw: tuple[int, int] | None) -> list[tuple[int, int]]:
    return [tw] if tw is not None else []


def amount_scale(quantities: Iterable[float]) -> int:
    """The smallest of :data:`AMOUNT_SCALES` that makes every quantity whole."""
    qs = [q for q in quantities if math.isfinite(q)]
    for scale in AMOUNT_SCALES:
        if all(abs(q * scale - round(q * scale)) < 1e-9 for q in qs):
            return scale
    return AMOUNT_SCALES[-1]


def _capacity(q: float, scale: int) -> int:
    return min(2**40, max(0, math.floor(q * scale + 1e-9))) if math.isfinite(q) else 2**40


def solve(problem: Problem) -> Solution:
    """Solve ``problem`` with VROOM; the answer is a pure function of the problem.

    A large problem is cut into parts (:func:`sim.vrp_split.split`) solved independently,
    :data:`SOLVER_THREADS` at a time; each part's search is bounded by its size (never by
    the clock).  The time limit is a guard on each VROOM call: a search it cuts short is
    thrown away (its answer would depend on the machine's speed) and run again to its end
    (:func:`_solve_guarded`); :attr:`Solution.limit_hits` counts them.
    Tasks a part leaves out are offered once more to the vehicles no part gave a route.
    """
    from sim.vrp_split import split

    t0 = time.perf_counter()
    parts = split(problem)
    if len(parts) == 1:
        sol = _solve_guarded(problem)
    else:
        with ThreadPoolExecutor(SOLVER_THREADS) as pool:
            sol = _merge(list(pool.map(_solve_guarded, parts)))
        sol = _retry_left_out(problem, sol)
    sol.solve_s = time.perf_counter() - t0
    return sol


def _merge(sols: list[Solution]) -> Solution:
    out = Solution()
    for s in sols:
        out.routes.update(s.routes)
        out.breaks.update(s.breaks)
        out.unassigned.extend(s.unassigned)
        out.limit_hits += s.limit_hits
        out.cut_kept += s.cut_kept
    return out


def _retry_left_out(problem: Problem, sol: Solution) -> Solution:
    """Offer what the parts left out to the vehicles that no part gave a route (a part
    may run out of vehicles, capacity or time while its neighbour has some to spare)."""
    if not sol.unassigned:
        return sol
    left = set(sol.unassigned)
    idle = [v for v in problem.vehicles if v.id not in sol.routes]
    items = [it for it in problem.items if left.issuperset(it.task_ids())]
    # Only ever fewer vehicles than before, so this ends.
    if not idle or not items or len(idle) == len(problem.vehicles):
        return sol
    again = solve(replace(problem, vehicles=idle, items=items))
    placed = {tid for r in again.routes.values() for tid in r}
    sol.routes.update(again.routes)
    sol.breaks.update(again.breaks)
    sol.unassigned = [tid for tid in sol.unassigned if tid not in placed]
    sol.limit_hits += again.limit_hits
    sol.cut_kept += again.cut_kept
    return sol


def _solve_guarded(problem: Problem) -> Solution:
    """One VROOM solve at the problem's search size; when the time limit cuts it short,
    the same search again with no limit.

    The cut answer depends on how far the search got, i.e. on the machine and its load;
    the search run to its end does not, so the routes are the same on a quiet machine and
    a loaded one.  The search size is what bounds the work (parts are small); the limit
    only tells a slow machine (:attr:`Solution.limit_hits`).  The re-run has a limit of
    its own (:data:`RERUN_LIMIT_FACTOR` x the limit, at least :data:`RERUN_MIN_S`) for the
    parts no cut can make small; an answer it cuts is kept (:attr:`Solution.cut_kept`)."""
    limit = problem.time_limit_s
    sol = _solve_once(problem, problem.searches, problem.depth, limit)
    if sol.limit_hits:
        # Run to its end, but not forever: a part that cannot be cut (one vehicle with
        # hundreds of tasks) can take minutes.  Past the re-run's own limit the cut answer
        # is kept and counted, and the run says its outputs may not repeat.
        rerun_s = max(RERUN_MIN_S, limit * RERUN_LIMIT_FACTOR)
        again = _solve_once(problem, problem.searches, problem.depth, rerun_s)
        again.cut_kept = again.limit_hits
        again.limit_hits = 1
        return again
    return sol


def _solve_once(problem: Problem, searches: int, depth: int, limit_s: float | None) -> Solution:
    """VROOM on the whole of ``problem`` with the given search size and time limit."""
    items = problem.items
    vehicles = problem.vehicles
    sol = Solution()
    if not vehicles:
        sol.unassigned = [tid for it in items for tid in it.task_ids()]
        return sol
    # Locations: vehicle starts, vehicle ends, then each part's first stop.
    lat: list[float] = []
    lon: list[float] = []
    for v in vehicles:
        lat.append(v.lat)
        lon.append(v.lon)
    end_index: dict[int, int] = {}
    for v in vehicles:
        if v.end is not None:
            end_index[v.id] = len(lat)
            lat.append(v.end[0])
            lon.append(v.end[1])
    part_loc: list[int] = []
    for it in items:
        for part in (it.pickup, it.delivery):
            if part:
                part_loc.append(len(lat))
                lat.append(part[0].lat)
                lon.append(part[0].lon)
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    speeds = sorted({(v.speed_mps, v.kind) for v in vehicles})
    profiles = {s: f"p{k}" for k, s in enumerate(speeds)}
    matrices = {
        s: travel_matrix_s(problem.travel, lat_a, lon_a, problem.now_s, s[0], s[1]) for s in speeds
    }
    inp = vroom.Input()
    for s in speeds:
        inp.set_durations_matrix(profiles[s], _as_int_matrix(matrices[s]))
    ref = matrices[speeds[0]]  # intra-part legs of compound stops, at the slowest speed
    pinned = any(it.pinned_to is not None for it in items)
    scale = amount_scale(s.quantity for it in items for s in it.pickup + it.delivery)
    vroom_vehicles = []
    for row, v in enumerate(vehicles):
        start = _rel(v.free_at_s, problem.now_s)
        end = max(start, math.floor(min(v.shift_end_s - problem.now_s, OPEN_END_S)))
        breaks = []
        for k, b in enumerate(v.breaks):
            if b.latest_s < problem.now_s:
                continue
            # Not before the worker is free (the task in hand comes first, as sim.fleet
            # does it), and a break that cannot end within the shift is not planned.
            lo = max(_rel(b.earliest_s, problem.now_s), start)
            hi = max(lo, math.floor(b.latest_s - problem.now_s))
            if lo + round(b.duration_s) > end:
                continue
            breaks.append(vroom.Break(k, time_windows=[(lo, hi)], service=round(b.duration_s)))
        vroom_vehicles.append(
            vroom.Vehicle(
                v.id,
                start=row,
                end=end_index.get(v.id),
                profile=profiles[(v.speed_mps, v.kind)],
                capacity=vroom.Amount([_capacity(v.capacity, scale)]),
                skills={PIN_SKILL_BASE + v.id} if pinned else None,
                time_window=(start, end),
                breaks=breaks,
                **({} if v.max_tasks is None else {"max_tasks": v.max_tasks}),
            )
        )
    inp.add_vehicle(vroom_vehicles)
    parts: dict[int, tuple[Stop, ...]] = {}
    jobs = []
    k = 0
    for i, it in enumerate(items):
        skills = None if it.pinned_to is None else {PIN_SKILL_BASE + it.pinned_to}
        qty = sum(s.quantity for s in it.delivery or it.pickup if not s.is_pickup)
        pid = 2 * i
        p_loc = part_loc[k]
        k += 1
        p_legs = _intra_legs(ref, it.pickup, lat_a, lon_a, problem)
        p_service, p_tw = _part_timing(it.pickup, p_legs, problem.now_s)
        parts[pid] = it.pickup
        if it.is_shipment:
            did = pid + 1
            d_loc = part_loc[k]
            k += 1
            d_legs = _intra_legs(ref, it.delivery, lat_a, lon_a, problem)
            d_service, d_tw = _part_timing(it.delivery, d_legs, problem.now_s)
            parts[did] = it.delivery
            inp.add_shipment(
                vroom.ShipmentStep(
                    pid,
                    location=p_loc,
                    default_service=p_service,
                    time_windows=_tws(p_tw),
                ),
                vroom.ShipmentStep(
                    did,
                    location=d_loc,
                    default_service=d_service,
                    time_windows=[d_tw] if d_tw else (),
                ),
                amount=vroom.Amount([round(qty * scale)]),
                skills=skills,
            )
        else:
            delivery = vroom.Amount([round(qty * scale) if it.load else 0])
            jobs.append(
                vroom.Job(
                    pid,
                    location=p_loc,
                    default_service=p_service,
                    delivery=delivery,
                    pickup=vroom.Amount([0]),
                    skills=skills,
                    time_windows=_tws(p_tw),
                )
            )
    if jobs:
        inp.add_job(jobs)
    # VROOM's own overload with the search size given directly (``solve`` only takes an
    # exploration level); one thread, as the parts already run side by side.
    t_search = time.perf_counter()
    raw = inp._solve(
        nb_searches=searches,
        depth=depth,
        nb_threads=1,
        timeout=None if limit_s is None else timedelta(seconds=limit_s),
    )
    rows = raw._routes_numpy()
    sol.limit_hits = int(limit_s is not None and time.perf_counter() - t_search >= limit_s)
    seen: set[int] = set()
    for vid in (v.id for v in vehicles):
        sol.routes[vid] = []
    for row in rows:
        kind = row["type"]
        if kind == b"break":
            at = problem.now_s + float(row["arrival"]) + float(row["waiting_time"])
            sol.breaks.setdefault(int(row["vehicle_id"]), []).append(at)
        elif kind in (b"job", b"pickup", b"delivery"):
            pid = int(row["id"])
            seen.add(pid)
            sol.routes[int(row["vehicle_id"])].extend(s.task_id for s in parts[pid])
    sol.unassigned = [s.task_id for pid, stops in parts.items() if pid not in seen for s in stops]
    sol.routes = {vid: r for vid, r in sol.routes.items() if r}
    return sol


def _intra_legs(
    ref: FloatArray, stops: tuple[Stop, ...], lat: FloatArray, lon: FloatArray, problem: Problem
) -> FloatArray:
    """Travel times between consecutive stops of a compound part (empty for one stop)."""
    if len(stops) < 2:
        return np.zeros(0)
    la = np.array([s.lat for s in stops])
    lo = np.array([s.lon for s in stops])
    # At the slowest vehicle's speed, as the comment at the call says: a compound stop's
    # service must not depend on which worker happens to be listed first.
    slow = min(problem.vehicles, key=lambda v: (v.speed_mps, v.kind))
    m = travel_matrix_s(problem.travel, la, lo, problem.now_s, slow.speed_mps, slow.kind)
    idx = np.arange(len(stops) - 1)
    legs: FloatArray = m[idx, idx + 1]
    return legs


def route_cost_s(
    travel: Any,
    start: tuple[float, float],
    stops: Sequence[tuple[float, float]],
    depart_s: float,
    speed_mps: float,
) -> float:
    """Travel time (s) of visiting ``stops`` in order from ``start`` (no service, no waits)."""
    if not stops:
        return 0.0
    lat = np.array([start[0]] + [s[0] for s in stops])
    lon = np.array([start[1]] + [s[1] for s in stops])
    m = travel_matrix_s(travel, lat, lon, depart_s, speed_mps)
    idx = np.arange(len(stops))
    return float(m[idx, idx + 1].sum())
