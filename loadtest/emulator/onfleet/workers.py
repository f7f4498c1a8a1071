"""Onfleet worker routes beyond create/get/delete: list filters, update, location search,
metadata match and the worker's and team's task pages.

* ``GET /workers``: ``phones`` and ``teams`` (comma lists), ``states`` (0 off duty, 1 on
  duty and idle, 2 on duty with an active task) and ``filter`` (the fields to answer).
* ``PUT /workers/{id}``: name, phone (E.164, unique), teams (one or more; team membership
  follows on both sides), capacity, vehicle (merged into the current one; ``null``
  removes it), metadata.  Anything else is a 400 naming the field.
* ``GET /workers/location``: on-duty workers within ``radius`` metres (default 1000, at
  most 10,000 [inf]) of ``longitude``/``latitude`` by the exact WGS84 geodesic
  (:mod:`sim.geo`, the simulator's own), nearest first [inf], as ``{"workers": [...]}``.
* ``/workers/{id}/tasks`` and ``/teams/{id}/tasks`` page like ``/tasks/all``
  (:mod:`loadtest.emulator.onfleet.listing`), ``from`` defaulting to now - 7 days.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.listing import page_of
from loadtest.emulator.onfleet.metadata import matches, parse_metadata, parse_query
from loadtest.emulator.onfleet.model import Task, Worker
from loadtest.emulator.onfleet.validate import bad, normalise_phone
from loadtest.providers.onfleet import (
    E_NOT_UNIQUE,
    E_NOTHING_TO_UPDATE,
    E_PHONE,
    E_WRONG_TYPES,
)
from sim.geo import geodesic_many_m

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

VEHICLES = ("CAR", "BICYCLE", "MOTORCYCLE", "TRUCK")
DEFAULT_RADIUS_M = 1000.0
MAX_RADIUS_M = 10_000.0
WEEK_MS = 7 * 86_400_000
_UPDATABLE = frozenset({"name", "phone", "teams", "capacity", "vehicle", "metadata"})
_VEHICLE_KEYS = frozenset({"type", "description", "licensePlate", "color"})


def _csv(raw: str | None) -> list[str] | None:
    if raw is None or raw == "":
        return None
    return [x.strip() for x in raw.split(",") if x.strip()]


def _phone_param(p: str) -> str:
    # An unencoded "+" in a query string arrives as a space.
    raw = "+" + p.strip() if p.startswith(" ") else p
    try:
        return normalise_phone(raw)
    except ApiError:
        raise bad(f"phones: {p!r} is not a phone number", E_PHONE) from None


def project(obj: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Only ``fields`` of ``obj`` (the ``filter`` query parameter)."""
    if fields is None:
        return obj
    return {f: obj[f] for f in fields}


#: Every key of a worker's JSON, in its order (what ``filter`` may name).
WORKER_FIELDS = tuple(Worker("", "", "", "", 0, 0, []).to_json())


def parse_filter(q: Mapping[str, str]) -> list[str] | None:
    """The ``filter`` query parameter: worker fields to answer, each checked."""
    fields = _csv(q.get("filter"))
    if fields is not None:
        for f in fields:
            if f not in WORKER_FIELDS:
                raise bad(
                    f"filter: unknown worker field {f!r}; allowed: {', '.join(WORKER_FIELDS)}"
                )
    return fields


def worker_state(w: Worker) -> int:
    """0 off duty, 1 on duty and idle, 2 on duty with an active task."""
    if not w.on_duty:
        return 0
    return 2 if w.active_task is not None else 1


def list_workers(st: OnfleetState, q: Mapping[str, str]) -> list[Worker]:
    """The workers ``GET /workers`` answers, in creation order, filtered."""
    teams = _csv(q.get("teams"))
    phones = _csv(q.get("phones"))
    raw_states = _csv(q.get("states"))
    states: set[int] | None = None
    if raw_states is not None:
        if not all(s in ("0", "1", "2") for s in raw_states):
            raise bad("states must be a comma list of 0, 1, 2")
        states = {int(s) for s in raw_states}
    phone_set = {_phone_param(p) for p in phones} if phones is not None else None
    team_set = set(teams) if teams is not None else None
    out = []
    for w in st.workers.values():
        if phone_set is not None and w.phone not in phone_set:
            continue
        if team_set is not None and team_set.isdisjoint(w.teams):
            continue
        if states is not None and worker_state(w) not in states:
            continue
        out.append(w)
    return out


def _vehicle(st: OnfleetState, raw: Any, current: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad("vehicle must be an object {type, description, licensePlate, color}")
    unknown = set(raw) - _VEHICLE_KEYS
    if unknown:
        raise bad(f"vehicle.{sorted(unknown)[0]} is not a vehicle field")
    merged = dict(current or {})
    merged.update(raw)
    if merged.get("type") not in VEHICLES:
        raise bad("vehicle.type must be CAR, BICYCLE, MOTORCYCLE or TRUCK")
    for k in ("description", "licensePlate", "color"):
        if merged.get(k) is not None and not isinstance(merged[k], str):
            raise bad(f"vehicle.{k} must be a string", E_WRONG_TYPES)
    return {
        "id": merged.get("id") or st.rt.ids.onfleet(),
        "type": merged["type"],
        "description": merged.get("description"),
        "licensePlate": merged.get("licensePlate"),
        "color": merged.get("color"),
        "timeLastModified": st.rt.now_ms(),
    }


def update_worker(st: OnfleetState, wid: str, body: Any) -> Worker:
    """PUT /workers/{id}: every field checked before anything changes."""
    w = st.get_worker(wid)
    if not isinstance(body, dict):
        raise bad("body must be a JSON object", E_WRONG_TYPES)
    unknown = set(body) - _UPDATABLE
    if unknown:
        raise bad(f"field {sorted(unknown)[0]!r} cannot be updated; allowed: {sorted(_UPDATABLE)}")
    if not body:
        raise bad("nothing to update", E_NOTHING_TO_UPDATE)
    name = body.get("name", w.name)
    if not isinstance(name, str) or not name.strip():
        raise bad("name must be a non-empty string")
    phone = w.phone
    if "phone" in body:
        phone = normalise_phone(body["phone"])
        if any(o.phone == phone and o.id != wid for o in st.workers.values()):
            raise ApiError(
                400,
                "A worker with this phone number already exists.",
                error=E_NOT_UNIQUE,
                cause=phone,
            )
    teams = w.teams
    if "teams" in body:
        teams = body["teams"]
        if not isinstance(teams, list) or not teams or not all(isinstance(x, str) for x in teams):
            raise bad("teams must be an array of one or more team ids")
        if len(set(teams)) != len(teams):
            raise bad("teams lists a team twice")
        for tid in teams:
            if tid not in st.teams:
                raise bad(f"team {tid} does not exist")
    capacity = w.capacity
    if "capacity" in body:
        cap = body["capacity"]
        if cap is not None and (
            isinstance(cap, bool) or not isinstance(cap, int | float) or not 0 <= cap < 1e12
        ):
            raise bad("capacity must be a non-negative number (or null)")
        capacity = None if cap is None else float(cap)
    vehicle = w.vehicle
    if "vehicle" in body:
        vehicle = _vehicle(st, body["vehicle"], w.vehicle)
    metadata = parse_metadata(body["metadata"]) if "metadata" in body else w.metadata
    # All checked: apply.
    if teams is not w.teams:
        for tid in set(w.teams) - set(teams):
            team = st.teams[tid]
            team.workers = [x for x in team.workers if x != wid]
            st.save_team(team)
        for tid in teams:
            team = st.teams[tid]
            if wid not in team.workers:
                team.workers.append(wid)
                st.save_team(team)
        w.teams = list(teams)
    w.name, w.phone, w.capacity, w.vehicle, w.metadata = name, phone, capacity, vehicle, metadata
    w.time_last_modified = st.rt.now_ms()
    st.save_worker(w)
    st.worker_event("workerUpdated", w)
    return w


def _float_param(q: Mapping[str, str], name: str, lo: float, hi: float) -> float | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and lo <= v <= hi):
        raise bad(f"{name} must be a number from {lo:g} to {hi:g}, got {raw!r}")
    return v


def workers_near(st: OnfleetState, q: Mapping[str, str]) -> list[Worker]:
    """GET /workers/location: on-duty workers within the radius, nearest first."""
    lon = _float_param(q, "longitude", -180.0, 180.0)
    lat = _float_param(q, "latitude", -90.0, 90.0)
    if lon is None or lat is None:
        raise bad("longitude and latitude are required")
    radius = _float_param(q, "radius", 0.0, MAX_RADIUS_M)
    radius = DEFAULT_RADIUS_M if radius is None else radius
    st.apply_schedules()
    cands = [w for w in st.workers.values() if w.on_duty and w.location is not None]
    if not cands:
        return []
    lons = np.array([w.location[0] for w in cands if w.location is not None])
    lats = np.array([w.location[1] for w in cands if w.location is not None])
    dist = geodesic_many_m(lat, lon, lats, lons)
    order = np.argsort(dist, kind="stable")
    return [cands[i] for i in order if dist[i] <= radius]


def match_workers(st: OnfleetState, body: Any) -> list[Worker]:
    query = parse_query(body)
    return [w for w in st.workers.values() if matches(w.metadata, query)]


def task_page(
    st: OnfleetState,
    q: Mapping[str, str],
    from_ms: int | None,
    to_ms: int | None,
    candidates: list[Task],
    keep: Callable[[Task], bool],
) -> dict[str, Any]:
    """One page of ``/workers/{id}/tasks`` or ``/teams/{id}/tasks`` over ``candidates``
    (the worker's or team's tasks, sorted by creation)."""
    pickup_raw = q.get("isPickupTask")
    pickup: bool | None = None
    if pickup_raw not in (None, ""):
        if pickup_raw not in ("true", "false"):
            raise bad(f"isPickupTask must be true or false, got {pickup_raw!r}")
        pickup = pickup_raw == "true"

    def keep_all(t: Task) -> bool:
        return keep(t) and (pickup is None or t.pickup == pickup)

    start = st.rt.now_ms() - WEEK_MS if from_ms is None else from_ms
    page, last = page_of(candidates, start, to_ms, q.get("lastId") or None, st, keep_all)
    out: dict[str, Any] = {"tasks": [t.to_json() for t in page]}
    if last is not None:
        out["lastId"] = last
    return out


def worker_candidates(st: OnfleetState, wid: str) -> list[Task]:
    """The tasks ``wid`` holds or held, by creation (the history the routes keep)."""
    hist = (st.worker_history or {}).get(wid, {})
    return [hist[k] for k in sorted(hist)]


def team_candidates(st: OnfleetState, tid: str) -> list[Task]:
    """The tasks in the team's container, by creation."""
    tasks = [st.tasks[x] for x in st.get_team(tid).tasks if x in st.tasks]
    tasks.sort(key=lambda t: t.seq)
    return tasks
