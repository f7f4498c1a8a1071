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
from dataclasses import dataclass, fields, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from sim.geo import FloatArray, around_hotspots, uniform_in_disk
from sim.history import HistoryGroup, group_orders, read_history
from sim.rng import Streams
from sim.scenario import Places, Scenario, Service
from sim.tasks import Task

DROPOFF, PICKUP_DROPOFF, ONE_TO_MANY, MANY_TO_ONE, MANY_TO_MANY = range(5)
IntArray = npt.NDArray[np.int64]


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
        return _finish(self.scenario, self.streams, self.tasks, self.orders)


def _finish(
    scenario: Scenario, streams: Streams, tasks: list[Task], orders: list[Order]
) -> tuple[list[Task], list[Order]]:
    """The per-task and per-order draws made once the demand is known: failures, then
    cancellations and no-shows, each from its own stream (common random numbers)."""
    for task, u in zip(tasks, streams.failures.random(len(tasks)).tolist(), strict=True):
        task.failure_draw = u
    cancel = scenario.demand.cancel
    if cancel.probability > 0 and orders:
        # One draw and one delay per order, in order: common random numbers.
        u = streams.cancels.random(len(orders))
        delay = sample_service(streams.cancels, cancel.delay, len(orders))
        orders = [
            replace(o, cancel_s=o.ordered_s + float(d)) if float(x) < cancel.probability else o
            for o, x, d in zip(orders, u, delay, strict=True)
        ]
    if scenario.failures.no_show_probability > 0:
        no_show = streams.no_shows.random(len(tasks)).tolist()
        for task, v in zip(tasks, no_show, strict=True):
            task.no_show_draw = v
    return tasks, orders


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
    tasks, orders = _tasks_of_orders(
        scenario, times, kinds, n_pick, n_drop, (plat, plon, psvc), (dlat, dlon, dsvc)
    )
    return _finish(scenario, streams, tasks, orders)


def _tasks_of_orders(
    scenario: Scenario,
    times: FloatArray,
    kinds: IntArray,
    n_pick: IntArray,
    n_drop: IntArray,
    pickups: tuple[FloatArray, FloatArray, FloatArray],
    dropoffs: tuple[FloatArray, FloatArray, FloatArray],
) -> tuple[list[Task], list[Order]]:
    """Orders and their tasks, built column by column with numpy.

    Each order's tasks are its pickups then its dropoffs, ids in order; the ``k``-th
    pickup (dropoff) of the day takes the ``k``-th pickup (dropoff) place and service
    draw.  A dropoff waits for every pickup of a many-pickup order, for the matching
    pickup otherwise (the last one when there are more dropoffs), and for none in a
    dropoff-only order.  Windows are ``demand.window``'s minutes after the order.
    """
    n = times.size
    size = n_pick + n_drop
    total = int(size.sum())
    first = np.zeros(n, dtype=np.int64)
    np.cumsum(size[:-1], out=first[1:])
    order_of = np.repeat(np.arange(n, dtype=np.int64), size)
    j = np.arange(total, dtype=np.int64) - first[order_of]  # place within its order
    picks_of = n_pick[order_of]
    is_pickup = j < picks_of
    # Index of each task into the pickup (dropoff) draws: running count of its kind.
    pick_first = np.cumsum(n_pick) - n_pick
    drop_first = np.cumsum(n_drop) - n_drop
    k_pick = pick_first[order_of] + j
    k_drop = drop_first[order_of] + (j - picks_of)
    lat = np.empty(total)
    lon = np.empty(total)
    svc = np.empty(total)
    for out, p_col, d_col in zip((lat, lon, svc), pickups, dropoffs, strict=True):
        out[is_pickup] = p_col[k_pick[is_pickup]]
        out[~is_pickup] = d_col[k_drop[~is_pickup]]
    w = scenario.demand.window
    nan = np.full(n, np.nan)
    after_o = nan if w.complete_after_min is None else times + 60 * w.complete_after_min
    before_o = nan if w.complete_before_min is None else times + 60 * w.complete_before_min
    # Pickups carry the order's complete_after; a dropoff does only without pickups.
    after = np.where(is_pickup | (picks_of == 0), after_o[order_of], np.nan)
    before = np.where(is_pickup, np.nan, before_o[order_of])

    deps: list[tuple[int, ...]] = [()] * total
    single = ~is_pickup & (picks_of > 0)
    many = np.isin(kinds, (MANY_TO_MANY, MANY_TO_ONE))
    single &= ~many[order_of]
    # The matching pickup, or the last one when there are more dropoffs than pickups.
    dep_id = first[order_of] + np.minimum(j - picks_of, picks_of - 1)
    for tid, dep in zip(np.flatnonzero(single).tolist(), dep_id[single].tolist(), strict=True):
        deps[tid] = (dep,)
    for k in np.flatnonzero(many).tolist():
        lo, p = int(first[k]), int(n_pick[k])
        all_picks = tuple(range(lo, lo + p))
        for tid in range(lo + p, lo + int(size[k])):
            deps[tid] = all_picks

    qty = scenario.demand.quantity
    order_l = order_of.tolist()
    ordered = times[order_of].tolist()
    tasks = [
        Task(tid, o, o, p, la, lo, qty, sv, af, bf, dp, od, 0.0)
        for tid, o, p, la, lo, sv, af, bf, dp, od in zip(
            range(total),
            order_l,
            is_pickup.tolist(),
            lat.tolist(),
            lon.tolist(),
            svc.tolist(),
            after.tolist(),
            before.tolist(),
            deps,
            ordered,
            strict=True,
        )
    ]
    for task in tasks:
        for dep in task.dependencies:
            tasks[dep].dependents.append(task)
    ends = (first + size).tolist()
    orders = many_orders(times.tolist(), kinds.tolist(), first.tolist(), ends)
    return tasks, orders


def many_orders(
    times: list[float], kinds: list[int], firsts: list[int], ends: list[int]
) -> list[Order]:
    """Orders ``0..n-1`` (never cancelled), equal to ``Order(k, times[k], kinds[k],
    tuple(range(firsts[k], ends[k])))``.

    Built through the slots' own setters: a frozen dataclass's ``__init__`` sets each
    field with ``object.__setattr__``, which made an order cost ~2.8 µs, a third of a
    second for a 100,000-order day; the setters do the same stores at a third of that.
    """
    new = object.__new__
    set_id, set_time, set_kind, set_ids, set_cancel = _ORDER_SETTERS
    nan = math.nan
    orders: list[Order] = []
    append = orders.append
    for k, (t, kind, lo, hi) in enumerate(zip(times, kinds, firsts, ends, strict=True)):
        o = new(Order)
        set_id(o, k)
        set_time(o, t)
        set_kind(o, kind)
        set_ids(o, tuple(range(lo, hi)))
        set_cancel(o, nan)
        append(o)
    return orders


_ORDER_SETTERS: Final = tuple(getattr(Order, f.name).__set__ for f in fields(Order))


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
