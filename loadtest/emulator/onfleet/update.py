"""PUT /tasks/{id}: change a task that has not completed.

The body is merged over the task's current fields and validated exactly like a creation
(same checks, same subcodes); a new destination is geocoded like one at creation, and a
``container`` moves the task (0 <-> 1) as a container write would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.model import STATE_COMPLETED, Destination, Task
from loadtest.emulator.onfleet.validate import bad, parse_container, parse_task
from loadtest.providers.onfleet import E_NOTHING_TO_UPDATE, E_UPDATE_MISSING, E_WRONG_TYPES

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState


# Body keys that change no task field: a container change fires taskAssigned or
# taskUnassigned (from the move), not taskUpdated [inf]; autoAssign is ignored on update.
_NOT_FIELDS = frozenset({"container", "autoAssign"})


def update_task(st: OnfleetState, task_id: str, body: Any) -> Task:
    t = st.tasks.get(task_id)
    if t is None:
        raise ApiError(
            404,
            "The resource to update does not exist.",
            error=E_UPDATE_MISSING,
            cause=f"task {task_id}",
        )
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object", E_WRONG_TYPES)
    if not body:
        raise ApiError(400, "The update changes nothing.", error=E_NOTHING_TO_UPDATE)
    if t.state == STATE_COMPLETED:
        raise bad("a completed task cannot be updated")
    merged = t.to_json()
    merged.update(body)
    if "destination" not in body:
        merged["destination"] = {"location": t.destination["location"]}
    merged.pop("autoAssign", None)
    merged.pop("container", None)
    merged["recipients"] = body.get("recipients") if "recipients" in body else None
    spec = parse_task(merged)
    target = parse_container(body.get("container"))
    # Every check and every new value first; the task changes only when all succeed, so a
    # 400 leaves it (and the SQLite copy) exactly as it was.
    check_dependencies(st, t.id, spec.dependencies)
    if target is not None:
        target = st.check_move(t, *target)
    now = st.rt.now_ms()
    next_id = iter(st.rt.ids.onfleet_many(2)).__next__
    new_dest: tuple[Destination | dict[str, Any], float, float, bool] | None = None
    if "destination" in body:
        addr = None
        point = None
        if spec.dest_id is None and spec.address is not None:
            prep = st.prepare_address(spec.address)
            if isinstance(prep, ApiError):
                raise prep
            structured, clean, text = prep
            addr = (structured, clean)
            if spec.location is None:
                lats, lons = st.rt.geocoder.locate([text])
                point = (lats[0], lons[0])
        new_dest = st.destination_json(spec, now, addr, point, next_id)
    new_recipients = st.recipients_json(spec, now, next_id) if "recipients" in body else None
    # -- assign (nothing below raises) -------------------------------------------------
    if new_dest is not None:
        t.destination, t.lat, t.lon, _ = new_dest
    if new_recipients is not None:
        t.recipients = new_recipients
    t.notes = spec.notes
    t.pickup = spec.pickup
    t.complete_after, t.complete_before = spec.complete_after, spec.complete_before
    t.dependencies = spec.dependencies
    t.quantity, t.service_time = spec.quantity, spec.service_time
    st.route_epoch += 1  # the location or quantity may have changed: routes re-sum
    t.metadata = spec.metadata
    if spec.overrides is not None:
        t.overrides = spec.overrides
    if target is not None:
        st.move_to_container(t, *target)
    t.time_last_modified = now
    st.save_task(t)
    if body.keys() - _NOT_FIELDS:
        st.task_event("taskUpdated", t)
    return t


def check_dependencies(st: OnfleetState, task_id: str, deps: list[str]) -> None:
    """400 / 1000 unless every dependency exists and none leads back to ``task_id``.

    Only a PUT can close a cycle (a new task has no dependants), so the walk starts from
    the new dependencies and follows the stored ones; a cycle would mean none of its tasks
    could ever start.
    """
    for dep in deps:
        if dep == task_id:
            raise bad(f"task {task_id} cannot depend on itself")
        if dep not in st.tasks:
            raise bad(f"dependency {dep} does not exist")
    parent: dict[str, str] = {dep: task_id for dep in deps}  # how the walk reached each task
    stack = list(parent)
    while stack:
        dep_task = st.tasks.get(stack.pop())
        if dep_task is None:
            continue
        for nxt in dep_task.dependencies:
            if nxt == task_id:
                chain = [dep_task.id]
                while chain[-1] != task_id:
                    chain.append(parent[chain[-1]])
                path = " -> ".join([task_id, *reversed(chain[:-1]), task_id])
                raise bad(f"dependencies would form a cycle ({path}); no task in it could start")
            if nxt not in parent:
                parent[nxt] = dep_task.id
                stack.append(nxt)
