"""Scenario files: the TOML a planner edits, validated once into frozen, typed objects.

Concepts held here: the scenario schema (one pydantic model per TOML table), its
cross-field rules and the scenario hash.  Reading files, ``--set`` overrides and error
text live in :mod:`sim.scenario_io`; nothing past that edge sees raw dicts.  The format
is documented in ``scenarios/README.md``.
"""

from __future__ import annotations

import hashlib
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
        return self

    @property
    def speed_mps(self) -> float:
        kmh = self.speed_kmh if self.speed_kmh is not None else VEHICLE_SPEED_KMH[self.vehicle]
        return kmh / 3.6


class Travel(_Model):
    model: Literal["geodesic", "none"] = "geodesic"
    detour_factor: Annotated[float, Field(ge=1.0, le=5.0)] = 1.3
    speed_profile: list[PositiveFloat] = []

    @field_validator("speed_profile")
    @classmethod
    def _profile(cls, v: list[float]) -> list[float]:
        if v and len(v) != 24:
            raise ValueError(f"needs 24 hourly multipliers (hour 0..23 UTC), got {len(v)}")
        return v


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
    #: Where relative paths (``demand.csv``) resolve from; not part of the hash.
    base_dir: Annotated[str, Field(exclude=True)] = "."

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
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    def content_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical_json()).hexdigest()

    def csv_path(self) -> Path:
        assert self.demand.csv is not None
        p = Path(self.demand.csv)
        return p if p.is_absolute() else Path(self.base_dir) / p
