"""Task operations beyond create/update/delete: clone, batch autoAssign and metadata match.

- ``POST /tasks/{id}/clone`` copies a task (any state, completed ones included: a clone is
  how a failed delivery is retried) into a new unassigned task in the organisation's
  container, with a new id and shortId and ``sourceTaskId``.  ``options`` follow Onfleet's
  clone reference: ``includeMetadata``, ``includeBarcodes``, ``includeDependencies`` and
  ``overrides`` (destination, recipients, notes, pickupTask, serviceTime, metadata,
  completeAfter, completeBefore; times must be in the future).  It fires taskCloned (13),
  not taskCreated.
- ``POST /tasks/autoAssign`` assigns existing unassigned tasks one after another with the
  same dispatch code as creation's ``autoAssign`` (:meth:`FleetOps.auto_assign`, the
  simulator's policy), answering ``{assignedTasksCount, assignedTasks: {taskId: workerId}}``.
- ``POST /tasks/metadata`` lists the live tasks whose metadata matches
  (:mod:`loadtest.emulator.onfleet.task_metadata`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.model import STATE_UNASSIGNED, Task
from loadtest.emulator.onfleet.task_metadata import matches, parse_query
from loadtest.emulator.onfleet.validate import bad, parse_task
from loadtest.providers.onfleet import E_TIME_CONSTRAINTS, E_WRONG_TYPES, MAX_AUTO_ASSIGN

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

CLONE_FLAGS = ("includeMetadata", "includeBarcodes", "includeDependencies")
CLONE_OVERRIDES = frozenset(
    {
        "destination",
        "recipients",
        "notes",
        "pickupTask",
        "serviceTime",
        "metadata",
        "completeAfter",
        "completeBefore",
    }
)
# MAX_AUTO_ASSIGN: most tasks one ``POST /tasks/autoAssign`` takes [inf]: each runs the
# dispatch policy over every on-duty worker, so the request's time on the loop grows with it.
_AUTO_ASSIGN_OPTIONS = frozenset(
    {
        "mode",
        "teams",
        "maxAssignedTaskCount",
        "considerDependencies",
        "excludedWorkerIds",
        "restrictAutoAssignmentToTeam",
    }
)


def _flag(d: dict[str, Any], key: str, where: str) -> bool:
    v = d.get(key, False)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise bad(f"{where}.{key} must be a boolean", E_WRONG_TYPES)
    return v


def _ids(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise bad(f"{where} must be an array of ids", E_WRONG_TYPES)
    return v


# -- clone ---------------------------------------------------------------------------------
def clone_task(st: OnfleetState, task_id: str, body: Any) -> Task:
    """POST /tasks/{id}/clone; the caller commits."""
    src = st.get(task_id)
    if body is None:  # pyonfleet sends ``null`` when called without a body
        body = {}
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object {options?}", E_WRONG_TYPES)
    options = body.get("options")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise bad("options must be an object", E_WRONG_TYPES)
    unknown = sorted(set(options) - {*CLONE_FLAGS, "overrides"})
    if unknown:
        raise bad(
            f"options.{unknown[0]} is not a clone option; use {', '.join(CLONE_FLAGS)} or overrides"
        )
    flags = {k: _flag(options, k, "options") for k in CLONE_FLAGS}
    overrides = options.get("overrides")
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise bad("options.overrides must be an object", E_WRONG_TYPES)
    unknown = sorted(set(overrides) - CLONE_OVERRIDES)
    if unknown:
        raise bad(
            f"options.overrides.{unknown[0]} cannot be overridden; allowed: "
            + ", ".join(sorted(CLONE_OVERRIDES))
        )
    now = st.rt.now_ms()
    for key in ("completeAfter", "completeBefore"):
        v = overrides.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v <= now:
            raise bad(f"options.overrides.{key} must be in the future", E_TIME_CONSTRAINTS)
    spec_body: dict[str, Any] = {
        "destination": src.destination["id"],
        "recipients": [r["id"] for r in src.recipients],
        "notes": src.notes,
        "pickupTask": src.pickup,
        "completeAfter": src.complete_after,
        "completeBefore": src.complete_before,
        "quantity": src.quantity,
        "serviceTime": src.service_time,
        "merchant": src.merchant,
        "executor": src.executor,
        "scanOnlyRequiredBarcodes": src.scan_only_required,
    }
    if src.triangle_color is not None:
        spec_body["appearance"] = {"triangleColor": src.triangle_color}
    if src.overrides:
        spec_body.update(src.overrides)
    if flags["includeMetadata"]:
        spec_body["metadata"] = src.metadata
    if flags["includeDependencies"]:
        # Only the dependencies that still exist: a deleted one could never complete.
        spec_body["dependencies"] = [d for d in src.dependencies if d in st.tasks]
    # includeBarcodes: the emulator keeps no barcodes, so there is nothing to copy [inf].
    spec_body.update(overrides)
    spec = parse_task(spec_body)
    (res,), _ = st.create_many([spec])  # not single: no autoAssign, no taskCreated
    if isinstance(res, ApiError):
        raise res
    res.source_task_id = src.id
    st.save_task(res)
    st.task_event("taskCloned", res)
    return res


# -- batch autoAssign ----------------------------------------------------------------------
def auto_assign_tasks(st: OnfleetState, body: Any) -> dict[str, Any]:
    """POST /tasks/autoAssign; every check before any task moves.  The caller commits."""
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object {tasks, options}", E_WRONG_TYPES)
    ids = body.get("tasks")
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
        raise bad("tasks is required: an array of task ids", E_WRONG_TYPES)
    if not ids:
        raise bad(f"tasks is empty; send 1 to {MAX_AUTO_ASSIGN} task ids")
    if len(ids) > MAX_AUTO_ASSIGN:
        raise bad(f"{len(ids)} tasks in one call; at most {MAX_AUTO_ASSIGN} are allowed")
    if len(set(ids)) != len(ids):
        raise bad("tasks lists a task twice")
    opts = body.get("options")
    if not isinstance(opts, dict):
        raise bad("options is required: an object with mode (distance or load)", E_WRONG_TYPES)
    unknown = sorted(set(opts) - _AUTO_ASSIGN_OPTIONS)
    if unknown:
        raise bad(f"options.{unknown[0]} is not an autoAssign option")
    mode = opts.get("mode")
    if mode not in ("distance", "load"):
        raise bad(f"options.mode must be distance or load, got {mode!r}")
    teams = _ids(opts.get("teams"), "options.teams")
    for tid in teams:
        if tid not in st.teams:
            raise bad(f"options.teams: team {tid} does not exist")
    mx = opts.get("maxAssignedTaskCount")
    if mx is not None and (isinstance(mx, bool) or not isinstance(mx, int) or mx < 0):
        raise bad("options.maxAssignedTaskCount must be a non-negative integer")
    deps = _flag(opts, "considerDependencies", "options")
    _flag(opts, "restrictAutoAssignmentToTeam", "options")
    excluded = set(_ids(opts.get("excludedWorkerIds"), "options.excludedWorkerIds"))
    tasks: list[Task] = []
    for tid in ids:
        t = st.tasks.get(tid)
        if t is None:
            raise bad(f"task {tid} does not exist")
        if t.state != STATE_UNASSIGNED:
            raise bad(f"task {tid} is in state {t.state}; only unassigned tasks (0) auto-assign")
        tasks.append(t)
    if teams:
        # Several teams: every worker in none of them is excluded, so the one-team policy
        # (sim.dispatch) ranks exactly the teams' members.
        wanted = set(teams)
        excluded |= {w.id for w in st.workers.values() if wanted.isdisjoint(w.teams)}
    options = {
        "mode": mode,
        "team": None,
        "max": mx,
        "deps": deps,
        "excl": sorted(excluded),
    }
    assigned: dict[str, str] = {}
    now = st.rt.now_ms()
    for t in tasks:
        st.auto_assign(t, options)
        if t.did_auto_assign and t.worker is not None:
            assigned[t.id] = t.worker
            t.time_last_modified = now
            st.task_event("taskAssigned", t)
        st.save_task(t)
    return {"assignedTasksCount": len(assigned), "assignedTasks": assigned}


# -- metadata ------------------------------------------------------------------------------
def match_tasks(st: OnfleetState, body: Any) -> list[Task]:
    """POST /tasks/metadata: live tasks in creation order whose metadata matches."""
    query = parse_query(body)
    return [t for t in st.tasks.values() if t.metadata and matches(t.metadata, query)]
