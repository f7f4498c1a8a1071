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
  autoAssign policy as a create (``mode: load``, restricted to the team,
  ``maxTasksPerRoute`` as ``maxAssignedTaskCount``), in container order; the tasks no
  worker can take stay in the team.  The route runs it in chunks (each committed, the
  loop free between them) and answers ``{"dispatchId", "assignedTasks"}`` [inf].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.model import Task, Team, Worker
from loadtest.emulator.onfleet.validate import bad
from loadtest.emulator.onfleet.workers import VEHICLES
from loadtest.providers.onfleet import E_NOTHING_TO_UPDATE, E_WRONG_TYPES
from sim.dispatch import AutoAssignOptions, FleetSnapshot, TaskPoint, choose_worker
from sim.geo import geodesic_m
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
    team.time_last_modified = st.rt.now_ms()
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


def dispatch_options(st: OnfleetState, tid: str, body: Any) -> AutoAssignOptions:
    """Check ``POST /teams/{id}/dispatch`` before anything moves: the body, and that the
    team has an on-duty located worker (412 / 2218 otherwise)."""
    st.get_team(tid)
    if not isinstance(body, dict):
        raise bad("body must be a JSON object", E_WRONG_TYPES)
    mx = body.get("maxTasksPerRoute")
    if mx is not None and (
        isinstance(mx, bool) or not isinstance(mx, int) or not 1 <= mx <= 10_000
    ):
        raise bad("maxTasksPerRoute must be an integer from 1 to 10000")
    st.apply_schedules()
    if not st.worker_views(tid):
        raise ApiError(
            412,
            "Auto-dispatch preconditions are not met.",
            error=E_DISPATCH_PRECONDITION,
            cause=f"team {tid} has no on-duty worker with a known location",
        )
    return AutoAssignOptions(mode="load", team=tid, max_assigned_task_count=mx)


def dispatch_some(
    st: OnfleetState, tid: str, task_ids: list[str], opts: AutoAssignOptions
) -> list[str]:
    """Dispatch those of ``task_ids`` still unassigned in the team's container; returns
    the ids assigned, every record saved once and ready to commit.

    The result is what calling the create path's autoAssign on each task in turn gives:
    the same policy (:func:`sim.dispatch.choose_worker`) over the same worker views
    (:meth:`FleetOps.worker_views`), but the snapshot is built once per call and the
    chosen worker's row is extended in place after each assignment (its route grows by
    the leg to the task, as :func:`sim.dispatch.route_length_m` sums it; its count and
    free capacity follow), as the simulator's live snapshot is, instead of rebuilding
    every worker's route per task.
    """
    team = st.get_team(tid)
    views = st.worker_views(tid)
    if not views:
        return []
    snap = FleetSnapshot.build(views)
    cap = st.rt.config.container_cap
    now = st.rt.now_ms()
    assigned: list[Task] = []
    touched: dict[str, Worker] = {}
    for task_id in task_ids:
        t = st.tasks.get(task_id)
        # Between two chunks another request may have moved or deleted a task.
        if t is None or t.container_type != "TEAM" or t.container_id != tid:
            continue
        choice = choose_worker(snap, TaskPoint(t.lat, t.lon, t.quantity), opts)
        if choice is None:
            continue
        i = snap.index[choice]
        w = st.workers[str(choice)]
        if cap is not None and len(w.tasks) >= cap:
            snap.set_duty(i, False)  # full: out of this dispatch, as autoAssign refuses it
            continue
        leg = geodesic_m(float(snap.end_lat[i]), float(snap.end_lon[i]), t.lat, t.lon)
        snap.set_route(i, float(snap.route_m[i]) + leg, t.lat, t.lon)
        snap.assigned_count[i] += 1
        snap.free_capacity[i] -= t.quantity
        st.put_in_worker(t, w, save=False)
        t.did_auto_assign = True
        t.time_last_modified = now
        assigned.append(t)
        touched[w.id] = w
    if assigned:
        gone = {t.id for t in assigned}
        team.tasks = [x for x in team.tasks if x not in gone]
        team.time_last_modified = now
        st.save_team(team)
        for w in touched.values():
            st.save_worker(w)
        for t in assigned:
            st.save_task(t)
            st.task_event("taskAssigned", t)
    return [t.id for t in assigned]
