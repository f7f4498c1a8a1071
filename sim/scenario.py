"""Scenario files: the TOML a planner edits, validated once into frozen, typed objects.

Concepts held here: the scenario schema (one pydantic model per TOML table), its
cross-field rules and the scenario hash.  Reading files, ``--set`` overrides and error
text live in :mod:`sim.scenario_io`; nothing past that edge sees raw dicts.  The format
is documented in ``scenarios/README.md``.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sim.geo import validate_lat_lon

Vehicle = Literal["CAR", "BICYCLE", "MOTORCYCLE", "TRUCK"]
Policy = Literal["distance", "load", "queue", "none", "optimise"]
SubmissionMode = Literal["single", "batch", "batch-async"]

#: Default vehicle speeds in km/h (urban averages), overridable by ``fleet.speed_kmh``.
VEHICLE_SPEED_KMH: dict[str, float] = {
    "CAR": 30.0,
    "BICYCLE": 15.0,
    "MOTORCYCLE": 35.0,
    "TRUCK": 25.0,
}
#: Onfleet's own batch limit (API-NOTES §1.6).
MAX_BATCH = 500

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
LatLon = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a time zone the system's tz database knows (``UTC``,
    ``Europe/Berlin``); paths and empty names are not."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes ("missing" when it cannot be read), remembered per path,
    size and modification time so a sweep does not hash a large matrix per variant."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        with path.open("rb") as fh:
            digest = _DIGESTS[key] = hashlib.file_digest(fh, "sha256").hexdigest()
    return digest


def resolve_path(base_dir: str, p: str) -> Path:
    """``p`` as given when absolute, else relative to ``base_dir`` (the scenario's folder)."""
    path = Path(p)
    return path if path.is_absolute() else Path(base_dir) / path


def _check_point(value: LatLon) -> LatLon:
    reason = validate_lat_lon(value[0], value[1])
    if reason:
        raise ValueError(f"{reason} (points are [latitude, longitude])")
    return value


class ScenarioMeta(_Model):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    seed: Annotated[int, Field(ge=0)] = 0
    start: datetime = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    duration_h: PositiveFloat = 2.0
    drain_h: NonNegFloat = 4.0
    #: The IANA time zone reports show clock times in (``Europe/Berlin``).  Display only:
    #: ``start`` fixes the instant, so the zone is left out of the scenario hash.
    timezone: str = "UTC"

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if not is_time_zone(v):
            raise ValueError(
                "not a known IANA time zone; use a name such as 'UTC', 'Europe/Berlin' "
                "or 'America/Chicago'"
            )
        return v


class Region(_Model):
    center: LatLon
    radius_m: PositiveFloat = 5000.0

    @field_validator("center")
    @classmethod
    def _centre(cls, v: LatLon) -> LatLon:
        return _check_point(v)


class Break(_Model):
    """A scheduled break: ``start_h`` hours from the scenario start, ``minutes`` long.

    In TOML and the roster CSV it may be written ``"START_H+MINUTES"`` (``"2.5+30"``)."""

    start_h: NonNegFloat
    minutes: PositiveFloat

    @model_validator(mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        if isinstance(v, str):
            return parse_break(v)
        return v


def parse_break(text: str) -> dict[str, float]:
    """``"2.5+30"`` -> ``{"start_h": 2.5, "minutes": 30.0}``; a clear ValueError otherwise."""
    start, plus, minutes = text.strip().partition("+")
    try:
        if not plus:
            raise ValueError
        out = {"start_h": float(start), "minutes": float(minutes)}
    except ValueError:
        raise ValueError(
            f"break {text!r} is not START_H+MINUTES (hours from the scenario start, "
            "then the length in minutes, e.g. '2.5+30')"
        ) from None
    if not (math.isfinite(out["start_h"]) and out["start_h"] >= 0):
        raise ValueError(f"break {text!r}: start must be a number of hours >= 0")
    if not (math.isfinite(out["minutes"]) and out["minutes"] > 0):
        raise ValueError(f"break {text!r}: minutes must be > 0")
    return out


def _check_breaks(breaks: list[Break], start_h: float, end_h: float) -> None:
    last = -math.inf
    for b in sorted(breaks, key=lambda b: b.start_h):
        if not start_h <= b.start_h < end_h:
            raise ValueError(f"break at {b.start_h} h is outside the shift [{start_h}, {end_h}) h")
        if b.start_h < last:
            raise ValueError(f"break at {b.start_h} h overlaps the previous break")
        last = b.start_h + b.minutes / 60.0


class FleetGroup(_Model):
    """``[[fleet.groups]]``: ``count`` workers sharing a vehicle, a shift and hubs."""

    count: Annotated[int, Field(ge=1, le=100_000)]
    vehicle: Vehicle = "CAR"
    speed_kmh: PositiveFloat | None = None
    capacity: PositiveFloat = 10.0
    team: Annotated[str, Field(min_length=1)] = "default"
    shift_start_h: NonNegFloat = 0.0
    shift_end_h: PositiveFloat = 24.0
    breaks: list[Break] = []
    #: Where the group's workers start; none = random in the region (per-worker stream).
    start_hub: LatLon | None = None
    #: Where they drive back to at shift end (off duty on arrival); none = no return.
    end_hub: LatLon | None = None

    @field_validator("start_hub", "end_hub")
    @classmethod
    def _hub(cls, v: LatLon | None) -> LatLon | None:
        return None if v is None else _check_point(v)

    @model_validator(mode="after")
    def _shift(self) -> FleetGroup:
        if self.shift_end_h <= self.shift_start_h:
            raise ValueError(
                f"shift_end_h ({self.shift_end_h}) must be after shift_start_h "
                f"({self.shift_start_h})"
            )
        _check_breaks(self.breaks, self.shift_start_h, self.shift_end_h)
        return self

    @property
    def speed_mps(self) -> float:
        kmh = self.speed_kmh if self.speed_kmh is not None else VEHICLE_SPEED_KMH[self.vehicle]
        return kmh / 3.6


class Fleet(_Model):
    workers: Annotated[int, Field(ge=1, le=100_000)]
    vehicle: Vehicle = "CAR"
    speed_kmh: PositiveFloat | None = None
    capacity: PositiveFloat = 10.0
    teams: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = ["default"]
    shift_start_h: NonNegFloat = 0.0
    shift_end_h: PositiveFloat = 24.0
    start: Literal["random", "hubs"] = "random"
    hubs: list[LatLon] = []
    #: A mixed fleet: one table per group of alike workers (``workers`` is their total).
    groups: list[FleetGroup] = []
    #: A roster CSV, one row per worker (``sim.roster``); ``workers`` is its row count.
    roster: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _count_groups(cls, data: object) -> object:
        # With groups the fleet size is their total; stated as well, it must agree.
        if isinstance(data, dict) and data.get("groups") and "workers" not in data:
            counts = [g.get("count") if isinstance(g, dict) else None for g in data["groups"]]
            if all(isinstance(c, int) and c >= 1 for c in counts):
                data = {**data, "workers": sum(c for c in counts if isinstance(c, int))}
        return data

    @field_validator("hubs")
    @classmethod
    def _hubs(cls, v: list[LatLon]) -> list[LatLon]:
        return [_check_point(p) for p in v]

    @model_validator(mode="after")
    def _shift(self) -> Fleet:
        if self.shift_end_h <= self.shift_start_h:
            raise ValueError(
                f"shift_end_h ({self.shift_end_h}) must be after shift_start_h "
                f"({self.shift_start_h})"
            )
        if self.start == "hubs" and not self.hubs:
            raise ValueError("start = 'hubs' needs at least one entry in hubs")
        if self.groups and self.roster:
            raise ValueError("give either groups or roster, not both")
        total = sum(g.count for g in self.groups)
        if self.groups and self.workers != total:
            raise ValueError(
                f"workers = {self.workers} disagrees with the groups' counts (total {total}); "
                "leave workers out or change the group counts"
            )
        return self

    @property
    def speed_mps(self) -> float:
        kmh = self.speed_kmh if self.speed_kmh is not None else VEHICLE_SPEED_KMH[self.vehicle]
        return kmh / 3.6


TravelModelName = Literal["geodesic", "matrix", "osrm", "valhalla", "none"]


def _check_profile(v: list[float]) -> list[float]:
    if v and len(v) != 24:
        raise ValueError(f"needs 24 hourly multipliers (hour 0..23 UTC), got {len(v)}")
    return v


class Travel(_Model):
    model: TravelModelName = "geodesic"
    detour_factor: Annotated[float, Field(ge=1.0, le=5.0)] = 1.3
    speed_profile: list[PositiveFloat] = []
    #: Per-vehicle hourly profiles replacing ``speed_profile`` for that vehicle; an empty
    #: list means the vehicle is not slowed by traffic (``{ BICYCLE = [] }``).
    vehicle_profiles: dict[Vehicle, list[PositiveFloat]] = {}
    #: ``matrix``: the travel-time table (Parquet or CSV, ``sim.matrix``).
    matrix: str | None = None
    #: H3 resolution of the matrix's (or the routing engine's) cells.
    h3_resolution: Annotated[int, Field(ge=0, le=15)] = 8
    #: Vehicles the matrix or routing engine times apply to; others use the geodesic.
    matrix_vehicles: list[Vehicle] = ["CAR", "BICYCLE", "MOTORCYCLE", "TRUCK"]
    #: ``osrm``/``valhalla``: the routing engine's base URL (``http://127.0.0.1:5000``).
    engine_url: str | None = None
    #: OSRM's profile (default ``driving``) or Valhalla's costing (default ``auto``).
    engine_profile: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    #: Most coordinates in one table request (OSRM's default ``--max-table-size`` is 100).
    engine_batch: Annotated[int, Field(ge=2, le=10_000)] = 100
    engine_timeout_s: PositiveFloat = 30.0
    #: The on-disk cache of engine answers (relative paths from the scenario's folder).
    cache_dir: str = ".fleetsim-cache"

    @field_validator("speed_profile")
    @classmethod
    def _profile(cls, v: list[float]) -> list[float]:
        return _check_profile(v)

    @field_validator("vehicle_profiles")
    @classmethod
    def _profiles(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for p in v.values():
            _check_profile(p)
        return v

    @field_validator("engine_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("needs an http:// or https:// URL, e.g. 'http://127.0.0.1:5000'")
        return v.rstrip("/") if v is not None else v

    @model_validator(mode="after")
    def _need(self) -> Travel:
        if self.model == "matrix" and not self.matrix:
            raise ValueError("model = 'matrix' needs matrix = 'path/to/matrix.parquet' (or .csv)")
        if self.model in ("osrm", "valhalla") and not self.engine_url:
            raise ValueError(f"model = {self.model!r} needs engine_url = 'http://host:port'")
        return self


class Hotspot(_Model):
    lat: float
    lon: float
    weight: PositiveFloat = 1.0
    spread_m: PositiveFloat = 300.0

    @model_validator(mode="after")
    def _pos(self) -> Hotspot:
        _check_point((self.lat, self.lon))
        return self


class Places(_Model):
    kind: Literal["uniform", "hotspots"] = "uniform"
    hotspots: list[Hotspot] = []

    @model_validator(mode="after")
    def _need(self) -> Places:
        if self.kind == "hotspots" and not self.hotspots:
            raise ValueError("kind = 'hotspots' needs at least one entry in hotspots")
        return self


class Service(_Model):
    kind: Literal["fixed", "exponential", "lognormal", "empirical"] = "fixed"
    mean_s: PositiveFloat = 120.0
    sd_s: PositiveFloat | None = None
    values_s: list[NonNegFloat] = []

    @model_validator(mode="after")
    def _need(self) -> Service:
        if self.kind == "lognormal" and self.sd_s is None:
            raise ValueError("kind = 'lognormal' needs sd_s (and mean_s)")
        if self.kind == "empirical" and not self.values_s:
            raise ValueError("kind = 'empirical' needs a non-empty values_s list")
        return self


class Mix(_Model):
    """Relative weights of order kinds (they need not sum to 1)."""

    dropoff: NonNegFloat = 0.0
    pickup_dropoff: NonNegFloat = 1.0
    single_pickup_multi_dropoff: NonNegFloat = 0.0
    multi_pickup_single_dropoff: NonNegFloat = 0.0
    multi_pickup_multi_dropoff: NonNegFloat = 0.0

    @model_validator(mode="after")
    def _some(self) -> Mix:
        if sum(self.weights()) <= 0:
            raise ValueError("at least one order kind needs a positive weight")
        return self

    def weights(self) -> list[float]:
        return [
            self.dropoff,
            self.pickup_dropoff,
            self.single_pickup_multi_dropoff,
            self.multi_pickup_single_dropoff,
            self.multi_pickup_multi_dropoff,
        ]


class Window(_Model):
    complete_after_min: NonNegFloat | None = None
    complete_before_min: PositiveFloat | None = None

    @model_validator(mode="after")
    def _order(self) -> Window:
        a, b = self.complete_after_min, self.complete_before_min
        if a is not None and b is not None and b <= a:
            raise ValueError(f"complete_before_min ({b}) must be after complete_after_min ({a})")
        return self


class Cancel(_Model):
    """The merchant cancels an order before its pickup: with ``probability``, ``delay``
    after the order (a service-time style distribution; default exponential, 10 min)."""

    probability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    delay: Service = Service(kind="exponential", mean_s=600.0)


class Demand(_Model):
    source: Literal["generate", "csv"] = "generate"
    csv: str | None = None
    rate_per_h: NonNegFloat = 60.0
    rate_profile_per_h: list[NonNegFloat] = []
    mix: Mix = Mix()
    stops_min: Annotated[int, Field(ge=2, le=50)] = 2
    stops_max: Annotated[int, Field(ge=2, le=50)] = 4
    pickups: Places = Places()
    dropoffs: Places = Places()
    window: Window = Window()
    service: Service = Service()
    pickup_service: Service | None = None
    quantity: PositiveFloat = 1.0
    cancel: Cancel = Cancel()

    @model_validator(mode="after")
    def _check(self) -> Demand:
        if self.source == "csv" and not self.csv:
            raise ValueError("source = 'csv' needs csv = 'path/to/orders.csv'")
        if self.stops_max < self.stops_min:
            raise ValueError(f"stops_max ({self.stops_max}) is below stops_min ({self.stops_min})")
        return self


class Dispatch(_Model):
    policy: Policy = "distance"
    team: str | None = None
    max_assigned_task_count: Annotated[int, Field(ge=1)] | None = None
    consider_dependencies: bool = True
    excluded_worker_ids: list[Annotated[int, Field(ge=0)]] = []
    redispatch_s: PositiveFloat = 60.0
    queue_rule: Literal["oldest", "nearest"] = "oldest"
    #: ``optimise``: re-solve the routes this often (s), and whenever a batch lands.
    reoptimise_s: PositiveFloat = 600.0
    #: Wall-clock limit of one VROOM solve (s).
    solver_time_limit_s: Annotated[float, Field(gt=0, le=600)] = 1.0
    #: VROOM's search size: searches from different start heuristics, and local-search
    #: depth.  Small and fixed, so that a solve ends by itself well inside the time limit.
    solver_searches: Annotated[int, Field(ge=1, le=32)] = 1
    solver_depth: Annotated[int, Field(ge=1, le=5)] = 1
    #: ``distance``/``load``/``queue``: keep the order tasks were assigned in (``fifo``) or
    #: re-sequence a worker's route with the optimiser after each assignment.
    sequence: Literal["fifo", "optimise"] = "fifo"

    @model_validator(mode="after")
    def _sequence(self) -> Dispatch:
        if self.sequence == "optimise" and self.policy in ("none", "optimise"):
            raise ValueError(
                f"sequence = 'optimise' applies to the distance, load and queue policies; "
                f"policy '{self.policy}' "
                + ("assigns nothing" if self.policy == "none" else "already optimises routes")
            )
        return self


class Submission(_Model):
    mode: SubmissionMode = "single"
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH)] = MAX_BATCH
    flush_s: PositiveFloat = 60.0
    api_delay_s: NonNegFloat = 0.0
    batch_delay_per_task_s: NonNegFloat = 0.002
    rate_limit_rps: NonNegFloat = 20.0  # 0 = no limit
    async_tasks_per_s: PositiveFloat = 250.0
    poll_s: PositiveFloat = 2.0


class Failures(_Model):
    probability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    reasons: Annotated[list[str], Field(min_length=1)] = ["NO_ANSWER", "CANNOT_FIND", "CLOSED"]
    # The recipient is absent at the door: a dropoff fails with this Onfleet failureReason.
    # Distinct from the random failures above, and counted apart (tasks_no_show).
    no_show_probability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    no_show_reason: Annotated[str, Field(min_length=1)] = "NO_ANSWER"


class VehicleCost(_Model):
    wage_per_h: NonNegFloat | None = None
    cost_per_km: NonNegFloat | None = None


class Cost(_Model):
    """What the fleet costs: a wage per paid worker-hour (time on duty, whether busy or
    not) and a running cost per km driven, each overridable per vehicle type.

    The defaults are placeholders [inf] so that the cost KPIs are never silently zero; a
    planner sets their own."""

    wage_per_h: NonNegFloat = 20.0
    cost_per_km: NonNegFloat = 0.25
    by_vehicle: dict[Vehicle, VehicleCost] = {}

    def wage(self, vehicle: str) -> float:
        v = self.by_vehicle.get(vehicle)  # type: ignore[call-overload]
        return self.wage_per_h if v is None or v.wage_per_h is None else v.wage_per_h

    def per_km(self, vehicle: str) -> float:
        v = self.by_vehicle.get(vehicle)  # type: ignore[call-overload]
        return self.cost_per_km if v is None or v.cost_per_km is None else v.cost_per_km


class Scenario(_Model):
    """A validated scenario; build it with :func:`load_scenario` or :func:`parse_scenario`."""

    scenario: ScenarioMeta
    region: Region
    fleet: Fleet
    travel: Travel = Travel()
    demand: Demand = Demand()
    dispatch: Dispatch = Dispatch()
    submission: Submission = Submission()
    failures: Failures = Failures()
    cost: Cost = Cost()
    #: Where relative paths (``demand.csv``) resolve from; not part of the hash.
    base_dir: Annotated[str, Field(exclude=True)] = "."

    @model_validator(mode="before")
    @classmethod
    def _roster_size(cls, data: object) -> object:
        # A roster's row count is the fleet size: read (and checked) here, at the edge.
        if not isinstance(data, dict):
            return data
        fleet = data.get("fleet")
        if not isinstance(fleet, dict) or not isinstance(fleet.get("roster"), str):
            return data
        if fleet.get("groups"):
            return data  # both given: the fleet's own rule says so
        from sim.errors import ScenarioError
        from sim.roster import read_roster

        path = resolve_path(str(data.get("base_dir", ".")), fleet["roster"])
        n = len(read_roster(path))
        if "workers" in fleet and fleet["workers"] != n:
            raise ScenarioError(
                f"fleet.workers = {fleet['workers']!r} disagrees with the roster {path} "
                f"({n} workers); leave workers out or edit the roster"
            )
        return {**data, "fleet": {**fleet, "workers": n}}

    @model_validator(mode="after")
    def _profile_covers(self) -> Scenario:
        prof = self.demand.rate_profile_per_h
        need = int(-(-self.scenario.duration_h // 1))
        if prof and len(prof) < need:
            raise ValueError(
                f"demand.rate_profile_per_h has {len(prof)} hourly rates but "
                f"scenario.duration_h = {self.scenario.duration_h} needs {need}"
            )
        return self

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def start_epoch_ms(self) -> int:
        return int(self.scenario.start.timestamp() * 1000)

    def canonical_json(self) -> bytes:
        """What the hash covers: everything that can change a run (not the display zone)."""
        data = self.model_dump(mode="json")
        data["scenario"].pop("timezone", None)
        # A roster or a travel matrix is part of the input: its bytes, not only its name.
        for section, key in (("fleet", "roster"), ("travel", "matrix")):
            name = data[section].get(key)
            if name:
                data[section][f"{key}_sha256"] = file_digest(self.path(name))
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    def content_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical_json()).hexdigest()

    def path(self, p: str) -> Path:
        """A path from the scenario (``fleet.roster``, ``travel.matrix``), resolved from
        the scenario's folder when relative."""
        return resolve_path(self.base_dir, p)

    def csv_path(self) -> Path:
        assert self.demand.csv is not None
        p = Path(self.demand.csv)
        return p if p.is_absolute() else Path(self.base_dir) / p
