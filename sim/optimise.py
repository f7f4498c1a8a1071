"""Route optimisation in the loop: the ``optimise`` policy and ``sequence = "optimise"``.

Concepts held here (the solver itself, pure, is :mod:`sim.vrp`):

* :class:`Optimise` -- the platform's route optimisation as a dispatch strategy: every
  ``dispatch.reoptimise_s``, when a batch of orders lands, and when a shift starts or
  ends, one vehicle-routing problem over every task not yet started (unassigned or
  assigned) and every on-duty worker where it will next be free.  Each worker's container
  becomes the solution's sequence; a task moving between workers is logged as unassign
  then assign (1 → 0 → 1); a task the solver leaves out stays (or becomes) unassigned and
  is counted (:attr:`Optimise.left_out`).
* :func:`build_items` / :func:`vehicle_of` -- the model's tasks and workers in the
  solver's terms (shipments for pickup→dropoff families, tasks whose goods are on board
  pinned to the worker carrying them).
* :func:`resequence` -- one worker's container re-ordered by the solver (single vehicle),
  as route optimisation after autoAssign would; nothing is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import simpy

from sim.tasks import ACTIVE, COMPLETED, UNASSIGNED, Task
from sim.vrp import BreakWindow, Item, Problem, Solution, Stop, Vehicle, solve

if TYPE_CHECKING:
    from sim.fleet import Worker
    from sim.model import Model, Unit


def stop_of(t: Task) -> Stop:
    return Stop(
        t.id,
        t.lat,
        t.lon,
        t.service_s,
        t.complete_after_s,
        t.complete_before_s,
        t.is_pickup,
        t.quantity,
    )


def breaks_of(w: Worker) -> tuple[BreakWindow, ...]:
    """The breaks still ahead of ``w``.  Hook for rosters: a worker with a ``breaks``
    attribute of :class:`~sim.vrp.BreakWindow` items (or ``(earliest_s, latest_s,
    duration_s)`` tuples) gets them in its routes; today's fleet has none."""
    raw: Iterable[Any] = getattr(w, "breaks", ()) or ()
    out = []
    for b in raw:
        if isinstance(b, BreakWindow):
            out.append(b)
        elif len(b) == 2:
            # A roster break (sim.fleet): (start_s, length_s), taken once the task in hand
            # is done, so it may begin up to BREAK_SLACK_S after its scheduled time [inf].
            start, length = b
            out.append(BreakWindow(start, start + BREAK_SLACK_S, length))
        else:
            out.append(BreakWindow(*b))
    return tuple(out)


#: How late after its scheduled start a roster break may begin in a planned route.
BREAK_SLACK_S = 1800.0


def free_at_s(w: Worker, now_s: float, leg_end_s: float) -> float:
    """When ``w`` will have finished its active task (now, if it has none)."""
    a = w.active
    if a is None:
        return now_s
    arrive = a.arrived_s if not math.isnan(a.arrived_s) else max(now_s, leg_end_s)
    start = arrive if math.isnan(a.complete_after_s) else max(arrive, a.complete_after_s)
    return max(now_s, start + a.service_s)


def vehicle_of(m: Model, w: Worker) -> Vehicle:
    """``w`` as the solver sees it: where and when it is next free, and its limits."""
    a = w.active
    lat, lon = (a.lat, a.lon) if a is not None else (w.lat, w.lon)
    leg_end = float(m.legs.t1[w.id]) if m.legs.on_leg[w.id] else m.env.now
    end = getattr(w, "end_hub", None)
    return Vehicle(
        id=w.id,
        lat=lat,
        lon=lon,
        # A worker on a break takes new work only once it is over.
        free_at_s=max(free_at_s(w, m.env.now, leg_end), w.break_until_s),
        shift_end_s=w.shift_end_s,
        speed_mps=w.speed_mps,
        capacity=w.capacity,
        max_tasks=m.opts.max_assigned_task_count,
        breaks=breaks_of(w),
        kind=w.vehicle,
        end=None if end is None else (float(end[0]), float(end[1])),
    )


def build_items(m: Model, tasks: list[Task], vehicles: set[int]) -> list[Item]:
    """The tasks as solver items, family by family, in the order given.

    * a family none of whose tasks has started, all known: its pickups and dropoffs as one
      shipment (several of either become a compound stop served in family order), or a
      lone dropoff as a job carried from the start;
    * a family with a task started: the rest stay with the worker that started it when it
      is on duty (its goods are on board), each a job pinned to that worker;
    * a family only partly created (asynchronous batches without
      ``consider_dependencies``): each known task a job of its own.
    """
    families: dict[int, list[Task]] = {}
    for t in tasks:
        families.setdefault(t.family_id, []).append(t)
    items: list[Item] = []
    all_tasks = m.tasks
    for fid, open_tasks in families.items():
        family = [all_tasks[i] for i in m.orders[fid].task_ids]
        started = [t for t in family if t.state in (ACTIVE, COMPLETED)]
        if started:
            owner = started[-1].worker
            pin = owner if owner in vehicles else None
            items.extend(
                Item((stop_of(t),), pinned_to=pin, load=not t.is_pickup) for t in open_tasks
            )
            continue
        if len(open_tasks) < len(family):
            items.extend(Item((stop_of(t),), load=not t.is_pickup) for t in open_tasks)
            continue
        pickups = tuple(stop_of(t) for t in open_tasks if t.is_pickup)
        drops = tuple(stop_of(t) for t in open_tasks if not t.is_pickup)
        if pickups and drops:
            items.append(Item(pickups, drops))
        else:
            items.extend(Item((s,), load=not s.is_pickup) for s in pickups + drops)
    return items


def _eligible_workers(m: Model) -> list[Worker]:
    opts = m.opts
    return [
        w
        for w in m.workers
        if w.on_duty
        and (opts.team is None or w.team == opts.team)
        and w.id not in opts.excluded_worker_ids
    ]


class Optimise:
    """``optimise``: the platform's route optimisation re-plans every worker's route."""

    tracks_routes = False

    def __init__(self, m: Model) -> None:
        self.m = m
        d = m.scenario.dispatch
        self.every_s = d.reoptimise_s
        self.time_limit_s = d.solver_time_limit_s
        self.searches = d.solver_searches
        self.depth = d.solver_depth
        #: VROOM calls the time limit cut short (each run again to its end, so the routes
        #: do not depend on the machine; the day took longer than planned).
        self.limit_hits = 0
        self.cut_kept = 0
        #: Tasks handed to the platform and not started yet, in creation order.
        self.known: dict[int, Task] = {}
        self.requested = False
        #: Every task some solve left out of all routes (the ``solver_left_out`` figure).
        self.left_out: set[int] = set()
        self.solves = 0
        self.solve_s: list[float] = []
        #: Whether the plan may be out of date: tasks arrived, came back or were cancelled,
        #: a worker came on duty, or the last solve left tasks out.  A periodic solve with
        #: nothing changed would only re-plan the same tasks for the same workers, who are
        #: already following that plan, so it is skipped.
        self.stale = True
        #: Periodic solves skipped because nothing had changed.
        self.skipped = 0

    # -- the model's seams -------------------------------------------------------------
    def start(self) -> None:
        m = self.m
        m.env.process(reoptimise(m.env, m, self))

    def dispatch(self, units: list[Unit]) -> None:
        for unit in units:
            for t in unit:
                self.known[t.id] = t
                self.stale = True

    def batch_landed(self) -> None:
        self.request()

    def give_back(self, units: list[Unit]) -> None:
        for unit in units:
            for t in unit:
                self.known[t.id] = t
        self.stale = True
        self.request()

    def worker_on(self, w: Worker) -> None:
        self.stale = True
        self.request()

    def worker_off(self, w: Worker) -> None:
        pass

    def pull(self, w: Worker) -> Task | None:
        return None

    def forget(self, tasks: set[Task]) -> None:
        """A cancelled order's tasks leave the plan (the model has taken them off their
        workers); the next solve no longer sees them."""
        for t in tasks:
            if self.known.pop(t.id, None) is not None:
                self.stale = True

    # -- solving ---------------------------------------------------------------------------
    def request(self) -> None:
        """Solve at the end of this instant (one solve however many triggers it has)."""
        if not self.requested:
            self.requested = True
            self.m.env.process(_solve_soon(self.m.env, self))

    def open_tasks(self) -> list[Task]:
        for tid in [tid for tid, t in self.known.items() if t.state not in (0, 1)]:
            del self.known[tid]
        return list(self.known.values())

    def solve_now(self) -> Solution:
        m = self.m
        tasks = self.open_tasks()
        workers = _eligible_workers(m)
        self.stale = False
        if not tasks:
            return Solution()
        vehicles = [vehicle_of(m, w) for w in workers]
        items = build_items(m, tasks, {w.id for w in workers})
        problem = Problem(
            m.env.now, vehicles, items, m.travel, self.time_limit_s, self.searches, self.depth
        )
        sol = solve(problem)
        self.limit_hits += sol.limit_hits
        self.cut_kept += sol.cut_kept
        self.solves += 1
        self.solve_s.append(sol.solve_s)
        limit = m.opts.max_assigned_task_count
        if limit is not None:
            within_limit(m, sol, self.known, limit)
        self.left_out.update(sol.unassigned)
        # A task left out may fit once a worker frees up: keep re-planning until placed.
        self.stale = bool(sol.unassigned)
        apply_solution(m, sol, workers, self.known)
        return sol


def within_limit(m: Model, sol: Solution, known: dict[int, Task], limit: int) -> None:
    """Hold every route to ``maxAssignedTaskCount`` tasks.

    VROOM's ``max_tasks`` counts its steps, and a family's several pickups or dropoffs are
    one compound step, so a route may carry more of the platform's tasks than the limit.
    Whole families are taken off the end of such a route (never one whose goods are
    already on board) and left unassigned, as the solver's own leftovers are."""
    for wid, seq in sol.routes.items():
        if len(seq) <= limit:
            continue
        families: list[int] = []
        for tid in seq:
            fam = known[tid].family_id
            if fam not in families:
                families.append(fam)
        keep = list(seq)
        for fam in reversed(families):
            if len(keep) <= limit:
                break
            members = [tid for tid in keep if known[tid].family_id == fam]
            on_board = any(
                m.tasks[d].state == COMPLETED for tid in members for d in known[tid].dependencies
            )
            if on_board:
                continue
            keep = [tid for tid in keep if tid not in members]
            sol.unassigned.extend(members)
        sol.routes[wid] = keep


def apply_solution(m: Model, sol: Solution, workers: list[Worker], known: dict[int, Task]) -> None:
    """Make each worker's container the solution's sequence.

    Removals first, then additions, workers in id order: a task that moves is unassigned
    from its old worker (1 → 0) before it is assigned to the new one (0 → 1), and a task
    the solver left out goes back to unassigned.
    """
    owner: dict[int, int] = {}
    for wid, seq in sol.routes.items():
        for tid in seq:
            owner[tid] = wid
    for w in workers:
        keep = [t for t in w.container if owner.get(t.id) == w.id]
        if len(keep) != len(w.container):
            for t in w.container:
                if owner.get(t.id) != w.id:
                    m.unassign(w, t)
            w.container[:] = keep
    by_id = m.workers
    for wid in sorted(sol.routes):
        w = by_id[wid]
        for tid in sol.routes[wid]:
            t = known[tid]
            if t.state == UNASSIGNED:
                m.assign(w, t)
        route = [known[tid] for tid in sol.routes[wid]]
        if w.container != route:
            w.container[:] = route
        w.notify()


def _solve_soon(env: simpy.Environment, d: Optimise) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(0)
    d.requested = False
    d.solve_now()


def reoptimise(env: simpy.Environment, m: Model, d: Optimise) -> Generator[simpy.Event, Any, None]:
    """Re-plan every ``dispatch.reoptimise_s`` until the day is done."""
    while True:
        yield env.timeout(d.every_s)
        if m.finished():
            return
        if d.stale:
            d.request()
        else:
            d.skipped += 1


def resequence(m: Model, w: Worker) -> None:
    """Re-order ``w``'s container with the solver (one vehicle, nothing dropped).

    Families keep their pickups before their dropoffs; a task the single-vehicle solve
    cannot place (a window it cannot meet) keeps its place after the routed ones, in the
    order it had."""
    if len(w.container) < 2:
        return
    vehicle = vehicle_of(m, w)
    items = build_items(m, list(w.container), {w.id})
    d = m.scenario.dispatch
    # Capacity and the task limit were checked when the tasks were assigned; a sequence
    # must not drop any, so the single-vehicle solve orders without those limits.
    vehicle = Vehicle(
        id=vehicle.id,
        lat=vehicle.lat,
        lon=vehicle.lon,
        free_at_s=vehicle.free_at_s,
        shift_end_s=math.inf,
        speed_mps=vehicle.speed_mps,
        capacity=math.inf,
        breaks=vehicle.breaks,
        end=vehicle.end,
        kind=vehicle.kind,
    )
    problem = Problem(
        m.env.now,
        [vehicle],
        items,
        m.travel,
        d.solver_time_limit_s,
        d.solver_searches,
        d.solver_depth,
    )
    sol = solve(problem)
    by_id = {t.id: t for t in w.container}
    routed = sol.routes.get(w.id, [])
    placed = set(routed)
    w.container[:] = [by_id[tid] for tid in routed] + [t for t in w.container if t.id not in placed]


__all__ = [
    "Optimise",
    "apply_solution",
    "build_items",
    "reoptimise",
    "resequence",
    "vehicle_of",
]
