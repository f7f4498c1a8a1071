"""Dispatch strategies: how the model hands out tasks under each ``dispatch.policy``.

The model (:mod:`sim.model`) calls one :class:`Dispatcher` at its seams -- tasks created,
a worker looking for work, shifts starting and ending -- instead of testing the policy name
at each.  The choices themselves stay pure functions in :mod:`sim.dispatch`.

* :class:`AutoAssign` (``distance`` and ``load``) -- the platform's autoAssign: each new
  unit goes to the worker :func:`~sim.dispatch.choose_worker` picks; units nobody could
  take wait and are offered again every ``dispatch.redispatch_s`` and when a shift starts.
* :class:`Queue` (``queue``) -- a central pool that free workers pull from, oldest first or
  nearest first, with the idle workers waiting in line for new work.
* :class:`NoDispatch` (``none``) -- tasks are created and nobody is ever assigned.
* :class:`~sim.optimise.Optimise` (``optimise``) -- route optimisation re-plans every
  worker's route (VROOM).  ``dispatch.sequence = "optimise"`` re-sequences a worker's
  route with the same solver after ``distance``/``load``/``queue`` append to it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import simpy

from sim.dispatch import TaskPoint, choose_from_pool, choose_worker
from sim.optimise import Optimise, resequence

if TYPE_CHECKING:
    from sim.fleet import Worker
    from sim.model import Model, Unit
    from sim.tasks import Task


class Dispatcher(Protocol):
    """What the model asks of a dispatch strategy."""

    #: Whether the snapshot's planned routes must follow every assignment and completion
    #: (the ``load`` mode ranks by them); a flag so that other policies pay nothing.
    tracks_routes: bool

    def start(self) -> None:
        """Start the strategy's own processes (after intake, before the workers)."""

    def dispatch(self, units: list[Unit]) -> None:
        """Units whose tasks now all exist."""

    def give_back(self, units: list[Unit]) -> None:
        """Units a worker held unstarted when its shift ended (they have waited longest)."""

    def worker_on(self, w: Worker) -> None:
        """``w``'s shift has started."""

    def worker_off(self, w: Worker) -> None:
        """``w``'s shift has ended (called before its tasks are given back)."""

    def pull(self, w: Worker) -> Task | None:
        """``w`` has nothing it can start: the task it should start now, if any."""

    def batch_landed(self) -> None:
        """A batch's tasks have all been created (``optimise`` re-plans then)."""

    def forget(self, tasks: set[Task]) -> None:
        """These tasks were deleted (a cancelled order): drop any unit holding them."""


def _without(units: list[Unit], tasks: set[Task]) -> list[Unit]:
    """``units`` less those whose tasks were deleted (a unit is one order's family, so a
    cancellation deletes all of it)."""
    return [u for u in units if u[0] not in tasks]


def unit_quantity(unit: Unit) -> float:
    """What a unit puts on a vehicle: its dropoffs' quantities (pickups free space again)."""
    q = 0.0
    for t in unit:
        if not t.is_pickup:
            q += t.quantity
    return q


class AutoAssign:
    """``distance`` / ``load``: assign on creation, retry the units nobody could take."""

    def __init__(self, m: Model) -> None:
        self.m = m
        self.tracks_routes = m.opts.mode == "load"
        self.sequence = m.scenario.dispatch.sequence == "optimise"
        self.waiting: list[Unit] = []
        self.waiting_min_q = math.inf  # a lower bound on the waiting units' quantities
        self.waiting_min_n = math.inf  # ... and on their sizes (maxAssignedTaskCount)
        # Sizes matter to eligibility only under a maxAssignedTaskCount limit.
        self.counts = m.opts.max_assigned_task_count is not None

    def start(self) -> None:
        m = self.m
        m.env.process(redispatch(m.env, m, self, m.scenario.dispatch.redispatch_s))

    def dispatch(self, units: list[Unit]) -> None:
        for unit in units:
            ok = self.auto_assign(unit)
            for t in unit:
                t.did_auto_assign = ok
            if not ok:
                self._wait([unit])

    def give_back(self, units: list[Unit]) -> None:
        self._wait(units, front=True)
        self.redispatch()

    def worker_on(self, w: Worker) -> None:
        self.redispatch()

    def worker_off(self, w: Worker) -> None:
        pass

    def pull(self, w: Worker) -> Task | None:
        return None

    def _size(self, unit: Unit) -> int:
        return len(unit) if self.counts else 0

    def batch_landed(self) -> None:
        pass

    def _wait(self, units: list[Unit], front: bool = False) -> None:
        for unit in units:
            self.waiting_min_q = min(self.waiting_min_q, unit_quantity(unit))
            self.waiting_min_n = min(self.waiting_min_n, self._size(unit))
        if front:
            self.waiting[0:0] = units
        else:
            self.waiting.extend(units)

    def auto_assign(self, unit: Unit) -> bool:
        m = self.m
        first = unit[0]
        qty = unit_quantity(unit)
        m.refresh_positions()
        wid = choose_worker(m.snapshot, TaskPoint(first.lat, first.lon, qty, len(unit)), m.opts)
        if wid is None:
            return False
        w = m.workers[int(wid)]  # type: ignore[call-overload]
        for t in unit:
            m.assign(w, t)
        if self.sequence and len(w.container) > 1:
            resequence(m, w)
            if self.tracks_routes:
                m._update_route(w)
        return True

    def forget(self, tasks: set[Task]) -> None:
        # waiting_min_q / waiting_min_n stay valid lower bounds after removals.
        self.waiting = _without(self.waiting, tasks)

    def redispatch(self) -> None:
        """Offer waiting units again, oldest first.

        Eligibility only shrinks as a unit's quantity grows, and under a
        maxAssignedTaskCount limit as its size (task count) grows; the other filters are
        the same for every unit.  So once a unit of quantity q and size n finds nobody, no
        unit with quantity >= q and size >= n can either: those are skipped, and when q
        and n are at or below the smallest waiting quantity and size the pass stops.  An
        overloaded day thus costs O(assignments) per pass instead of O(waiting).
        """
        if not self.waiting or not self.m.snapshot.on_duty.any():
            return
        waiting, self.waiting = self.waiting, []
        floor_q, self.waiting_min_q = self.waiting_min_q, math.inf
        floor_n, self.waiting_min_n = self.waiting_min_n, math.inf
        failed_q: float = math.inf
        failed_n: float = math.inf
        for i, unit in enumerate(waiting):
            q, n = unit_quantity(unit), self._size(unit)
            if q < failed_q or n < failed_n:
                if self.auto_assign(unit):
                    continue
                if q <= failed_q and n <= failed_n:
                    failed_q, failed_n = q, n
                if failed_q <= floor_q and failed_n <= floor_n:
                    # The rest were already waiting, so the floors still bound them.
                    self.waiting.extend(waiting[i:])
                    self.waiting_min_q = min(self.waiting_min_q, floor_q)
                    self.waiting_min_n = min(self.waiting_min_n, floor_n)
                    return
            self._wait([unit])


class Queue:
    """``queue``: a central pool; a free worker pulls the oldest or the nearest unit."""

    tracks_routes = False

    def __init__(self, m: Model) -> None:
        self.m = m
        self.rule = m.scenario.dispatch.queue_rule
        self.sequence = m.scenario.dispatch.sequence == "optimise"
        self.pool: list[Unit] = []
        self.idle: deque[Worker] = deque()
        self.idle_ids: set[int] = set()

    def start(self) -> None:
        pass

    def dispatch(self, units: list[Unit]) -> None:
        for unit in units:
            self.pool.append(unit)
            self.wake_idle()

    def give_back(self, units: list[Unit]) -> None:
        self.pool[0:0] = units
        for _ in units:
            self.wake_idle()

    def worker_on(self, w: Worker) -> None:
        pass

    def worker_off(self, w: Worker) -> None:
        if w.id in self.idle_ids:
            self.idle.remove(w)
            self.idle_ids.discard(w.id)

    def batch_landed(self) -> None:
        pass

    def pull(self, w: Worker) -> Task | None:
        task = None
        k = self._choose(w) if not w.container and self.pool else None
        if k is not None:
            unit = self.pool.pop(k)
            for t in unit:
                self.m.assign(w, t)
            if self.sequence:
                resequence(self.m, w)
            task = w.next_task()
        # Only an empty-handed worker counts as idle: one waiting on a dependency of a
        # task it holds would be woken for new work it cannot pull.
        if task is None and not w.container and w.id not in self.idle_ids:
            self.idle.append(w)
            self.idle_ids.add(w.id)
        return task

    def _choose(self, w: Worker) -> int | None:
        """The pool index an empty-handed worker takes, or None.  Under a
        ``maxAssignedTaskCount`` limit a unit larger than it is never taken (the whole
        family is assigned at once, and the platform counts every task held): it stays
        unassigned, as under ``distance`` and ``load``."""
        limit = self.m.opts.max_assigned_task_count
        pool = self.pool
        if self.rule == "oldest":
            if limit is None:
                return 0
            return next((i for i, u in enumerate(pool) if len(u) <= limit), None)
        fits = (
            list(range(len(pool)))
            if limit is None
            else [i for i, u in enumerate(pool) if len(u) <= limit]
        )
        lat = np.array([pool[i][0].lat for i in fits])
        lon = np.array([pool[i][0].lon for i in fits])
        j = choose_from_pool(lat, lon, w.lat, w.lon, self.rule)
        return None if j is None else fits[j]

    def forget(self, tasks: set[Task]) -> None:
        self.pool = _without(self.pool, tasks)

    def wake_idle(self) -> None:
        """Wake the longest-idle worker that is really waiting."""
        while self.idle:
            w = self.idle.popleft()
            self.idle_ids.discard(w.id)
            if w.wake is not None and not w.wake.triggered:
                w.wake.succeed()
                return


class NoDispatch:
    """``none``: the platform never assigns; tasks stay unassigned."""

    tracks_routes = False

    def start(self) -> None:
        pass

    def dispatch(self, units: list[Unit]) -> None:
        pass

    def give_back(self, units: list[Unit]) -> None:
        pass  # never reached: nobody holds a task

    def worker_on(self, w: Worker) -> None:
        pass

    def worker_off(self, w: Worker) -> None:
        pass

    def pull(self, w: Worker) -> Task | None:
        return None

    def forget(self, tasks: set[Task]) -> None:
        pass

    def batch_landed(self) -> None:
        pass


def make_dispatcher(m: Model) -> Dispatcher:
    """The strategy for the scenario's ``dispatch.policy``."""
    policy = m.scenario.dispatch.policy
    if policy == "queue":
        return Queue(m)
    if policy == "none":
        return NoDispatch()
    if policy == "optimise":
        return Optimise(m)
    return AutoAssign(m)


def redispatch(
    env: simpy.Environment, m: Model, d: AutoAssign, every_s: float
) -> Generator[simpy.Event, Any, None]:
    """Periodically offer the units nobody could take to the fleet again."""
    while True:
        yield env.timeout(every_s)
        if m.finished():
            return
        d.redispatch()
