"""PUT /tasks/{id}: change a task that has not completed.

The body is merged over the task's current fields and validated exactly like a creation
(same checks, same subcodes); a new destination is geocoded like one at creation, and a
``container`` moves the task (0 <-> 1) as a container write would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.model import STATE_COMPLETED, Task
from loadtest.emulator.onfleet.validate import bad, parse_container, parse_task
from loadtest.emulator.runtime import now_ms
from loadtest.providers.onfleet import E_UPDATE_MISSING

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState


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
        raise bad("the body must be a JSON object", 1005)
    if not body:
        raise ApiError(400, "The update changes nothing.", error=1002)
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
    for dep in spec.dependencies:
        if dep not in st.tasks or dep == t.id:
            raise bad(f"dependency {dep} does not exist")
    now = now_ms()
    next_id = iter(st.rt.ids.onfleet_many(2)).__next__
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
        t.destination, t.lat, t.lon, _ = st.destination_json(spec, now, addr, point, next_id)
    if "recipients" in body:
        t.recipients = st.recipients_json(spec, now, next_id)
    t.notes = spec.notes
    t.pickup = spec.pickup
    t.complete_after, t.complete_before = spec.complete_after, spec.complete_before
    t.dependencies = spec.dependencies
    t.quantity, t.service_time = spec.quantity, spec.service_time
    t.metadata = spec.metadata
    if spec.overrides is not None:
        t.overrides = spec.overrides
    if target is not None:
        st.move_to_container(t, *target)
    t.time_last_modified = now
    st.save_task(t)
    return t
