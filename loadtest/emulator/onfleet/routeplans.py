"""Onfleet route plans: ``/routePlans`` (create, list, get, update, delete) and
``PUT /routePlans/{id}/tasks`` (append tasks).

A route plan is a named, timed list of tasks, optionally for a worker or team, as Onfleet's
Route Plan reference describes it.  Minimal but faithful [inf]: the plan records its
worker/team and tasks, each task shows ``routePlan``, and ``taskStates`` is computed per
answer; a plan does not move its tasks between containers and never leaves ``PENDING``
(nothing in the emulator starts a route).  A task is in at most one plan; a deleted task
drops out of its plan's answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.model import STATE_COMPLETED
from loadtest.emulator.onfleet.validate import bad
from loadtest.providers.onfleet import E_NOTHING_TO_UPDATE, E_UPDATE_MISSING, E_WRONG_TYPES

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

VEHICLES = ("CAR", "MOTORCYCLE", "BICYCLE", "TRUCK")
ENDS = ("HUB", "WORKER_LOCATION", "WORKER_ADDRESS")
MAX_LIST = 500  # GET /routePlans: ``limit`` defaults to and is capped at 500 (Onfleet docs)
#: Most tasks one plan holds [inf]: a worker container's cap.
MAX_PLAN_TASKS = 10_000
_EDITABLE = frozenset(
    {
        "name",
        "color",
        "vehicleType",
        "worker",
        "team",
        "startTime",
        "endTime",
        "startAt",
        "endAt",
        "startingHubId",
        "endingHubId",
        "timezone",
    }
)
_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def _time(v: Any, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not (0 <= v <= 10**15):
        raise bad(f"{key} must be a timestamp in epoch ms, got {v!r}", E_WRONG_TYPES)
    return v


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    v = body.get(key)
    if v is not None and not isinstance(v, str):
        raise bad(f"{key} must be a string", E_WRONG_TYPES)
    return v


class RoutePlans:
    """Every route plan of the organisation."""

    def __init__(self, st: OnfleetState) -> None:
        self.st = st
        self.plans: dict[str, dict[str, Any]] = {}
        for d in st.rt.store.load("routeplan"):
            if not d.get("deleted"):
                self.plans[d["id"]] = d

    def _save(self, plan: dict[str, Any]) -> None:
        if self.st.rt.store.durable:
            self.st.rt.store.put("routeplan", plan["id"], plan)

    def to_json(self, plan: dict[str, Any]) -> dict[str, Any]:
        tasks = self.st.tasks
        live = [tid for tid in plan["tasks"] if tid in tasks]
        return {**plan, "tasks": live, "taskStates": [tasks[tid].state for tid in live]}

    # -- validation --------------------------------------------------------------------
    def _fields(self, body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        """``base`` with the given fields of ``body`` checked and applied (a new dict)."""
        out = dict(base)
        if "name" in body:
            name = body["name"]
            if not isinstance(name, str) or not name.strip():
                raise bad("name must be a non-empty string")
            out["name"] = name
        for key in ("color", "timezone", "startingHubId", "endingHubId"):
            if key in body:
                out[key] = _opt_str(body, key)
        if out.get("timezone") is not None and out["timezone"] not in _zones():
            raise bad(f"timezone {out['timezone']!r} is not an IANA zone (e.g. America/New_York)")
        if "startTime" in body:
            out["startTime"] = _time(body["startTime"], "startTime")
        if "endTime" in body:
            out["endTime"] = None if body["endTime"] is None else _time(body["endTime"], "endTime")
        if out["endTime"] is not None and out["endTime"] <= out["startTime"]:
            raise bad("endTime must be after startTime", 1009)
        if "vehicleType" in body:
            v = body["vehicleType"]
            if v is not None and v not in VEHICLES:
                raise bad(f"vehicleType must be one of {', '.join(VEHICLES)}, got {v!r}")
            out["vehicleType"] = v
        if "worker" in body:
            w = _opt_str(body, "worker")
            if w is not None and w not in self.st.workers:
                raise bad(f"worker {w} does not exist")
            out["worker"] = w
        if "team" in body:
            t = _opt_str(body, "team")
            if t is not None and t not in self.st.teams:
                raise bad(f"team {t} does not exist")
            out["team"] = t
        for key in ("startAt", "endAt"):
            if key in body:
                v = body[key]
                if v is not None and v not in ENDS:
                    raise bad(f"{key} must be HUB, WORKER_LOCATION, WORKER_ADDRESS or null")
                out[key] = v
        if out["startAt"] == "HUB" and not out["startingHubId"]:
            raise bad("startingHubId is required when startAt is HUB")
        if out["endAt"] == "HUB" and not out["endingHubId"]:
            raise bad("endingHubId is required when endAt is HUB")
        return out

    def _tasks(self, raw: Any, plan_id: str | None, have: list[str]) -> list[str]:
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise bad("tasks must be an array of task ids", E_WRONG_TYPES)
        if len(set(raw)) != len(raw) or not set(raw).isdisjoint(have):
            raise bad("tasks lists a task twice (or one already in the plan)")
        if len(have) + len(raw) > MAX_PLAN_TASKS:
            raise bad(f"a route plan holds at most {MAX_PLAN_TASKS:,} tasks")
        for tid in raw:
            t = self.st.tasks.get(tid)
            if t is None:
                raise bad(f"task {tid} does not exist")
            if t.state == STATE_COMPLETED:
                raise bad(f"task {tid} is completed and cannot join a route plan")
            if t.route_plan is not None and t.route_plan != plan_id:
                raise bad(f"task {tid} is already in route plan {t.route_plan}")
        return raw

    def _mark(self, task_ids: list[str], plan_id: str | None) -> None:
        for tid in task_ids:
            t = self.st.tasks.get(tid)
            if t is not None:
                t.route_plan = plan_id
                self.st.save_task(t)

    # -- routes ------------------------------------------------------------------------
    def create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object {name, startTime, ...}", E_WRONG_TYPES)
        if not isinstance(body.get("name"), str) or "startTime" not in body:
            raise bad("name (a string) and startTime (epoch ms) are required")
        pid = self.st.rt.ids.onfleet()
        now = self.st.rt.now_ms()
        base: dict[str, Any] = {
            "id": pid,
            "name": "",
            "state": "PENDING",
            "color": None,
            "tasks": [],
            "organization": self.st.org,
            "team": None,
            "worker": None,
            "vehicleType": None,
            "startTime": 0,
            "endTime": None,
            "actualStartTime": None,
            "actualEndTime": None,
            "startAt": None,
            "endAt": None,
            "startingHubId": None,
            "endingHubId": None,
            "shortId": self.st.rt.ids.short(),
            "timeCreated": now,
            "timeLastModified": now,
            "timezone": None,
        }
        plan = self._fields(body, base)
        raw_tasks = body.get("tasks", body.get("taskIds", []))
        plan["tasks"] = list(self._tasks(raw_tasks, None, []))
        self.plans[pid] = plan
        self._mark(plan["tasks"], pid)
        self._save(plan)
        return plan

    def get(self, pid: str) -> dict[str, Any]:
        plan = self.plans.get(pid)
        if plan is None:
            raise ONFLEET.not_found(f"route plan {pid}")
        return plan

    def list(self, q: dict[str, str]) -> list[dict[str, Any]]:
        def num(key: str) -> int | None:
            raw = q.get(key)
            if raw is None or raw == "":
                return None
            if not raw.isdigit():
                raise bad(f"{key} must be a timestamp in epoch ms, got {raw!r}")
            return int(raw)

        worker = q.get("workerId") or None
        st_from, st_to = num("startTimeFrom"), num("startTimeTo")
        ct_from, ct_to = num("createdTimeFrom"), num("createdTimeTo")
        has = q.get("hasTasks")
        if has not in (None, "", "true", "false"):
            raise bad("hasTasks must be true or false")
        limit = num("limit")
        if limit is None:
            limit = MAX_LIST
        if not 1 <= limit <= MAX_LIST:
            raise bad(f"limit must be 1 to {MAX_LIST}")
        out: list[dict[str, Any]] = []
        for plan in self.plans.values():
            if worker is not None and plan["worker"] != worker:
                continue
            if st_from is not None and plan["startTime"] < st_from:
                continue
            if st_to is not None and plan["startTime"] > st_to:
                continue
            if ct_from is not None and plan["timeCreated"] < ct_from:
                continue
            if ct_to is not None and plan["timeCreated"] > ct_to:
                continue
            shown = self.to_json(plan)
            if has and (has == "true") != bool(shown["tasks"]):
                continue
            out.append(shown)
            if len(out) >= limit:
                break
        return out

    def update(self, pid: str, body: Any) -> dict[str, Any]:
        plan = self.plans.get(pid)
        if plan is None:
            raise ApiError(
                404,
                "The resource to update does not exist.",
                error=E_UPDATE_MISSING,
                cause=f"route plan {pid}",
            )
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object", E_WRONG_TYPES)
        if not body:
            raise ApiError(400, "The update changes nothing.", error=E_NOTHING_TO_UPDATE)
        unknown = sorted(set(body) - _EDITABLE)
        if unknown:
            raise bad(
                f"{unknown[0]} cannot be updated here (tasks: PUT /routePlans/{{id}}/tasks); "
                f"updatable: {', '.join(sorted(_EDITABLE))}"
            )
        new = self._fields(body, plan)
        new["timeLastModified"] = self.st.rt.now_ms()
        plan.update(new)
        self._save(plan)
        return plan

    def add_tasks(self, pid: str, body: Any) -> dict[str, Any]:
        plan = self.get(pid)
        raw = body.get("tasks") if isinstance(body, dict) else None
        if raw is None:
            raise bad('the body must be {"tasks": [task ids]}', E_WRONG_TYPES)
        live = [tid for tid in plan["tasks"] if tid in self.st.tasks]
        added = self._tasks(raw, pid, live)
        if not added:
            raise bad("tasks is empty; give the ids to add")
        plan["tasks"] = live + added
        plan["timeLastModified"] = self.st.rt.now_ms()
        self._mark(added, pid)
        self._save(plan)
        return plan

    def delete(self, pid: str) -> None:
        plan = self.get(pid)
        self._mark(plan["tasks"], None)
        del self.plans[pid]
        if self.st.rt.store.durable:  # a tombstone: the store keeps records, never removes
            self.st.rt.store.put("routeplan", pid, {"id": pid, "deleted": True})
