"""Scenario files: the TOML a planner edits, validated once into frozen, typed objects.

Concepts held here: the scenario schema (one pydantic model per TOML table), ``--set``
overrides, the scenario hash, and turning validation failures into one message that
names the field path, the bad value and what is allowed.  Nothing past this module sees
raw dicts.  The format is documented in ``scenarios/README.md``.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.errors import ScenarioError
from sim.geo import validate_lat_lon

Vehicle = Literal["CAR", "BICYCLE", "MOTORCYCLE", "TRUCK"]
Policy = Literal["distance", "load", "queue", "none"]
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

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)


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
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)

    def content_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical_json()).hexdigest()

    def csv_path(self) -> Path:
        assert self.demand.csv is not None
        p = Path(self.demand.csv)
        return p if p.is_absolute() else Path(self.base_dir) / p


# --- loading ---------------------------------------------------------------------------


def _fmt_value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    cur: Any = model
    for part in loc[:-1]:
        field = cur.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        ann = field.annotation
        cur = next(
            (
                a
                for a in getattr(ann, "__args__", (ann,))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
        if cur is None:
            return []
    return sorted(k for k in cur.model_fields if k != "base_dir")


def format_validation_error(source: str, err: ValidationError) -> str:
    """One message per problem: ``source: path: got VALUE; what is allowed``."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(Scenario, loc)
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{source}: {path}: unknown key{hint}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            lines.append(f"{source}: {path}: required field is missing")
        else:
            lines.append(f"{source}: {path}: got {_fmt_value(e.get('input'))}; {msg}")
    return "\n".join(lines)


def parse_set_value(text: str) -> Any:
    """A ``--set`` value as TOML reads it (``60`` -> int, ``0.5`` -> float, ``true`` -> bool,
    ``[1, 2]`` -> list); anything TOML rejects, such as a bare word like ``load``, stays a
    string.  The one parser behind ``simulate --set`` and the sweep's ``--set`` values."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word, e.g. policy=load


def set_field(raw: dict[str, Any], path: str, value: Any, item: str | None = None) -> None:
    """Set the dotted ``path`` of a raw scenario mapping to ``value`` (tables are created);
    errors name the ``--set`` item (``item``, default ``path=value``)."""
    parts = path.strip().split(".")
    node = raw
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ScenarioError(f"--set {item or f'{path}={value}'!r}: {part} is not a table")
        node = nxt
    node[parts[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as TOML, else strings)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"--set {item!r}: expected section.key=value")
        set_field(raw, key, parse_set_value(value), item)
    return raw


def parse_scenario(
    raw: dict[str, Any], source: str = "scenario", base_dir: Path | None = None
) -> Scenario:
    """Validate a raw mapping into a :class:`Scenario`, or raise :class:`ScenarioError`."""
    data = dict(raw)
    data["base_dir"] = str(base_dir or Path("."))
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(source, exc)) from None


def read_scenario_file(path: Path | str) -> dict[str, Any]:
    """The raw mapping of a scenario TOML file, before overrides and validation."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    if "base_dir" in raw:
        raise ScenarioError(f"{path}: base_dir: unknown key")
    return raw


def load_scenario(path: Path | str, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario TOML file."""
    path = Path(path)
    raw = apply_overrides(read_scenario_file(path), list(overrides or []))
    return parse_scenario(raw, source=str(path), base_dir=path.parent)


def dump_scenario_toml(scenario: Scenario) -> str:
    """The effective scenario as TOML (written into every run directory)."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    return _to_toml(data)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return orjson.dumps(v).decode()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    out = []
    if prefix and scalars:
        out.append(f"[{prefix}]")
    out.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
    if scalars:
        out.append("")
    for k, v in tables.items():
        out.append(_to_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)
