"""Onfleet workers, teams, containers, autoAssign and the emulator-only driver app.

autoAssign is the simulator's own policy: a :class:`sim.dispatch.FleetSnapshot` of the
on-duty workers is built per call and :func:`sim.dispatch.choose_worker` picks; the
``load`` mode's route lengths come from :func:`sim.dispatch.route_length_m` (the simulator's
own) over each worker's location -> active task -> assigned tasks.  Containers follow
API-NOTES §1.5: each task is in one container (organisation, team or worker), at most
``container_cap`` tasks each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.containers import set_container
from loadtest.emulator.onfleet.events import EventOps
from loadtest.emulator.onfleet.metadata import parse_metadata
from loadtest.emulator.onfleet.model import (
    STATE_ACTIVE,
    STATE_ASSIGNED,
    STATE_COMPLETED,
    STATE_UNASSIGNED,
    Task,
    Team,
    Worker,
)
from loadtest.emulator.onfleet.validate import bad, normalise_phone
from loadtest.emulator.services import Runtime
from loadtest.providers.onfleet import E_NOT_UNIQUE, E_WRONG_TYPES
from sim.dispatch import (
    AutoAssignOptions,
    FleetSnapshot,
    TaskPoint,
    WorkerView,
    choose_worker,
    route_length_m,
)

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.schedule import Schedules

_VEHICLES = ("CAR", "BICYCLE", "MOTORCYCLE", "TRUCK")


@dataclass(slots=True)
class _Route:
    """A worker's planned route as last summed: where it started (location, active task),
    the assigned task ids it covers (a prefix of the worker's list), each stop's quantity,
    its length and where it ends."""

    epoch: int
    lat: float
    lon: float
    active: str | None
    ids: list[str]
    quantities: list[float]
    length_m: float
    end_lat: float
    end_lon: float


class FleetOps(EventOps):
    """Base of :class:`~loadtest.emulator.onfleet.state.OnfleetState`: the fleet side.

    It declares the records it works on; the subclass owns and persists them.  Every
    change emits its webhook triggers through :class:`EventOps`.
    """

    rt: Runtime
    org: str
    tasks: dict[str, Task]
    workers: dict[str, Worker]
    teams: dict[str, Team]
    org_container: dict[str, None]
    # Worker schedules, set by the routes (loadtest.emulator.onfleet.schedule); every use
    # of duty applies the shift edges the clock has passed first (apply_schedules).
    schedules: Schedules | None = None
    # Every task each worker holds or held (by seq), kept by put_in_worker and the
    # container writes once the routes set it: the worker's task page reads only these.
    worker_history: dict[str, dict[int, Task]] | None = None
    # Each worker's planned route for autoAssign's ``load`` mode, kept incrementally
    # (see _route); ``route_epoch`` moves when a task's location or quantity may change.
    _routes: dict[str, _Route] | None = None
    route_epoch: int = 0

    def note_worker(self, t: Task, wid: str) -> None:
        if self.worker_history is not None:
            self.worker_history.setdefault(wid, {})[t.seq] = t

    def apply_schedules(self) -> None:
        """Apply the shift edges the clock has passed and commit them at once.  Every
        caller runs this before the request writes anything of its own, so the commit
        holds only the duty changes (and a request refused later cannot roll them back
        while memory keeps them)."""
        if self.schedules is not None and self.schedules.apply_due():
            self.rt.commit()

    def save_task(self, t: Task) -> None:
        raise NotImplementedError

    def save_worker(self, w: Worker) -> None:
        raise NotImplementedError

    def save_team(self, t: Team) -> None:
        raise NotImplementedError

    def set_state(self, t: Task, state: int) -> None:
        raise NotImplementedError

    def get(self, task_id: str) -> Task:
        raise NotImplementedError

    # -- containers --------------------------------------------------------------------
    def container_size(self, ct: str, cid: str) -> int:
        if ct == "ORGANIZATION":
            return len(self.org_container)
        if ct == "TEAM":
            return len(self.teams[cid].tasks)
        return len(self.workers[cid].tasks)

    def check_cap(self, ct: str, cid: str, extra: int = 1) -> None:
        cap = self.rt.config.container_cap
        if cap is not None and self.container_size(ct, cid) + extra > cap:
            raise bad(f"the {ct.lower()} container holds {cap:,} tasks, its maximum")

    def remove_from_container(self, t: Task) -> None:
        if t.container_type == "ORGANIZATION":
            self.org_container.pop(t.id, None)
        elif t.container_type == "TEAM":
            team = self.teams.get(t.container_id)
            if team is not None and t.id in team.tasks:
                team.tasks.remove(t.id)
                self.save_team(team)
        else:
            w = self.workers.get(t.container_id)
            if w is not None and t.id in w.tasks:
                w.tasks.remove(t.id)
                self.save_worker(w)

    def put_in_worker(
        self, t: Task, w: Worker, index: int | None = None, *, save: bool = True
    ) -> None:
        if index is None or index < 0 or index >= len(w.tasks):
            w.tasks.append(t.id)
        else:
            w.tasks.insert(index, t.id)
        t.container_type, t.container_id, t.worker = "WORKER", w.id, w.id
        self.note_worker(t, w.id)
        if t.state == STATE_UNASSIGNED:
            self.set_state(t, STATE_ASSIGNED)
        if save:  # a bulk caller saves each worker once at the end
            self.save_worker(w)

    def check_move(self, t: Task, ct: str, cid: str) -> tuple[str, str]:
        """Raise the 400 that moving ``t`` to (ct, cid) would get; change nothing.
        Returns the target with the organisation's id filled in."""
        if t.state in (STATE_ACTIVE, STATE_COMPLETED):
            raise bad(f"task {t.id} is in state {t.state}; only tasks not started move")
        if ct == "WORKER" and cid not in self.workers:
            raise bad(f"worker {cid} does not exist")
        if ct == "TEAM" and cid not in self.teams:
            raise bad(f"team {cid} does not exist")
        if ct == "ORGANIZATION":
            cid = self.org
        if (ct, cid) != (t.container_type, t.container_id):
            self.check_cap(ct, cid)
        return ct, cid

    def move_to_container(self, t: Task, ct: str, cid: str) -> None:
        """Move a not-yet-started task (0 -> 1 to a worker, 1 -> 0 back)."""
        ct, cid = self.check_move(t, ct, cid)
        before = t.worker
        self.remove_from_container(t)
        if ct == "WORKER":
            self.put_in_worker(t, self.workers[cid])
        else:
            if ct == "ORGANIZATION":
                self.org_container[t.id] = None
            else:
                self.teams[cid].tasks.append(t.id)
                self.save_team(self.teams[cid])
            t.container_type, t.container_id, t.worker = ct, cid, None
            if t.state == STATE_ASSIGNED:
                self.set_state(t, STATE_UNASSIGNED)
        t.time_last_modified = self.rt.now_ms()
        self.save_task(t)
        self.container_events(t, before)

    def container_json(self, kind: str, cid: str) -> dict[str, Any]:
        if kind == "workers":
            w = self.workers.get(cid)
            if w is None:
                raise ONFLEET.not_found(f"worker {cid}")
            return {
                "id": w.id,
                "timeCreated": w.time_created,
                "timeLastModified": w.time_last_modified,
                "organization": self.org,
                "type": "WORKER",
                "activeTask": w.active_task,
                "tasks": w.tasks,
                "worker": w.id,
            }
        if kind == "teams":
            team = self.teams.get(cid)
            if team is None:
                raise ONFLEET.not_found(f"team {cid}")
            return {
                "id": team.id,
                "timeCreated": team.time_created,
                "timeLastModified": team.time_last_modified,
                "organization": self.org,
                "type": "TEAM",
                "activeTask": None,
                "tasks": team.tasks,
                "team": team.id,
            }
        if cid != self.org:
            raise ONFLEET.not_found(f"organization {cid}")
        return {
            "id": self.org,
            "timeCreated": 0,
            "timeLastModified": self.rt.now_ms(),
            "organization": self.org,
            "type": "ORGANIZATION",
            "activeTask": None,
            "tasks": list(self.org_container),
        }

    def set_worker_container(self, wid: str, body: Any) -> dict[str, Any]:
        """PUT /containers/workers/{id}: replace the list, or insert at ``tasks[0]``."""
        return set_container(self, "WORKER", wid, body)

    def set_container(self, ct: str, cid: str, body: Any) -> dict[str, Any]:
        """PUT /containers/{workers|teams|organizations}/{id} (see :mod:`containers`)."""
        return set_container(self, ct, cid, body)

    # -- autoAssign --------------------------------------------------------------------
    def worker_views(self, team: str | None = None) -> list[WorkerView]:
        """The on-duty, located workers (of ``team`` when given) as the simulator's
        dispatch policy sees them: location, load and planned route."""
        views = []
        for w in self.workers.values():
            if team is not None and team not in w.teams:
                continue
            if not w.on_duty or w.location is None:
                continue
            lon, lat = w.location
            route = self._route(w, lat, lon)
            free = math.inf if w.capacity is None else w.capacity - sum(route.quantities)
            views.append(
                WorkerView(
                    id=w.id,
                    lat=lat,
                    lon=lon,
                    on_duty=True,
                    teams=frozenset(w.teams),
                    assigned_count=len(w.tasks),
                    free_capacity=free,
                    route_m=route.length_m,
                    end_lat=route.end_lat,
                    end_lon=route.end_lon,
                )
            )
        return views

    def _route(self, w: Worker, lat: float, lon: float) -> _Route:
        """The worker's planned route (location -> active task -> assigned tasks), kept
        incrementally: autoAssign appends to a worker's list, so a cached route whose task
        ids are a prefix of the list now only sums the new legs (the same sum, in the same
        order, as :func:`sim.dispatch.route_length_m` over the whole route).  Anything else
        (a move, a new active task, a reordered or shortened list, a task update, which
        bumps ``route_epoch``) recomputes it."""
        cache = self._routes
        if cache is None:
            cache = self._routes = {}
        r = cache.get(w.id)
        tasks = w.tasks
        n = 0 if r is None else len(r.ids)
        if (
            r is None
            or r.epoch != self.route_epoch
            or r.lat != lat
            or r.lon != lon
            or r.active != w.active_task
            or len(tasks) < n
            or tasks[:n] != r.ids
        ):
            r = _Route(self.route_epoch, lat, lon, w.active_task, [], [], 0.0, lat, lon)
            cache[w.id] = r
            n = 0
            if w.active_task:
                self._extend(r, [w.active_task])
        if len(tasks) > n:
            new = tasks[n:]
            self._extend(r, new)
            r.ids.extend(new)
        return r

    def _extend(self, r: _Route, ids: list[str]) -> None:
        """Append the stops ``ids`` (those still existing) to the route ``r``."""
        get = self.tasks.get
        stops = [t for t in map(get, ids) if t is not None]
        r.length_m, r.end_lat, r.end_lon = route_length_m(
            r.end_lat, r.end_lon, [(t.lat, t.lon) for t in stops], r.length_m
        )
        r.quantities.extend(t.quantity for t in stops)

    def auto_assign(self, t: Task, opts: dict[str, Any]) -> None:
        """Assign ``t`` to the worker the simulator's policy picks; sets didAutoAssign."""
        self.apply_schedules()
        choice = choose_worker(
            FleetSnapshot.build(self.worker_views()),
            TaskPoint(t.lat, t.lon, t.quantity),
            AutoAssignOptions(
                mode=opts["mode"],
                team=opts["team"],
                max_assigned_task_count=opts["max"],
                consider_dependencies=opts["deps"],
                excluded_worker_ids=frozenset(opts["excl"]),
            ),
        )
        if choice is None:
            t.did_auto_assign = False
            return
        w = self.workers[str(choice)]
        cap = self.rt.config.container_cap
        if cap is not None and len(w.tasks) >= cap:
            t.did_auto_assign = False
            return
        self.remove_from_container(t)
        self.put_in_worker(t, w)
        t.did_auto_assign = True

    # -- teams and workers -------------------------------------------------------------
    def create_team(self, body: Any) -> Team:
        if not isinstance(body, dict):
            raise bad("body must be a JSON object", E_WRONG_TYPES)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad("name is required")
        workers = body.get("workers") or []
        managers = body.get("managers") or []
        hub = body.get("hub")
        if not isinstance(workers, list) or not all(isinstance(x, str) for x in workers):
            raise bad("workers must be an array of worker ids", E_WRONG_TYPES)
        if not isinstance(managers, list) or not all(isinstance(x, str) for x in managers):
            raise bad("managers must be an array of ids", E_WRONG_TYPES)
        if hub is not None and not isinstance(hub, str):
            raise bad("hub must be an id", E_WRONG_TYPES)
        for wid in workers:
            if wid not in self.workers:
                raise bad(f"worker {wid} does not exist")
        now = self.rt.now_ms()
        team = Team(self.rt.ids.onfleet(), name, now, now, list(workers), list(managers), hub)
        self.teams[team.id] = team
        for wid in workers:
            self.workers[wid].teams.append(team.id)
            self.save_worker(self.workers[wid])
        self.save_team(team)
        return team

    def create_worker(self, body: Any) -> Worker:
        if not isinstance(body, dict):
            raise bad("body must be a JSON object", E_WRONG_TYPES)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad("name is required")
        phone = normalise_phone(body.get("phone"))
        if any(w.phone == phone for w in self.workers.values()):
            raise ApiError(
                400,
                "A worker with this phone number already exists.",
                error=E_NOT_UNIQUE,
                cause=phone,
            )
        teams = body.get("teams")
        if not isinstance(teams, list) or not teams or not all(isinstance(x, str) for x in teams):
            raise bad("teams is required: an array of one or more team ids")
        for tid in teams:
            if tid not in self.teams:
                raise bad(f"team {tid} does not exist")
        vehicle = body.get("vehicle")
        vjson = None
        if vehicle is not None:
            if not isinstance(vehicle, dict) or vehicle.get("type") not in _VEHICLES:
                raise bad("vehicle.type must be CAR, BICYCLE, MOTORCYCLE or TRUCK")
            vjson = {
                "id": self.rt.ids.onfleet(),
                "type": vehicle["type"],
                "description": vehicle.get("description"),
                "licensePlate": vehicle.get("licensePlate"),
                "color": vehicle.get("color"),
                "timeLastModified": self.rt.now_ms(),
            }
        cap = body.get("capacity")
        if cap is not None and (
            isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 0
        ):
            raise bad("capacity must be a non-negative number")
        metadata = parse_metadata(body["metadata"]) if "metadata" in body else []
        now = self.rt.now_ms()
        w = Worker(
            self.rt.ids.onfleet(),
            name,
            phone,
            self.org,
            now,
            now,
            list(teams),
            vjson,
            None if cap is None else float(cap),
            metadata=metadata,
        )
        self.workers[w.id] = w
        for tid in teams:
            self.teams[tid].workers.append(w.id)
            self.save_team(self.teams[tid])
        self.save_worker(w)
        self.worker_event("workerCreated", w)
        return w

    def delete_worker(self, wid: str) -> None:
        """DELETE /workers/{id}: refused while the worker has an active task [inf]; its
        assigned tasks go back to the organisation's container (taskUnassigned each), it
        leaves its teams, and workerDeleted fires with the worker as it was."""
        w = self.get_worker(wid)
        if w.active_task is not None:
            raise bad(
                f"worker {wid} has an active task ({w.active_task}); complete it before "
                "deleting the worker"
            )
        # Checked before anything moves: a full organisation container refuses the whole
        # delete, not the delete after some of the tasks went back.
        self.check_cap("ORGANIZATION", self.org, extra=len(w.tasks))
        for tid in list(w.tasks):
            self.move_to_container(self.get(tid), "ORGANIZATION", self.org)
        for team_id in w.teams:
            team = self.teams.get(team_id)
            if team is not None and wid in team.workers:
                team.workers.remove(wid)
                self.save_team(team)
        del self.workers[wid]
        if self.rt.store.durable:  # a tombstone: the store keeps records, never removes
            self.rt.store.put("worker", wid, {"id": wid, "deleted": True})
        self.worker_event("workerDeleted", w)

    def get_worker(self, wid: str) -> Worker:
        w = self.workers.get(wid)
        if w is None:
            raise ONFLEET.not_found(f"worker {wid}")
        return w

    def get_team(self, tid: str) -> Team:
        team = self.teams.get(tid)
        if team is None:
            raise ONFLEET.not_found(f"team {tid}")
        return team

    # -- the driver app (emulator-only control route) --------------------------------
    def set_duty(self, wid: str, on: bool, location: list[float] | None) -> Worker:
        self.apply_schedules()  # a passed shift edge comes before this switch
        w = self.get_worker(wid)
        changed = w.on_duty != on
        w.on_duty = on
        if location is not None:
            w.location = location
        w.time_last_seen = w.time_last_modified = self.rt.now_ms()
        self.save_worker(w)
        if changed:
            self.worker_event("workerDuty", w, by_worker=True, extras={"status": int(on)})
        return w

    def move_worker(self, wid: str, location: list[float]) -> Worker:
        w = self.get_worker(wid)
        w.location = location
        w.time_last_seen = self.rt.now_ms()
        self.save_worker(w)
        t = self.tasks.get(w.active_task) if w.active_task is not None else None
        if t is not None:
            self.eta_event(w, t)
            self.arrival_event(w, t)
        return w

    def start_task(self, tid: str) -> Task:
        """The driver starts an assigned task: state 1 -> 2, it becomes activeTask."""
        self.apply_schedules()
        t = self.get(tid)
        if t.state != STATE_ASSIGNED or t.worker is None:
            raise bad(f"task {tid} is in state {t.state}; only an assigned task can start")
        w = self.workers[t.worker]
        if not w.on_duty:
            raise bad(f"worker {w.id} is off duty")
        if w.active_task is not None:
            raise bad(f"worker {w.id} already has an active task {w.active_task}")
        for dep in t.dependencies:
            d = self.tasks.get(dep)
            if d is not None and d.state != STATE_COMPLETED:
                raise bad(f"dependency {dep} is not completed")
        w.tasks.remove(t.id)
        w.active_task = t.id
        self.set_state(t, STATE_ACTIVE)
        t.time_last_modified = self.rt.now_ms()
        self.save_worker(w)
        self.save_task(t)
        self.task_event("taskStarted", t, worker=w.id)
        self.eta_event(w, t)
        return t
