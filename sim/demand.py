"""Demand: the merchant's orders and the tasks they become.

Concepts held here: Poisson arrivals at a constant rate or an hourly profile, order kinds
(dropoff only, pickup→dropoff, and Nash's three batch patterns), places (uniform in the
region or around hotspots), service-time distributions, and turning real order history
(read by ``sim.history``) into tasks.  The random streams live in ``sim.rng``.

Windows: ``complete_after`` applies to an order's first stops (its pickups, or the dropoff
of a dropoff-only order: the goods are ready then); ``complete_before`` applies to the
dropoffs (the promise made to the customer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sim.geo import FloatArray, around_hotspots, uniform_in_disk
from sim.history import HistoryGroup, group_orders, read_history
from sim.rng import Streams
from sim.scenario import Places, Scenario, Service
from sim.tasks import Task

DROPOFF, PICKUP_DROPOFF, ONE_TO_MANY, MANY_TO_ONE, MANY_TO_MANY = range(5)


@dataclass(frozen=True, slots=True)
class Order:
    """A merchant order: when it arrived and the ids of the tasks it became."""

    order_id: int
    ordered_s: float
    kind: int
    task_ids: tuple[int, ...]
    # When the merchant cancels it (demand.cancel), NaN if never.
    cancel_s: float = math.nan


def arrival_times(
    rng: np.random.Generator, rate_per_h: float, profile_per_h: list[float], duration_s: float
) -> FloatArray:
    """A Poisson process on [0, duration_s): constant rate, or piecewise by hour."""
    rates = profile_per_h or [rate_per_h]
    times: list[FloatArray] = []
    n_hours = math.ceil(duration_s / 3600.0)
    for h in range(n_hours):
        rate = rates[h] if profile_per_h else rates[0]
        lo = h * 3600.0
        hi = min(duration_s, lo + 3600.0)
        n = int(rng.poisson(rate * (hi - lo) / 3600.0))
        times.append(np.sort(rng.uniform(lo, hi, n)))
    return np.concatenate(times) if times else np.zeros(0)


def sample_service(rng: np.random.Generator, spec: Service, n: int) -> FloatArray:
    """``n`` service times (seconds) from the scenario's distribution."""
    if spec.kind == "fixed":
        return np.full(n, spec.mean_s)
    if spec.kind == "exponential":
        return rng.exponential(spec.mean_s, n)
    if spec.kind == "lognormal":
        assert spec.sd_s is not None
        sigma2 = math.log1p((spec.sd_s / spec.mean_s) ** 2)
        mu = math.log(spec.mean_s) - sigma2 / 2.0
        return rng.lognormal(mu, math.sqrt(sigma2), n)
    return rng.choice(np.asarray(spec.values_s, dtype=np.float64), n)


def sample_places(
    rng: np.random.Generator, places: Places, scenario: Scenario, n: int
) -> tuple[FloatArray, FloatArray]:
    if places.kind == "hotspots":
        hs = places.hotspots
        return around_hotspots(
            rng,
            [(h.lat, h.lon) for h in hs],
            np.array([h.weight for h in hs]),
            np.array([h.spread_m for h in hs]),
            n,
        )
    lat0, lon0 = scenario.region.center
    return uniform_in_disk(rng, lat0, lon0, scenario.region.radius_m, n)


@dataclass(frozen=True, slots=True)
class Stop:
    """One task of a general order: ``deps`` index earlier stops of the same order."""

    is_pickup: bool
    lat: float
    lon: float
    service_s: float
    after_s: float
    before_s: float
    deps: tuple[int, ...]


def _kind(n_pick: int, n_drop: int) -> int:
    if n_pick == 0:
        return DROPOFF
    if n_pick == 1:
        return PICKUP_DROPOFF if n_drop == 1 else ONE_TO_MANY
    return MANY_TO_ONE if n_drop == 1 else MANY_TO_MANY


class _Builder:
    """Appends tasks in id order while keeping families and dependencies consistent."""

    def __init__(self, scenario: Scenario, streams: Streams) -> None:
        self.scenario = scenario
        self.streams = streams
        self.tasks: list[Task] = []
        self.orders: list[Order] = []

    def add_order(
        self,
        ordered_s: float,
        kind: int,
        pickups: list[tuple[float, float, float]],
        dropoffs: list[tuple[float, float, float]],
        after_s: float,
        before_s: float,
    ) -> None:
        """Pickups and dropoffs are ``(lat, lon, service_s)``; dropoffs depend on pickups."""
        order_id = len(self.orders)
        first = len(self.tasks)
        qty = self.scenario.demand.quantity
        pick_ids: list[int] = []
        for lat, lon, service in pickups:
            tid = len(self.tasks)
            self.tasks.append(
                Task(
                    tid,
                    order_id,
                    order_id,
                    True,
                    lat,
                    lon,
                    qty,
                    service,
                    after_s,
                    math.nan,
                    (),
                    ordered_s,
                    0.0,
                )
            )
            pick_ids.append(tid)
        for j, (lat, lon, service) in enumerate(dropoffs):
            tid = len(self.tasks)
            if kind in (MANY_TO_MANY, MANY_TO_ONE):
                deps = tuple(pick_ids)
            elif pick_ids:
                deps = (pick_ids[min(j, len(pick_ids) - 1)],)
            else:
                deps = ()
            task_after = math.nan if pick_ids else after_s
            task = Task(
                tid,
                order_id,
                order_id,
                False,
                lat,
                lon,
                qty,
                service,
                task_after,
                before_s,
                deps,
                ordered_s,
                0.0,
            )
            self.tasks.append(task)
            for d in deps:
                self.tasks[d].dependents.append(task)
        self.orders.append(Order(order_id, ordered_s, kind, tuple(range(first, len(self.tasks)))))

    def add_stops(self, ordered_s: float, kind: int, stops: list[Stop]) -> None:
        """A general order: each stop names the stops (indices into ``stops``, earlier in
        the list) it depends on, so any DAG of pickups and dropoffs can be expressed."""
        order_id = len(self.orders)
        first = len(self.tasks)
        qty = self.scenario.demand.quantity
        for st in stops:
            tid = len(self.tasks)
            deps = tuple(first + j for j in st.deps)
            task = Task(
                tid,
                order_id,
                order_id,
                st.is_pickup,
                st.lat,
                st.lon,
                qty,
                st.service_s,
                st.after_s,
                st.before_s,
                deps,
                ordered_s,
                0.0,
            )
            self.tasks.append(task)
            for d in deps:
                self.tasks[d].dependents.append(task)
        self.orders.append(Order(order_id, ordered_s, kind, tuple(range(first, len(self.tasks)))))

    def finish(self) -> tuple[list[Task], list[Order]]:
        draws = self.streams.failures.random(len(self.tasks))
        for task, u in zip(self.tasks, draws, strict=True):
            task.failure_draw = float(u)
        cancel = self.scenario.demand.cancel
        if cancel.probability > 0 and self.orders:
            # One draw and one delay per order, in order: common random numbers.
            u = self.streams.cancels.random(len(self.orders))
            delay = sample_service(self.streams.cancels, cancel.delay, len(self.orders))
            self.orders = [
                replace(o, cancel_s=o.ordered_s + float(d)) if float(x) < cancel.probability else o
                for o, x, d in zip(self.orders, u, delay, strict=True)
            ]
        if self.scenario.failures.no_show_probability > 0:
            no_show = self.streams.no_shows.random(len(self.tasks))
            for task, u in zip(self.tasks, no_show, strict=True):
                task.no_show_draw = float(u)
        return self.tasks, self.orders


def _window(ordered_s: float, scenario: Scenario) -> tuple[float, float]:
    w = scenario.demand.window
    after = math.nan if w.complete_after_min is None else ordered_s + 60 * w.complete_after_min
    before = math.nan if w.complete_before_min is None else ordered_s + 60 * w.complete_before_min
    return after, before


def generate_orders(scenario: Scenario, streams: Streams) -> tuple[list[Task], list[Order]]:
    """Orders and their tasks from the scenario's generative demand model."""
    d = scenario.demand
    duration_s = scenario.scenario.duration_h * 3600.0
    times = arrival_times(streams.arrivals, d.rate_per_h, d.rate_profile_per_h, duration_s)
    n = times.size
    w = np.asarray(d.mix.weights())
    kinds = streams.kinds.choice(5, size=n, p=w / w.sum())
    sizes = streams.kinds.integers(d.stops_min, d.stops_max + 1, size=n)
    n_pick = np.select(
        [kinds == DROPOFF, kinds == PICKUP_DROPOFF, kinds == ONE_TO_MANY], [0, 1, 1], default=sizes
    )
    n_drop = np.select(
        [kinds == DROPOFF, kinds == PICKUP_DROPOFF, kinds == MANY_TO_ONE], [1, 1, 1], default=sizes
    )
    tot_p, tot_d = int(n_pick.sum()), int(n_drop.sum())
    plat, plon = sample_places(streams.places, d.pickups, scenario, tot_p)
    dlat, dlon = sample_places(streams.places, d.dropoffs, scenario, tot_d)
    psvc = sample_service(streams.service, d.pickup_service or d.service, tot_p)
    dsvc = sample_service(streams.service, d.service, tot_d)
    b = _Builder(scenario, streams)
    ip = idr = 0
    for k in range(n):
        t = float(times[k])
        kind = int(kinds[k])
        np_, nd = int(n_pick[k]), int(n_drop[k])
        pickups = [
            (float(plat[ip + j]), float(plon[ip + j]), float(psvc[ip + j])) for j in range(np_)
        ]
        dropoffs = [
            (float(dlat[idr + j]), float(dlon[idr + j]), float(dsvc[idr + j])) for j in range(nd)
        ]
        ip += np_
        idr += nd
        after, before = _window(t, scenario)
        b.add_order(t, kind, pickups, dropoffs, after, before)
    return b.finish()


def read_orders_csv(scenario: Scenario, streams: Streams) -> tuple[list[Task], list[Order]]:
    """Orders from a CSV of real order history (see scenarios/README.md for the columns)."""
    rows = read_history(scenario.csv_path(), scenario.scenario.start.timestamp())
    d = scenario.demand
    svc = sample_service(streams.service, d.service, len(rows))
    psvc = sample_service(streams.service, d.pickup_service or d.service, len(rows))
    # Service draws stay keyed by the row's place in creation order, as before orders
    # could span several rows, so single-row files give the same runs as ever.
    draw = {id(r): i for i, r in enumerate(rows)}
    b = _Builder(scenario, streams)
    for group in sorted(group_orders(rows), key=lambda g: (g.created_s, draw[id(g.rows[0])])):
        services = []
        for r in group.rows:
            i = draw[id(r)]
            s = float(svc[i]) if math.isnan(r.service_s) else r.service_s
            ps = float(psvc[i]) if math.isnan(r.pickup_service_s) else r.pickup_service_s
            services.append((s, ps))
        if len(group.rows) == 1:
            r, (s, ps) = group.rows[0], services[0]
            b.add_order(
                r.created_s,
                PICKUP_DROPOFF if r.pickup else DROPOFF,
                [(r.pickup[0], r.pickup[1], ps)] if r.pickup else [],
                [(r.dropoff[0], r.dropoff[1], s)],
                r.complete_after_s,
                r.complete_before_s,
            )
            continue
        b.add_stops(group.created_s, _group_kind(group), _group_stops(group, services))
    return b.finish()


def _group_kind(group: HistoryGroup) -> int:
    return _kind(sum(r.pickup is not None for r in group.rows), len(group.rows))


def _group_stops(group: HistoryGroup, services: list[tuple[float, float]]) -> list[Stop]:
    """A multi-row order's tasks: each row's pickup (if any) then its dropoff, which waits
    for that pickup; a row's first task waits for the dropoffs of the rows it waits for."""
    stops: list[Stop] = []
    last: list[int] = []  # per row: the index of its dropoff
    for r, waits, (s, ps) in zip(group.rows, group.waits_for, services, strict=True):
        before_rows = tuple(last[j] for j in waits)
        if r.pickup is not None:
            stops.append(
                Stop(True, r.pickup[0], r.pickup[1], ps, r.complete_after_s, math.nan, before_rows)
            )
            deps: tuple[int, ...] = (len(stops) - 1,)
            after = math.nan
        else:
            deps, after = before_rows, r.complete_after_s
        stops.append(Stop(False, r.dropoff[0], r.dropoff[1], s, after, r.complete_before_s, deps))
        last.append(len(stops) - 1)
    return stops


def build_demand(scenario: Scenario, streams: Streams) -> tuple[list[Task], list[Order]]:
    if scenario.demand.source == "csv":
        return read_orders_csv(scenario, streams)
    return generate_orders(scenario, streams)
