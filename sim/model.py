"""The platform model: task intake, dispatch and the state changes workers cause.

:class:`Model` owns the SimPy environment, the tasks, the workers, the live dispatch
snapshot and the event log.  Three kinds of process run in it:

* :func:`intake` replays the merchant's planned API calls: tasks come into existence at
  their creation time and go to the run's dispatcher (:mod:`sim.dispatchers`: autoAssign
  for ``distance``/``load``, the central pool for ``queue``, nothing for ``none``);
* the dispatcher's own processes (autoAssign retries tasks nobody could take, every
  ``dispatch.redispatch_s``);
* one :func:`sim.fleet.worker` process per worker.

A *unit* is what dispatch hands out at once: with ``consider_dependencies`` a dependency
family (pickups first), otherwise a single task.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from sim import events as ev
from sim.demand import Order
from sim.dispatch import AutoAssignOptions, FleetSnapshot, WorkerView, route_length_m
from sim.dispatchers import Dispatcher, make_dispatcher
from sim.fleet import Worker, build_fleet, worker
from sim.geo import geodesic_m
from sim.positions import Legs, interpolation_of, refresh_snapshot
from sim.rng import Streams
from sim.scenario import Scenario
from sim.snapshot_sync import SnapshotSync
from sim.submission import PlannedCall
from sim.tasks import ACTIVE, ASSIGNED, COMPLETED, UNASSIGNED, Task
from sim.travel import GeodesicTravel, travel_model

Unit = list[Task]


class Model:
    """One simulated day of a fleet on a delivery platform."""

    def __init__(
        self,
        scenario: Scenario,
        streams: Streams,
        tasks: list[Task],
        orders: Sequence[Order],
        calls: Sequence[PlannedCall],
    ) -> None:
        self.scenario = scenario
        self.env = simpy.Environment()
        self.log = ev.EventLog()
        self.tasks = tasks
        self.orders = orders
        self.calls = calls
        self.workers = build_fleet(scenario, streams)
        self.travel = travel_model(scenario)
        self._geodesic_travel = type(self.travel) is GeodesicTravel
        prefetch = getattr(self.travel, "prefetch", None)  # a routing engine: ask up front
        if prefetch is not None:
            hubs = [w.end_hub for w in self.workers if w.end_hub is not None]
            prefetch(
                [t.lat for t in tasks] + [w.lat for w in self.workers] + [h[0] for h in hubs],
                [t.lon for t in tasks] + [w.lon for w in self.workers] + [h[1] for h in hubs],
            )
        d = scenario.dispatch
        self.opts = AutoAssignOptions(
            mode="load" if d.policy == "load" else "distance",
            team=d.team,
            max_assigned_task_count=d.max_assigned_task_count,
            consider_dependencies=d.consider_dependencies,
            excluded_worker_ids=frozenset(d.excluded_worker_ids),
        )
        self.snapshot = FleetSnapshot.build(
            [
                WorkerView(
                    id=w.id,
                    lat=w.lat,
                    lon=w.lon,
                    on_duty=False,
                    teams=frozenset([w.team]),
                    free_capacity=w.capacity,
                )
                for w in self.workers
            ]
        )
        self.fail_p = scenario.failures.probability
        self.reasons = scenario.failures.reasons
        self.no_show_p = scenario.failures.no_show_probability
        self.no_show_reason = scenario.failures.no_show_reason
        self.pending: dict[int, Unit] = {}
        self.open_tasks = len(tasks)
        # Orders the merchant will cancel: how many of their tasks exist so far.
        self.cancel_wait: dict[int, int] = {}
        self.cancels_too_late = 0
        self.intake_done = False
        #: Fires when intake is over and every task is completed: the day is done.
        self.done = self.env.event()
        self.end_s = 0.0
        # Where workers are between stops (issue 11): the leg each one drives, and for the
        # ``load`` mode each route's length beyond the current leg.
        self.legs = Legs(
            len(self.workers), interpolation_of(self.travel), chords=d.policy == "distance"
        )
        self.route_rest_m = np.zeros(len(self.workers))
        self._refreshed: tuple[float, int] = (math.nan, -1)
        # Arrivals and route changes only mark their worker; the snapshot's ECEF columns
        # are brought up to date before the next decision (:meth:`refresh_positions`).
        self.stale = SnapshotSync(self.snapshot, self.workers)
        self.dispatcher: Dispatcher = make_dispatcher(self)
        # Read once: checked on every assignment and completion.
        self.tracks_routes = self.dispatcher.tracks_routes

    # -- setup ----------------------------------------------------------------------------
    def start(self) -> None:
        env = self.env
        env.process(intake(env, self))
        self.dispatcher.start()
        for w in self.workers:
            env.process(worker(env, w, self))

    def finished(self) -> bool:
        return self.intake_done and self.open_tasks == 0

    def check_done(self) -> None:
        if self.finished() and not self.done.triggered:
            self.done.succeed()

    # -- intake and dispatch -----------------------------------------------------------
    def units_of(self, tasks: Sequence[Task]) -> list[Unit]:
        if not self.opts.consider_dependencies:
            return [[t] for t in tasks]
        units: dict[int, Unit] = {}
        for t in tasks:
            units.setdefault(t.family_id, []).append(t)
        return list(units.values())

    def create(self, call: PlannedCall, tasks: Sequence[Task]) -> None:
        """Tasks come into existence; the dispatcher gets each unit once it is whole."""
        now = self.env.now
        log = self.log
        for t in tasks:
            t.created_s = now
            t.submission_id = call.submission_id
            log.add(now, ev.TASK_CREATED, t.id, -1, t.lat, t.lon, call.mode)
            order = self.orders[t.order_id]
            if order.cancel_s == order.cancel_s:  # not NaN: the merchant will cancel it
                seen = self.cancel_wait.get(order.order_id, 0) + 1
                self.cancel_wait[order.order_id] = seen
                if seen == len(order.task_ids):
                    self.env.process(self._cancel_later(order))
        if self.opts.consider_dependencies:
            # A family is dispatched once all its tasks exist (async jobs create them
            # one at a time); families never span two calls.
            units: list[Unit] = []
            for t in tasks:
                buf = self.pending.setdefault(t.family_id, [])
                buf.append(t)
                if len(buf) == len(self.orders[t.family_id].task_ids):
                    units.append(self.pending.pop(t.family_id))
        else:
            units = [[t] for t in tasks]
        self.dispatcher.dispatch(units)
        if call.mode != "single" and tasks and tasks[-1].id == call.task_ids[-1]:
            self.dispatcher.batch_landed()

    # -- cancellations -----------------------------------------------------------------
    def _cancel_later(self, order: Order) -> Generator[simpy.Event, Any, None]:
        """The merchant's DELETE of every task of ``order`` at its cancel time (at once if
        that passed before the whole order existed)."""
        if order.cancel_s > self.env.now:
            yield self.env.timeout(order.cancel_s - self.env.now)
        self.cancel(order)

    def cancel(self, order: Order) -> bool:
        """Delete the order's tasks, unless one has started (then it is too late: the
        goods are on their way, and the cancellation is counted as refused)."""
        tasks = [self.tasks[i] for i in order.task_ids]
        if any(t.state >= ACTIVE for t in tasks):
            self.cancels_too_late += 1
            return False
        now = self.env.now
        touched: set[int] = set()
        self.dispatcher.forget(set(tasks))
        for t in tasks:
            if t.state == ASSIGNED:
                w = self.workers[t.worker]
                w.container.remove(t)
                self.snapshot.assigned_count[w.id] -= 1
                if not t.is_pickup:
                    w.load -= t.quantity
                    self.snapshot.free_capacity[w.id] = w.capacity - w.load
                t.move_to(UNASSIGNED)
                touched.add(w.id)
            t.cancelled_s = now
            self.log.add(now, ev.TASK_DELETED, t.id, t.worker, t.lat, t.lon, "cancelled")
            self.open_tasks -= 1
        if self.tracks_routes:
            for wid in touched:
                self._update_route(self.workers[wid])
        for wid in touched:
            self.workers[wid].notify()
        self.check_done()
        return True

    # -- state changes -----------------------------------------------------------------
    def assign(self, w: Worker, t: Task) -> None:
        t.move_to(ASSIGNED)
        now = self.env.now
        t.worker = w.id
        if math.isnan(t.assigned_s):
            t.assigned_s = now
        w.container.append(t)
        snap = self.snapshot
        snap.assigned_count[w.id] += 1
        if not t.is_pickup:
            w.load += t.quantity
            snap.free_capacity[w.id] = w.capacity - w.load
        self.log.add(now, ev.TASK_ASSIGNED, t.id, w.id, t.lat, t.lon)
        if self.tracks_routes:
            self._update_route(w)
        w.notify()

    def unassign(self, w: Worker, t: Task) -> None:
        t.move_to(UNASSIGNED)
        t.worker = -1
        self.snapshot.assigned_count[w.id] -= 1
        if not t.is_pickup:
            w.load -= t.quantity
            self.snapshot.free_capacity[w.id] = w.capacity - w.load
        self.log.add(self.env.now, ev.TASK_UNASSIGNED, t.id, w.id, t.lat, t.lon)

    def take_next(self, w: Worker) -> Task | None:
        """The task ``w`` should start now: its own next one, else what the dispatcher gives."""
        task = w.next_task()
        if task is None:
            task = self.dispatcher.pull(w)
        return task

    def start_task(self, w: Worker, t: Task) -> tuple[float, float]:
        """1 → 2: the worker sets off; returns the leg's distance (m) and duration (s)."""
        now = self.env.now
        first = w.container[0] is t
        w.container.remove(t)
        t.move_to(ACTIVE)
        t.started_s = now
        w.active = t
        self.snapshot.assigned_count[w.id] -= 1
        self.log.add(now, ev.TASK_STARTED, t.id, w.id, w.lat, w.lon)
        travel = self.travel
        fallbacks = travel.fallbacks
        dist, dur = travel.leg(w.lat, w.lon, t.lat, t.lon, now, w.speed_mps, w.vehicle)
        w.travel_fallbacks += travel.fallbacks - fallbacks
        w.distance_m += dist
        if t.is_pickup and w.onboard <= 0:
            w.empty_distance_m += dist
        leg_m = 0.0
        if dur > 0 and (w.lat != t.lat or w.lon != t.lon):
            # A leg to drive (Legs ignores any other): its geodesic length, which the
            # geodesic travel model has just solved for the leg itself.
            if self._geodesic_travel:
                leg_m = travel.last_geodesic_m  # type: ignore[attr-defined]
            else:
                leg_m = geodesic_m(w.lat, w.lon, t.lat, t.lon)
            self.legs.start(w.id, w.lat, w.lon, t.lat, t.lon, now, dur, leg_m)
        if self.tracks_routes:
            if first and self.legs.on_leg[w.id]:
                # The plan is unchanged, its first part is now the leg: only what lies
                # beyond the leg moves from "rest" (the snapshot's total stays).
                self.route_rest_m[w.id] = max(0.0, self.route_rest_m[w.id] - leg_m)
            else:
                self._update_route(w)  # another task than the first planned one started
        return dist, dur

    def arrive(self, w: Worker, t: Task) -> None:
        now = self.env.now
        t.arrived_s = now
        w.lat, w.lon = t.lat, t.lon
        self.legs.stop(w.id)
        self.stale.moved.add(w.id)
        if self.tracks_routes:
            self.snapshot.route_m[w.id] = self.route_rest_m[w.id]  # no leg left to drive
        self.log.add(now, ev.TASK_ARRIVAL, t.id, w.id, t.lat, t.lon)

    def complete(self, w: Worker, t: Task) -> None:
        """2 → 3, success unless this task's failure draw says otherwise."""
        now = self.env.now
        t.move_to(COMPLETED)
        t.completed_s = now
        w.active = None
        success = t.failure_draw >= self.fail_p
        no_show = success and not t.is_pickup and t.no_show_draw < self.no_show_p
        success = success and not no_show
        t.success = success
        if success:
            w.tasks_completed += 1
            kind = ev.TASK_COMPLETED
            detail = ""
        elif no_show:
            w.tasks_failed += 1
            t.no_show = True
            t.failure_reason = self.no_show_reason
            kind = ev.TASK_FAILED
            detail = t.failure_reason
        else:
            w.tasks_failed += 1
            # The reason reuses the failure draw instead of drawing again: a failed task has
            # draw < fail_p, and its low-order digits are as uniform as the draw itself, so the
            # reasons come out evenly without another random number.  A draw made here would
            # follow completion order, which changes with the fleet and the policy, and so
            # break common random numbers; the failure draw was made per task at demand time.
            t.failure_reason = self.reasons[int(t.failure_draw * 1e9) % len(self.reasons)]
            kind = ev.TASK_FAILED
            detail = t.failure_reason
        if t.is_pickup:
            if success:
                w.onboard += t.quantity
        else:
            w.onboard = max(0.0, w.onboard - t.quantity)
            w.load -= t.quantity
            self.snapshot.free_capacity[w.id] = w.capacity - w.load
        self.log.add(now, kind, t.id, w.id, t.lat, t.lon, detail)
        self.open_tasks -= 1
        self.check_done()
        for dep in t.dependents:
            dep.open_deps -= 1
            if dep.open_deps == 0 and dep.worker >= 0 and dep.worker != w.id:
                self.workers[dep.worker].notify()
        if self.tracks_routes:
            self._update_route(w)

    def duty_on(self, w: Worker) -> None:
        now = self.env.now
        w.on_duty = True
        w.on_at_s = now
        self.snapshot.set_duty(w.id, True)
        self.log.add(now, ev.WORKER_DUTY, -1, w.id, w.lat, w.lon, "on")
        self.dispatcher.worker_on(w)

    def duty_off(self, w: Worker) -> None:
        """Shift over: unstarted tasks go back to unassigned and are dispatched again."""
        now = self.env.now
        returned = list(w.container)
        for t in returned:
            self.unassign(w, t)
        w.container.clear()
        w.on_duty = False
        w.off_at_s = now
        w.on_duty_s += now - w.on_at_s
        self.snapshot.set_duty(w.id, False)
        self.dispatcher.worker_off(w)
        self.log.add(now, ev.WORKER_DUTY, -1, w.id, w.lat, w.lon, "off")
        if returned:
            self.dispatcher.give_back(self.units_of(returned))
        if self.tracks_routes:
            self._update_route(w)

    # -- breaks and the drive back to the end hub (sim.fleet.worker calls these) -------
    def break_start(self, w: Worker, length_s: float) -> None:
        """A break: off duty for dispatch (no new work); the container stays as it is."""
        w.break_s += length_s
        w.break_until_s = self.env.now + length_s
        self.snapshot.set_duty(w.id, False)
        self.dispatcher.worker_off(w)
        self.log.add(self.env.now, ev.WORKER_DUTY, -1, w.id, w.lat, w.lon, "break")

    def break_end(self, w: Worker) -> None:
        now = self.env.now
        if now < w.shift_end_s:
            self.snapshot.set_duty(w.id, True)
            self.log.add(now, ev.WORKER_DUTY, -1, w.id, w.lat, w.lon, "on")
            self.dispatcher.worker_on(w)

    def head_home(self, w: Worker) -> float:
        """Shift over with an end hub: hand the unstarted tasks back, stop taking work and
        drive to the hub; returns the drive's duration (s)."""
        returned = list(w.container)
        for t in returned:
            self.unassign(w, t)
        w.container.clear()
        self.snapshot.set_duty(w.id, False)
        self.dispatcher.worker_off(w)
        if returned:
            self.dispatcher.give_back(self.units_of(returned))
        if self.tracks_routes:
            self._update_route(w)
        return self._drive_home(w, self.env.now)

    def _drive_home(self, w: Worker, depart_s: float) -> float:
        assert w.end_hub is not None
        lat, lon = w.end_hub
        fallbacks = self.travel.fallbacks
        dist, dur = self.travel.leg(w.lat, w.lon, lat, lon, depart_s, w.speed_mps, w.vehicle)
        w.travel_fallbacks += self.travel.fallbacks - fallbacks
        w.distance_m += dist
        w.return_distance_m += dist
        w.return_s += dur
        w.homebound = True  # driven (or counted) once
        return dur

    def arrive_home(self, w: Worker) -> None:
        assert w.end_hub is not None
        w.lat, w.lon = w.end_hub
        self.stale.moved.add(w.id)

    def _update_route(self, w: Worker) -> None:
        """Route length for the ``load`` mode: where the worker is now → active task →
        assigned tasks.  On a leg, the part already driven is not counted: the route is
        what is left of the leg plus the planned stops after it (``route_rest_m``), and
        :meth:`refresh_positions` shortens the leg part as the worker drives."""
        legs = self.legs
        if legs.on_leg[w.id] and w.active is not None:
            a = w.active
            rest, lat, lon = route_length_m(a.lat, a.lon, [(t.lat, t.lon) for t in w.container])
            total = rest + legs.remaining_one_m(w.id, self.env.now)
        else:
            stops = [w.active] if w.active is not None else []
            stops += w.container
            rest, lat, lon = route_length_m(w.lat, w.lon, [(t.lat, t.lon) for t in stops])
            total = rest
        self.route_rest_m[w.id] = rest
        snap = self.snapshot
        i = w.id
        snap.route_m[i] = total
        if lat != snap.end_lat[i] or lon != snap.end_lon[i]:
            # (A completion whose task ended the route leaves the end where it was.)
            snap.end_lat[i] = lat
            snap.end_lon[i] = lon
            self.stale.rerouted.add(i)  # its end's ECEF coordinates follow before a decision

    def refresh_positions(self) -> None:
        """Bring the snapshot to the present before a dispatch decision: moving workers are
        where they are along their legs (``distance``), and their routes count only what is
        left of the current leg (``load``).  Vectorised over the moving workers, once per
        decision time and leg change; first, the rows that arrivals and route changes
        marked stale are brought up to date (:mod:`sim.snapshot_sync`)."""
        self.stale.flush()
        key = (self.env.now, self.legs.version)
        if key != self._refreshed:
            self._refreshed = key
            refresh_snapshot(self.legs, self.snapshot, self.route_rest_m, key[0], self.opts.mode)

    def close(self) -> None:
        """End of run: close the on-duty clocks of workers still on shift."""
        self.end_s = self.env.now
        for w in self.workers:
            if w.on_duty:
                w.on_duty_s += self.end_s - w.on_at_s
            if w.end_hub is not None and not w.homebound and not math.isnan(w.on_at_s):
                # The day ended before this shift did: the drive back is the same leg
                # (an idle worker stays put), counted as departing at the shift's end.
                self._drive_home(w, max(self.end_s, w.shift_end_s))
        release = getattr(self.travel, "close", None)  # a routing engine's client and cache
        if release is not None:
            release()


def intake(env: simpy.Environment, m: Model) -> Generator[simpy.Event, Any, None]:
    """Replay the merchant's calls: submissions logged when sent, tasks when created."""
    timeline: list[tuple[float, int, int, int]] = []  # (time, order, call, task index)
    for call in m.calls:
        if call.mode != "single":
            timeline.append((call.sent_s, 0, call.submission_id, -1))
        if call.mode == "batch-async":
            for j, t_s in enumerate(call.created_s):
                timeline.append((t_s, 1, call.submission_id, j))
        else:
            timeline.append((call.acked_s, 1, call.submission_id, -2))
    timeline.sort()
    for t_s, what, cid, j in timeline:
        if t_s > env.now:
            yield env.timeout(t_s - env.now)
        call = m.calls[cid]
        if what == 0:
            m.log.add(
                env.now,
                ev.BATCH_SUBMITTED,
                -1,
                -1,
                math.nan,
                math.nan,
                f"{call.mode} n={len(call.task_ids)} {call.job_id}".strip(),
            )
        elif j == -2:
            m.create(call, [m.tasks[i] for i in call.task_ids])
        else:
            m.create(call, [m.tasks[call.task_ids[j]]])
    m.intake_done = True
    m.check_done()
