"""Emulator configuration: profiles (``fast``, ``realistic``) and TOML overrides.

A profile is a frozen :class:`EmulatorConfig`.  ``fast`` adds no latency and no limits
(throughput work); ``realistic`` uses the documented limits, lognormal per-route latency
(median and p99), batch latency that grows with size, and seeded faults.  A TOML file
names a base profile (``profile = "realistic"``) and overrides any field, tables nested
as in the dataclasses below, e.g. ``[latency.routes."POST /api/v2/tasks"] median_ms = 80``.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.providers import nash, onfleet
from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET
from sim.errors import UserError

DEMO_API_KEY = "fleetsim-demo-key-0000000000000000"
API_KEYS_ENV = "FLEETSIM_API_KEYS"
Z99 = 2.3263478740408408  # standard normal quantile of 0.99


@dataclass(frozen=True, slots=True)
class RouteLatency:
    """A lognormal latency given by its median and 99th percentile (ms)."""

    median_ms: float
    p99_ms: float

    @property
    def mu(self) -> float:
        return math.log(self.median_ms) if self.median_ms > 0 else -math.inf

    @property
    def sigma(self) -> float:
        if self.median_ms <= 0 or self.p99_ms <= self.median_ms:
            return 0.0
        return math.log(self.p99_ms / self.median_ms) / Z99


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    """Added response latency.  ``routes`` keys are ``"METHOD /path/template"``."""

    enabled: bool = False
    default: RouteLatency = RouteLatency(40.0, 250.0)
    routes: dict[str, RouteLatency] = field(default_factory=dict)
    # Sync batch: extra time per task (the geocoding cost the maintainers mention).
    batch_per_task_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Seeded fault injection: a fraction of 5xx answers and of slow answers."""

    error_rate: float = 0.0
    error_status: int = 503
    slow_rate: float = 0.0
    slow_ms: float = 3000.0


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Rolling-window request limits per organisation (None = unlimited)."""

    onfleet_per_s: int | None = None
    nash_per_s: int | None = None
    window_s: float = 1.0


@dataclass(frozen=True, slots=True)
class RegionConfig:
    """Where the offline geocoder puts addresses: a disk around a centre."""

    lat: float = 37.7749
    lon: float = -122.4194
    radius_m: float = 15_000.0
    # Addresses containing any of these (case-insensitive) fail to geocode.
    failing_markers: tuple[str, ...] = ("infinite loop", "nowhere")
    city: str = "San Francisco"
    state: str = "California"
    country: str = "United States"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Outgoing webhooks (``loadtest.emulator.webhooks``).

    ``secret`` is the organisation's hex webhook secret (never logged, never answered).
    ``time_factor`` scales every retry delay (0.001 runs a day of Onfleet retries in
    ~86 s).  ``timeout_s`` > 0 replaces each provider's own receiver timeout.
    ``max_outbox`` bounds the deliveries held in memory; past it a new delivery is dropped
    and counted (``outcome="dropped"``).  ``concurrency`` is the number of delivery
    workers (and pooled connections).  ``endpoints`` are ``provider=URL`` registrations
    from ``--webhook``.
    """

    secret: str = DEMO_WEBHOOK_SECRET
    time_factor: float = 1.0
    allow_remote: bool = False
    timeout_s: float = 0.0
    handshake_timeout_s: float = 5.0
    max_outbox: int = 100_000
    concurrency: int = 32
    # How often delivered/failed marks are committed to the --db file (batched).
    mark_interval_s: float = 0.2
    endpoints: tuple[str, ...] = ()


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot be a webhook secret (hex, at least 16 bytes), or None."""
    try:
        raw = bytes.fromhex(secret)
    except ValueError:
        return "it is not hexadecimal"
    if len(raw) < 16:
        return f"it holds {len(raw)} bytes; at least 16 (32 hex digits) are needed"
    return None


@dataclass(frozen=True, slots=True)
class OrganizationConfig:
    """The emulated Onfleet organisation and its account owner (``GET /organization``,
    ``GET /admins``) [inf]: nothing public says what a sandbox holds, so these are plain
    placeholders a profile TOML may replace (``[organization] name = "..."``).
    ``estimate_detour_factor`` turns the geodesic into a road distance for
    ``GET /teams/{id}/estimate``, as the simulator's ``travel.detour_factor`` does."""

    name: str = "Fleetsim Emulated Organization"
    email: str = "ops@fleetsim.invalid"
    timezone: str = "America/Los_Angeles"
    country: str = "US"
    owner_name: str = "Fleetsim Owner"
    owner_email: str = "owner@fleetsim.invalid"
    owner_phone: str = "+14155550100"
    estimate_detour_factor: float = 1.3


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything :func:`loadtest.emulator.app.create_app` needs."""

    profile: str = "fast"
    seed: int = 0
    # Simulated seconds per wall second (loadtest.emulator.clock); 1.0 is real time.
    time_scale: float = 1.0
    api_keys: tuple[str, ...] = ()
    db_path: Path | None = None
    # How often the SQLite WAL is copied into the main file (also at a clean shutdown).
    checkpoint_interval_s: float = 30.0
    max_body_bytes: int = 4 * 1024 * 1024
    latency: LatencyConfig = LatencyConfig()
    faults: FaultConfig = FaultConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    region: RegionConfig = RegionConfig()
    webhooks: WebhookConfig = WebhookConfig()
    organization: OrganizationConfig = OrganizationConfig()
    # Onfleet
    container_cap: int | None = None
    # Onfleet tasks the emulator holds (deleted ones included; each costs memory until the
    # process ends): past it a create is 400.  ~2.5 GB at today's ~2.5 kB per task.
    max_tasks: int | None = 1_000_000
    container_lock_hold_ms: float = 0.0
    container_lock_wait_ms: float = 200.0
    async_tasks_per_s: float = 0.0  # 0 = as fast as the loop allows
    # taskEta webhooks: a driver's ETA is the geodesic distance over this speed [inf]
    eta_speed_mps: float = 8.33
    # Deftship
    deftship_validate_s: float = 0.0
    deftship_ship_items_per_s: float = 0.0
    # Nash
    nash_providers: tuple[str, ...] = (
        "FleetSimulatorFast",
        "FleetSimulator",
        "FailingFleetSimulator",
    )
    # Nash lifecycle [inf]: simulated seconds between a selected delivery's statuses,
    # for FleetSimulator (and FailingFleetSimulator) and for FleetSimulatorFast.
    nash_status_step_s: float = 120.0
    nash_fast_status_step_s: float = 15.0
    # HyperTrack [inf]: simulated seconds from planned to assigned (POST /orders).
    ht_assign_delay_s: float = 5.0

    @property
    def keys(self) -> frozenset[str]:
        """Accepted keys: the configured ones, else the documented demo key."""
        return frozenset(self.api_keys) if self.api_keys else frozenset({DEMO_API_KEY})


def fast() -> EmulatorConfig:
    return EmulatorConfig()


def realistic() -> EmulatorConfig:
    routes = {
        "POST /api/v2/tasks": RouteLatency(90.0, 400.0),
        "POST /api/v2/tasks/batch": RouteLatency(300.0, 1500.0),
        "POST /api/v2/tasks/batch-async": RouteLatency(60.0, 250.0),
        "GET /api/v2/tasks/all": RouteLatency(120.0, 600.0),
        "POST /v1/batch_job": RouteLatency(700.0, 2500.0),
        "POST /api/batches": RouteLatency(250.0, 1000.0),
        "POST /orders/track": RouteLatency(150.0, 700.0),
    }
    return EmulatorConfig(
        profile="realistic",
        latency=LatencyConfig(
            enabled=True,
            default=RouteLatency(40.0, 250.0),
            routes=routes,
            batch_per_task_ms=4.0,
        ),
        faults=FaultConfig(error_rate=0.005, slow_rate=0.005, slow_ms=3000.0),
        rate_limit=RateLimitConfig(
            onfleet_per_s=onfleet.RATE_LIMIT_PER_S, nash_per_s=nash.RATE_LIMIT_PER_S
        ),
        container_cap=onfleet.CONTAINER_CAP,
        container_lock_hold_ms=5.0,
        container_lock_wait_ms=200.0,
        async_tasks_per_s=200.0,
        deftship_validate_s=2.0,
        deftship_ship_items_per_s=50.0,
    )


PROFILES = {"fast": fast, "realistic": realistic}
# Fields whose default may be None (unlimited); a TOML value must be a positive integer.
_OPTIONAL_INTS = frozenset({"onfleet_per_s", "nash_per_s", "container_cap", "max_tasks"})


def _between(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: lo <= v <= hi), f"a number from {lo:g} to {hi:g}"


_NON_NEGATIVE = (lambda v: v >= 0, "a finite number >= 0")
_POSITIVE = (lambda v: v > 0, "a finite number > 0")
# Value ranges of the scalar fields, by (dataclass, field).  A value out of range would
# silently change behaviour (window_s = 0 disables the rate limit) or crash at start.
_RANGES: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ("EmulatorConfig", "seed"): (lambda v: v >= 0, "an integer >= 0"),
    ("EmulatorConfig", "max_body_bytes"): (lambda v: v > 0, "an integer > 0 (bytes)"),
    ("EmulatorConfig", "time_scale"): _POSITIVE,
    ("EmulatorConfig", "checkpoint_interval_s"): _POSITIVE,
    ("EmulatorConfig", "container_lock_hold_ms"): _NON_NEGATIVE,
    ("EmulatorConfig", "container_lock_wait_ms"): _NON_NEGATIVE,
    ("EmulatorConfig", "async_tasks_per_s"): _NON_NEGATIVE,
    ("EmulatorConfig", "eta_speed_mps"): _POSITIVE,
    ("EmulatorConfig", "deftship_validate_s"): _NON_NEGATIVE,
    ("EmulatorConfig", "deftship_ship_items_per_s"): _NON_NEGATIVE,
    ("RouteLatency", "median_ms"): _NON_NEGATIVE,
    ("RouteLatency", "p99_ms"): _NON_NEGATIVE,
    ("LatencyConfig", "batch_per_task_ms"): _NON_NEGATIVE,
    ("FaultConfig", "error_rate"): _between(0.0, 1.0),
    ("FaultConfig", "slow_rate"): _between(0.0, 1.0),
    ("FaultConfig", "error_status"): (lambda v: 500 <= v <= 599, "an HTTP 5xx status (500-599)"),
    ("FaultConfig", "slow_ms"): _NON_NEGATIVE,
    ("RateLimitConfig", "window_s"): _POSITIVE,
    ("RegionConfig", "lat"): _between(-90.0, 90.0),
    ("RegionConfig", "lon"): _between(-180.0, 180.0),
    ("RegionConfig", "radius_m"): _POSITIVE,
    ("OrganizationConfig", "estimate_detour_factor"): _between(1.0, 10.0),
    ("WebhookConfig", "time_factor"): _NON_NEGATIVE,
    ("WebhookConfig", "timeout_s"): _NON_NEGATIVE,
    ("WebhookConfig", "handshake_timeout_s"): _POSITIVE,
    ("WebhookConfig", "mark_interval_s"): _POSITIVE,
    ("WebhookConfig", "max_outbox"): (lambda v: v > 0, "an integer > 0 (deliveries)"),
    ("WebhookConfig", "concurrency"): (lambda v: 1 <= v <= 1024, "an integer from 1 to 1024"),
    ("EmulatorConfig", "nash_status_step_s"): _POSITIVE,
    ("EmulatorConfig", "nash_fast_status_step_s"): _POSITIVE,
    ("EmulatorConfig", "ht_assign_delay_s"): _NON_NEGATIVE,
}


def _check_range(obj: Any, key: str, value: Any, where: str) -> None:
    rule = _RANGES.get((type(obj).__name__, key))
    if rule is None:
        return
    test, allowed = rule
    finite = not isinstance(value, float) or math.isfinite(value)
    if not (finite and test(value)):
        raise UserError(f"profile: {where} = {value!r} is out of range; allowed: {allowed}")


def _check_tuple(value: list[Any], where: str) -> tuple[str, ...]:
    """Every list field (keys, failing markers, Nash providers) holds non-empty strings."""
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise UserError(
                f"profile: {where}[{i}] = {item!r} is not allowed; "
                f"{where} must be a list of non-empty strings"
            )
    return tuple(value)


def _check_whole(obj: Any, path: str) -> None:
    """Rules that involve two fields of one table.  (A p99 at or below the median is
    allowed: it means a constant latency, see :attr:`RouteLatency.sigma`.)"""
    if isinstance(obj, FaultConfig) and obj.error_rate + obj.slow_rate > 1.0:
        raise UserError(
            f"profile: {path}error_rate + {path}slow_rate = "
            f"{obj.error_rate + obj.slow_rate:g}; allowed: at most 1"
        )
    if isinstance(obj, WebhookConfig):
        problem = secret_problem(obj.secret)
        if problem is not None:
            # Never the value: it is a secret.
            raise UserError(f"profile: {path}secret is not a webhook secret: {problem}")


def _merge(obj: Any, data: dict[str, Any], path: str) -> Any:
    """A copy of dataclass ``obj`` with ``data`` applied; errors name the field path."""
    names = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}{key}"
        if key not in names:
            raise UserError(f"profile: unknown field {where!r}; allowed: {', '.join(names)}")
        cur = getattr(obj, key)
        if dataclasses.is_dataclass(cur) and isinstance(value, dict):
            changes[key] = _merge(cur, value, where + ".")
        elif key == "routes" and isinstance(value, dict):
            routes = dict(cur)
            for name, spec in value.items():
                if not isinstance(spec, dict):
                    raise UserError(f"profile: {where}.{name} must be a table")
                base = routes.get(name, RouteLatency(40.0, 250.0))
                routes[name] = _merge(base, spec, f"{where}.{name}.")
            changes[key] = routes
        elif key == "db_path":
            changes[key] = None if value in (None, "") else Path(str(value))
        elif isinstance(cur, tuple):
            if not isinstance(value, list):
                raise UserError(f"profile: {where} must be a list, got {value!r}")
            changes[key] = _check_tuple(value, where)
        else:
            if key in _OPTIONAL_INTS:
                ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            else:
                ok = isinstance(value, type(cur)) or (
                    isinstance(cur, float) and isinstance(value, int)
                )
                if isinstance(value, bool) and not isinstance(cur, bool):
                    ok = False
            if not ok:
                want = "a positive integer" if key in _OPTIONAL_INTS else type(cur).__name__
                value_text = "(not shown)" if key == "secret" else repr(value)
                raise UserError(
                    f"profile: {where} = {value_text} has the wrong type; expected {want}"
                )
            _check_range(obj, key, value, where)
            changes[key] = float(value) if isinstance(cur, float) else value
    merged = dataclasses.replace(obj, **changes)
    _check_whole(merged, path)
    return merged


def load_profile(spec: str) -> EmulatorConfig:
    """``fast``, ``realistic`` or a path to a TOML file (``profile = "..."`` picks the base)."""
    if spec in PROFILES:
        return PROFILES[spec]()
    path = Path(spec)
    if not path.is_file():
        raise UserError(
            f"--profile {spec!r}: not a known profile (fast, realistic) nor a TOML file"
        )
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"--profile {spec}: cannot read TOML: {exc}") from exc
    base_name = data.pop("profile", "fast")
    if base_name not in PROFILES:
        raise UserError(f"{spec}: profile = {base_name!r}; allowed: fast, realistic")
    cfg: EmulatorConfig = _merge(PROFILES[base_name](), data, "")
    return dataclasses.replace(cfg, profile=f"{base_name}+{path.name}")
