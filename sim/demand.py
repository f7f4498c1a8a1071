"""Demand: the merchant's orders and the tasks they become.

Concepts held here: the run's random streams (one child generator per purpose, so that
changing the fleet or the policy leaves the demand unchanged -- common random numbers),
Poisson arrivals at a constant rate or an hourly profile, order kinds (dropoff only,
pickup→dropoff, and Nash's three batch patterns), places (uniform in the region or around
hotspots), service-time distributions, and reading real order history from a CSV.

Windows: ``complete_after`` applies to an order's first stops (its pickups, or the dropoff
of a dropoff-only order: the goods are ready then); ``complete_before`` applies to the
dropoffs (the promise made to the customer).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np

from sim.errors import ScenarioError
from sim.geo import FloatArray, around_hotspots, uniform_in_disk, validate_lat_lon
from sim.scenario import Places, Scenario, Service
from sim.tasks import Task

# Fixed stream ids: adding a stream never shifts the others.
_STREAM_IDS: Final = {
    "arrivals": 1,
    "kinds": 2,
    "places": 3,
    "service": 4,
    "failures": 5,
    "fleet": 6,
}

DROPOFF, PICKUP_DROPOFF, ONE_TO_MANY, MANY_TO_ONE, MANY_TO_MANY = range(5)
KIND_NAMES: Final = (
    "dropoff",
    "pickup_dropoff",
    "single_pickup_multi_dropoff",
    "multi_pickup_single_dropoff",
    "multi_pickup_multi_dropoff",
)


@dataclass(frozen=True, slots=True)
class Streams:
    """One generator per purpose, all children of the run's seed."""

    arrivals: np.random.Generator
    kinds: np.random.Generator
    places: np.random.Generator
    service: np.random.Generator
    failures: np.random.Generator
    fleet: np.random.Generator


def make_streams(seed: int) -> Streams:
    return Streams(
        **{name: np.random.default_rng([seed, sid]) for name, sid in _STREAM_IDS.items()}
    )


@dataclass(frozen=True, slots=True)
class Order:
    """A merchant order: when it arrived and the ids of the tasks it became."""

    order_id: int
    ordered_s: float
    kind: int
    task_ids: tuple[int, ...]


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

    def finish(self) -> tuple[list[Task], list[Order]]:
        draws = self.streams.failures.random(len(self.tasks))
        for task, u in zip(self.tasks, draws, strict=True):
            task.failure_draw = float(u)
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


# --- CSV order history -------------------------------------------------------------------

_CSV_REQUIRED: Final = ("dropoff_lat", "dropoff_lon")
_CSV_KNOWN: Final = frozenset(
    {
        "created_s",
        "created_at",
        "pickup_lat",
        "pickup_lon",
        "dropoff_lat",
        "dropoff_lon",
        "complete_after_s",
        "complete_after_at",
        "complete_before_s",
        "complete_before_at",
        "service_s",
        "pickup_service_s",
        "order_id",
    }
)


class _Row:
    def __init__(self, path: str, line: int, row: dict[str, str], start_s: float) -> None:
        self.where = f"{path} line {line}"
        self.row = row
        self.start_s = start_s

    def _err(self, col: str, value: str, allowed: str) -> ScenarioError:
        return ScenarioError(f"{self.where}: {col} = {value!r}: {allowed}")

    def num(self, col: str, *, required: bool = False) -> float:
        value = (self.row.get(col) or "").strip()
        if not value:
            if required:
                raise self._err(col, value, "a number is required")
            return math.nan
        try:
            x = float(value)
        except ValueError:
            raise self._err(col, value, "expected a number") from None
        if not math.isfinite(x):
            raise self._err(col, value, "expected a finite number")
        return x

    def time(self, base: str, *, required: bool = False) -> float:
        """Seconds from the scenario start, from ``<base>_s`` or ISO ``<base>_at``."""
        at = (self.row.get(f"{base}_at") or "").strip()
        if at:
            try:
                dt = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise self._err(f"{base}_at", at, "expected an ISO-8601 timestamp") from None
            if dt.tzinfo is None:
                raise self._err(f"{base}_at", at, "needs a UTC offset, e.g. 2026-01-05T11:00Z")
            return dt.timestamp() - self.start_s
        x = self.num(f"{base}_s")
        if math.isnan(x) and required:
            raise self._err(f"{base}_s", "", f"{base}_s or {base}_at is required")
        return x

    def point(self, side: str, *, required: bool) -> tuple[float, float] | None:
        lat = self.num(f"{side}_lat", required=required)
        lon = self.num(f"{side}_lon", required=required)
        if math.isnan(lat) and math.isnan(lon):
            return None
        if math.isnan(lat) or math.isnan(lon):
            raise ScenarioError(
                f"{self.where}: {side}_lat and {side}_lon go together; give both or neither"
            )
        reason = validate_lat_lon(lat, lon)
        if reason:
            raise ScenarioError(f"{self.where}: {side}: {reason}")
        return lat, lon


def read_orders_csv(scenario: Scenario, streams: Streams) -> tuple[list[Task], list[Order]]:
    """Orders from a CSV of real order history (see scenarios/README.md for the columns)."""
    path = scenario.csv_path()
    start_s = scenario.scenario.start.timestamp()
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"demand.csv: cannot open {str(path)!r}: {exc.strerror}") from None
    rows: list[
        tuple[
            float, int, tuple[float, float] | None, tuple[float, float], float, float, float, float
        ]
    ] = []
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in _CSV_REQUIRED if c not in header]
        if missing or not ({"created_s", "created_at"} & set(header)):
            need = [*missing] + (
                [] if {"created_s", "created_at"} & set(header) else ["created_s or created_at"]
            )
            raise ScenarioError(
                f"{path} line 1: missing column(s) {', '.join(need)}; header is {header!r}"
            )
        unknown = sorted(set(header) - _CSV_KNOWN)
        if unknown:
            raise ScenarioError(
                f"{path} line 1: unknown column(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_CSV_KNOWN))}"
            )
        try:
            for line, raw in enumerate(reader, start=2):
                r = _Row(str(path), line, raw, start_s)
                created = r.time("created", required=True)
                if created < 0:
                    raise r._err(
                        "created", str(created), "is before the scenario start (scenario.start)"
                    )
                pick = r.point("pickup", required=False)
                drop = r.point("dropoff", required=True)
                assert drop is not None
                after, before = r.time("complete_after"), r.time("complete_before")
                if not math.isnan(after) and not math.isnan(before) and before <= after:
                    raise ScenarioError(f"{r.where}: complete_before must be after complete_after")
                rows.append(
                    (
                        created,
                        line,
                        pick,
                        drop,
                        after,
                        before,
                        r.num("service_s"),
                        r.num("pickup_service_s"),
                    )
                )
        except csv.Error as exc:
            raise ScenarioError(f"{path} line {reader.line_num}: unreadable CSV: {exc}") from None
    if not rows:
        raise ScenarioError(f"{path}: no orders (only a header)")
    rows.sort(key=lambda x: (x[0], x[1]))
    d = scenario.demand
    svc = sample_service(streams.service, d.service, len(rows))
    psvc = sample_service(streams.service, d.pickup_service or d.service, len(rows))
    b = _Builder(scenario, streams)
    for i, (created, _, pick, drop, after, before, s, ps) in enumerate(rows):
        s = float(svc[i]) if math.isnan(s) else s
        ps = float(psvc[i]) if math.isnan(ps) else ps
        pickups = [(pick[0], pick[1], ps)] if pick else []
        kind = PICKUP_DROPOFF if pick else DROPOFF
        b.add_order(created, kind, pickups, [(drop[0], drop[1], s)], after, before)
    return b.finish()


def build_demand(scenario: Scenario, streams: Streams) -> tuple[list[Task], list[Order]]:
    if scenario.demand.source == "csv":
        return read_orders_csv(scenario, streams)
    return generate_orders(scenario, streams)
