"""Onfleet team routes beyond create/get: update, delete, worker ETA and auto-dispatch.

* ``PUT /teams/{id}``: name, workers (membership follows on both sides), managers
  (admin ids), hub.  A worker is never left without a team: removing it from its only
  team is refused [inf], as creating a worker without a team is.
* ``DELETE /teams/{id}``: refused while the team's container holds tasks or while one of
  its workers has no other team [inf]; otherwise the team leaves its workers' lists.
* ``GET /teams/{id}/estimate``: the fastest on-duty worker of the team to a pickup and/or
  a dropoff, with the simulator's travel model (:class:`sim.travel.GeodesicTravel`: exact
  WGS84 geodesic x ``organization.estimate_detour_factor`` at ``eta_speed_mps``), starting
  from the worker's last location at the emulator's clock.
* ``POST /teams/{id}/dispatch``: every task in the team's container goes through the same
  autoAssign code as a create (``mode: load``, restricted to the team,
  ``maxTasksPerRoute`` as ``maxAssignedTaskCount``), in container order; the tasks no
  worker can take stay in the team.  It runs at once and answers ``{"dispatchId"}`` [inf].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.model import Team
from loadtest.emulator.onfleet.validate import bad
from loadtest.emulator.onfleet.workers import VEHICLES
from loadtest.emulator.services import now_ms
from loadtest.providers.onfleet import E_NOTHING_TO_UPDATE, E_WRONG_TYPES
from sim.travel import GeodesicTravel

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

_UPDATABLE = frozenset({"name", "workers", "managers", "hub", "enableSelfAssignment"})
#: Onfleet's precondition subcode for auto-dispatch (node-onfleet raises ServiceError).
E_DISPATCH_PRECONDITION = 2218


def _ids(body: dict[str, Any], key: str) -> list[str]:
    v = body[key]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise bad(f"{key} must be an array of ids", E_WRONG_TYPES)
    if len(set(v)) != len(v):
        raise bad(f"{key} lists an id twice")
    return list(v)


def update_team(st: OnfleetState, tid: str, body: Any, hubs: Mapping[str, Any]) -> Team:
    team = st.get_team(tid)
    if not isinstance(body, dict):
        raise bad("body must be a JSON object", E_WRONG_TYPES)
    unknown = set(body) - _UPDATABLE
    if unknown:
        raise bad(f"field {sorted(unknown)[0]!r} cannot be updated; allowed: {sorted(_UPDATABLE)}")
    if not body:
        raise bad("nothing to update", E_NOTHING_TO_UPDATE)
    name = body.get("name", team.name)
    if not isinstance(name, str) or not name.strip():
        raise bad("name must be a non-empty string")
    workers = _ids(body, "workers") if "workers" in body else team.workers
    for wid in workers:
        if wid not in st.workers:
            raise bad(f"worker {wid} does not exist")
    leaving = [wid for wid in team.workers if wid not in set(workers)]
    for wid in leaving:
        if st.workers[wid].teams == [tid]:
            raise bad(f"worker {wid} would be left without a team; give it another team first")
    managers = _ids(body, "managers") if "managers" in body else team.managers
    hub = body.get("hub", team.hub)
    if hub is not None and (not isinstance(hub, str) or hub not in hubs):
        raise bad(f"hub {hub!r} does not exist")
    if "enableSelfAssignment" in body and not isinstance(body["enableSelfAssignment"], bool):
        raise bad("enableSelfAssignment must be a boolean", E_WRONG_TYPES)
    for wid in leaving:
        w = st.workers[wid]
        w.teams = [x for x in w.teams if x != tid]
        st.save_worker(w)
    for wid in workers:
        w = st.workers[wid]
        if tid not in w.teams:
            w.teams.append(tid)
            st.save_worker(w)
    team.name, team.workers, team.managers, team.hub = name, list(workers), managers, hub
    team.time_last_modified = now_ms()
    st.save_team(team)
    return team


def delete_team(st: OnfleetState, tid: str) -> None:
    team = st.get_team(tid)
    if team.tasks:
        raise bad(
            f"team {tid} holds {len(team.tasks)} tasks in its container; move or delete "
            "them before deleting the team"
        )
    for wid in team.workers:
        w = st.workers.get(wid)
        if w is not None and w.teams == [tid]:
            raise bad(f"worker {wid} has no other team; give it another team first")
    for wid in team.workers:
        w = st.workers.get(wid)
        if w is not None:
            w.teams = [x for x in w.teams if x != tid]
            st.save_worker(w)
    del st.teams[tid]
    if st.rt.store.durable:  # a tombstone: the store keeps records, never removes
        st.rt.store.put("team", tid, {"id": tid, "deleted": True})


def _point(q: Mapping[str, str], name: str) -> tuple[float, float] | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        lon, lat = (float(x) for x in raw.split(","))
    except ValueError:
        lon = lat = math.nan
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise bad(f"{name} must be longitude,latitude, got {raw!r}")
    return lon, lat


def _nonneg(q: Mapping[str, str], name: str) -> float | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        v = float(raw)
    except ValueError:
        v = -1.0
    if not (math.isfinite(v) and 0 <= v < 1e13):
        raise bad(f"{name} must be a non-negative number, got {raw!r}")
    return v


def estimate(st: OnfleetState, tid: str, q: Mapping[str, str]) -> dict[str, Any]:
    """GET /teams/{id}/estimate (see the module docstring).  Times are epoch seconds,
    durations seconds, distances metres."""
    team = st.get_team(tid)
    pickup = _point(q, "pickupLocation")
    dropoff = _point(q, "dropoffLocation")
    if pickup is None and dropoff is None:
        raise bad("pickupLocation or dropoffLocation (longitude,latitude) is required")
    pickup_time = _nonneg(q, "pickupTime")
    service = _nonneg(q, "serviceTime") or 0.0
    restricted = {x for x in (q.get("restrictedVehicleTypes") or "").split(",") if x}
    if not restricted <= set(VEHICLES):
        raise bad(f"restrictedVehicleTypes must be a comma list of {', '.join(VEHICLES)}")
    st.apply_schedules()
    cfg = st.rt.config
    travel = GeodesicTravel(cfg.organization.estimate_detour_factor, [], 0.0)
    now_s = st.rt.clock.now_s()
    best: dict[str, Any] | None = None
    best_end = math.inf
    for wid in team.workers:
        w = st.workers.get(wid)
        if w is None or not w.on_duty or w.location is None:
            continue
        vtype = (w.vehicle or {}).get("type", "CAR")
        if vtype in restricted:
            continue
        lon, lat = w.location
        t = now_s
        steps = []
        for stop, ready in ((pickup, pickup_time), (dropoff, None)):
            if stop is None:
                continue
            dist, dur = travel.leg(lat, lon, stop[1], stop[0], 0.0, cfg.eta_speed_mps)
            arrival = t + dur
            if ready is not None:
                arrival = max(arrival, ready)
            done = arrival + service
            steps.append(
                {
                    "location": [stop[0], stop[1]],
                    "travelTime": round(dur),
                    "distance": round(dist, 1),
                    "serviceTime": round(service),
                    "arrivalTime": round(arrival),
                    "completionTime": round(done),
                }
            )
            lon, lat, t = stop[0], stop[1], done
        if t < best_end:
            best_end = t
            best = {"workerId": w.id, "vehicle": vtype, "steps": steps}
    if best is None:
        raise ApiError(
            400,
            "The values of one or more parameters are invalid.",
            error=E_DISPATCH_PRECONDITION,
            cause=f"team {tid} has no on-duty worker with a known location"
            + (" and an allowed vehicle" if restricted else ""),
        )
    return best


def dispatch(st: OnfleetState, tid: str, body: Any) -> dict[str, Any]:
    """POST /teams/{id}/dispatch (see the module docstring)."""
    team = st.get_team(tid)
    if not isinstance(body, dict):
        raise bad("body must be a JSON object", E_WRONG_TYPES)
    mx = body.get("maxTasksPerRoute")
    if mx is not None and (
        isinstance(mx, bool) or not isinstance(mx, int) or not 1 <= mx <= 10_000
    ):
        raise bad("maxTasksPerRoute must be an integer from 1 to 10000")
    st.apply_schedules()
    if not any(
        (w := st.workers.get(wid)) is not None and w.on_duty and w.location is not None
        for wid in team.workers
    ):
        raise ApiError(
            412,
            "Auto-dispatch preconditions are not met.",
            error=E_DISPATCH_PRECONDITION,
            cause=f"team {tid} has no on-duty worker with a known location",
        )
    opts: dict[str, Any] = {"mode": "load", "team": tid, "max": mx, "deps": False, "excl": []}
    assigned: list[str] = []
    for task_id in list(team.tasks):
        t = st.tasks[task_id]
        st.auto_assign(t, opts)
        if t.did_auto_assign:
            t.time_last_modified = now_ms()
            st.save_task(t)
            st.task_event("taskAssigned", t)
            assigned.append(t.id)
    return {"dispatchId": st.rt.ids.onfleet(), "assignedTasks": assigned}
