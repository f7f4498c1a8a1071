"""Workers: the entity, the fleet built from a scenario, and the worker process.

Each worker has an ordered container of assigned tasks and at most one active task.  One
SimPy process runs per worker (:func:`worker`): it goes on duty at shift start, takes the
first task in its container whose dependencies are complete, travels, waits for the
window to open, serves, completes -- and at shift end finishes its active task, hands its
unstarted tasks back to the pool, drives back to its end hub if it has one, and goes off
duty (on arrival).  A scheduled break is taken when it is due, after the task in hand is
finished; the tasks in the container stay there.

The fleet comes from ``[fleet]`` (alike workers), ``[[fleet.groups]]`` or a roster CSV
(:mod:`sim.roster`).  Random start positions are common random numbers: worker ``i`` of a
plain fleet takes row ``i`` of the fleet stream, worker ``k`` of group ``g`` row ``k`` of
the group's own stream, a roster worker a stream keyed by its id; so adding a worker
moves nobody else.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from sim.geo import uniform_in_disk
from sim.rng import Streams
from sim.scenario import FleetGroup, Scenario
from sim.tasks import Task, WorkerId

if TYPE_CHECKING:
    from sim.model import Model


class Worker:
    """A delivery worker and its running totals (metres, seconds, counts)."""

    __slots__ = (
        "active",
        "break_s",
        "break_until_s",
        "breaks",
        "busy_s",
        "capacity",
        "container",
        "distance_m",
        "empty_distance_m",
        "end_hub",
        "homebound",
        "id",
        "lat",
        "load",
        "lon",
        "name",
        "off_at_s",
        "on_at_s",
        "on_duty",
        "on_duty_s",
        "onboard",
        "phone",
        "return_distance_m",
        "return_s",
        "shift_end_s",
        "shift_start_s",
        "speed_mps",
        "start_lat",
        "start_lon",
        "tasks_completed",
        "tasks_failed",
        "team",
        "travel_fallbacks",
        "vehicle",
        "wake",
    )

    def __init__(
        self,
        id: WorkerId,
        team: str,
        vehicle: str,
        speed_mps: float,
        capacity: float,
        shift_start_s: float,
        shift_end_s: float,
        lat: float,
        lon: float,
    ) -> None:
        self.id = id
        self.name = f"Worker {id + 1:04d}"
        self.phone = f"+1555{id % 10_000_000:07d}"
        self.team = team
        self.vehicle = vehicle
        self.speed_mps = speed_mps
        self.capacity = capacity
        self.shift_start_s = shift_start_s
        self.shift_end_s = shift_end_s
        self.start_lat = self.lat = lat
        self.start_lon = self.lon = lon
        self.container: list[Task] = []
        self.active: Task | None = None
        self.on_duty = False
        self.on_at_s = math.nan
        self.off_at_s = math.nan
        self.wake: simpy.Event | None = None
        self.load = 0.0  # quantity of assigned or active dropoffs (against capacity)
        self.onboard = 0.0  # quantity picked up and not yet delivered
        self.on_duty_s = 0.0
        self.busy_s = 0.0
        self.distance_m = 0.0
        self.empty_distance_m = 0.0
        self.tasks_completed = 0
        self.tasks_failed = 0
        #: The end of the break under way (sim.optimise plans new work after it).
        self.break_until_s = 0.0
        #: Breaks still to take: (start, length) in seconds, in time order.
        self.breaks: list[tuple[float, float]] = []
        #: Where the worker drives at shift end (off duty on arrival); None: no return.
        self.end_hub: tuple[float, float] | None = None
        self.homebound = False  # driving (or counted as driving) to the end hub
        self.break_s = 0.0
        self.return_distance_m = 0.0
        self.return_s = 0.0
        self.travel_fallbacks = 0

    def notify(self) -> None:
        """Wake the worker if it is idle (new work, a dependency done, shift end)."""
        if self.wake is not None and not self.wake.triggered:
            self.wake.succeed()

    def next_task(self) -> Task | None:
        """The first task in the container whose dependencies are all complete."""
        for task in self.container:
            if task.open_deps == 0:
                return task
        return None


def build_fleet(scenario: Scenario, streams: Streams) -> list[Worker]:
    """Workers from ``[fleet]``: alike workers, ``groups`` or a ``roster`` file."""
    f = scenario.fleet
    if f.groups:
        return _from_groups(scenario, streams, [(None, g) for g in f.groups], keyed=False)
    if f.roster:
        from sim.roster import read_roster

        rows = read_roster(scenario.path(f.roster))
        return _from_groups(scenario, streams, [(r.label, r.group) for r in rows], keyed=True)
    n = f.workers
    if f.start == "hubs":
        starts = [f.hubs[i % len(f.hubs)] for i in range(n)]
    else:
        lat0, lon0 = scenario.region.center
        lat, lon = uniform_in_disk(streams.fleet, lat0, lon0, scenario.region.radius_m, n)
        starts = [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]
    return [
        Worker(
            i,
            f.teams[i % len(f.teams)],
            f.vehicle,
            f.speed_mps,
            f.capacity,
            f.shift_start_h * 3600.0,
            f.shift_end_h * 3600.0,
            starts[i][0],
            starts[i][1],
        )
        for i in range(n)
    ]


def _from_groups(
    scenario: Scenario,
    streams: Streams,
    groups: list[tuple[str | None, FleetGroup]],
    keyed: bool,
) -> list[Worker]:
    """Workers of each group in turn.  Random starts come from a stream per group (per
    roster id when ``keyed``), so a worker added to one group moves no other worker."""
    lat0, lon0 = scenario.region.center
    radius = scenario.region.radius_m
    base = int(streams.fleet.integers(2**62))  # the first draw: the same for every fleet
    out: list[Worker] = []
    for g_index, (label, g) in enumerate(groups):
        key = zlib.crc32(label.encode()) if keyed and label is not None else g_index
        if g.start_hub is None:
            rng = np.random.default_rng([base, key])
            lat, lon = uniform_in_disk(rng, lat0, lon0, radius, g.count)
        for k in range(g.count):
            start = g.start_hub or (float(lat[k]), float(lon[k]))
            w = Worker(
                len(out),
                g.team,
                g.vehicle,
                g.speed_mps,
                g.capacity,
                g.shift_start_h * 3600.0,
                g.shift_end_h * 3600.0,
                start[0],
                start[1],
            )
            if label is not None:
                w.name = label
            w.breaks = sorted((b.start_h * 3600.0, b.minutes * 60.0) for b in g.breaks)
            w.end_hub = g.end_hub
            out.append(w)
    return out


def worker(env: simpy.Environment, w: Worker, m: Model) -> Generator[simpy.Event, Any, None]:
    """The life of one worker over its shift."""
    if w.shift_start_s > env.now:
        yield env.timeout(w.shift_start_s - env.now)
    m.duty_on(w)
    end_timer = env.timeout(max(0.0, w.shift_end_s - env.now))
    end_timer.callbacks.append(lambda _ev: w.notify())
    for start_s, _ in w.breaks:  # an idle worker wakes up for its break
        if start_s > env.now:
            env.timeout(start_s - env.now).callbacks.append(lambda _ev: w.notify())
    while env.now < w.shift_end_s:
        if w.breaks and w.breaks[0][0] <= env.now:
            _, length_s = w.breaks.pop(0)
            m.break_start(w, length_s)
            yield env.timeout(length_s)
            m.break_end(w)
            continue
        task = m.take_next(w)
        if task is None:
            w.wake = env.event()
            yield w.wake
            w.wake = None
            continue
        _, travel_s = m.start_task(w, task)
        if travel_s > 0:
            yield env.timeout(travel_s)
        m.arrive(w, task)
        wait = task.complete_after_s - env.now
        if wait > 0:  # NaN compares False: no window, no wait
            yield env.timeout(wait)
        if task.service_s > 0:
            yield env.timeout(task.service_s)
        w.busy_s += travel_s + task.service_s
        m.complete(w, task)
    if w.end_hub is not None:
        return_s = m.head_home(w)
        if return_s > 0:
            yield env.timeout(return_s)
        m.arrive_home(w)
    m.duty_off(w)
