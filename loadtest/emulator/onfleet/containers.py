"""Container writes: ``PUT /containers/{workers|teams|organizations}/{id}`` (the rules
are in :func:`set_container`).

Linear in the sizes of the containers involved: sets for membership, each touched list
rebuilt once, each record saved once (a per-task ``list.remove`` or worker save made a
5k-of-20k PUT quadratic, ~2.4 s on the event loop).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.onfleet.model import (
    STATE_ACTIVE,
    STATE_ASSIGNED,
    STATE_COMPLETED,
    STATE_UNASSIGNED,
    Task,
)
from loadtest.emulator.onfleet.validate import bad
from loadtest.providers.onfleet import E_WRONG_TYPES

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.fleet import FleetOps


def set_container(st: FleetOps, ct: str, cid: str, body: Any) -> dict[str, Any]:
    """PUT /containers/{workers|teams|organizations}/{id}.

    ``{"tasks": [ids...]}`` replaces a worker's list (the tasks it held and no longer
    lists go back to the organisation); ``{"tasks": [index, ids...]}`` inserts the ids
    as one run at ``index`` (-1 or past the end appends) of any container.  Replacing
    a team's or the organisation's whole list is refused (API-NOTES §1.6).  A task
    moved into a worker becomes assigned (1), into a team or the organisation
    unassigned (0).  ``considerDependencies`` is accepted and has no effect [inf].
    """
    kind = {"WORKER": "workers", "TEAM": "teams", "ORGANIZATION": "organizations"}[ct]
    current: Collection[str]
    if ct == "WORKER":
        owner = st.workers.get(cid)
        if owner is None:
            raise ONFLEET.not_found(f"worker {cid}")
        current = owner.tasks
    elif ct == "TEAM":
        team = st.teams.get(cid)
        if team is None:
            raise ONFLEET.not_found(f"team {cid}")
        current = team.tasks
    else:
        if cid != st.org:
            raise ONFLEET.not_found(f"organization {cid}")
        current = st.org_container  # a dict: ordered, len and `in` like a list
    if not isinstance(body, dict) or not isinstance(body.get("tasks"), list):
        raise bad("body must be {tasks: [...]}", E_WRONG_TYPES)
    cdeps = body.get("considerDependencies", False)
    if not isinstance(cdeps, bool):
        raise bad("considerDependencies must be a boolean", E_WRONG_TYPES)
    items = body["tasks"]
    index: int | None = None
    if items and isinstance(items[0], int) and not isinstance(items[0], bool):
        index, items = items[0], items[1:]
    if index is None and ct != "WORKER":
        raise bad(
            f"only a worker container's list can be replaced; to add tasks to this "
            f"{ct.lower()} container give an insertion index first: [index, ids...]"
        )
    if not all(isinstance(x, str) for x in items):
        raise bad("tasks must be task ids (optionally after an insertion index)", E_WRONG_TYPES)
    if len(set(items)) != len(items):
        raise bad("tasks lists a task twice")
    tasks = []
    for tid in items:
        t = st.tasks.get(tid)
        if t is None:
            raise bad(f"task {tid} does not exist")
        if t.state in (STATE_ACTIVE, STATE_COMPLETED):
            raise bad(f"task {tid} is in state {t.state} and cannot be moved")
        tasks.append(t)
    newcomers = sum(1 for t in tasks if (t.container_type, t.container_id) != (ct, cid))
    kept = 0 if index is None else len(current)
    cap = st.rt.config.container_cap
    if cap is not None and kept + newcomers > cap:
        raise bad(f"the {ct.lower()} container would exceed {cap:,} tasks")
    # Linear in the sizes of the containers involved: sets for membership, each touched
    # list rebuilt once, each record saved once (a per-task list.remove or worker save
    # made a 5k-of-20k PUT quadratic, ~2.4 s on the event loop).
    listed = {t.id for t in tasks}
    dropped: list[Task] = []
    if index is None:
        dropped = [st.tasks[tid] for tid in current if tid not in listed]
        if cap is not None and len(st.org_container) + len(dropped) > cap:
            raise bad(f"the organization container holds {cap:,} tasks, its maximum")
    now = st.rt.now_ms()
    for t in dropped:
        st.org_container[t.id] = None
        t.container_type, t.container_id, t.worker = "ORGANIZATION", st.org, None
        if t.state == STATE_ASSIGNED:
            st.set_state(t, STATE_UNASSIGNED)
        t.time_last_modified = now
        st.save_task(t)
    moved_in = [t for t in tasks if (t.container_type, t.container_id) != (ct, cid)]
    before = {t.id: t.worker for t in moved_in}
    _take_from_other_containers(st, moved_in)
    worker = cid if ct == "WORKER" else None
    for t in tasks:
        t.container_type, t.container_id, t.worker = ct, cid, worker
        if worker is not None:
            st.note_worker(t, worker)
        if worker is not None and t.state == STATE_UNASSIGNED:
            st.set_state(t, STATE_ASSIGNED)
        elif worker is None and t.state == STATE_ASSIGNED:
            st.set_state(t, STATE_UNASSIGNED)
        t.time_last_modified = now
        st.save_task(t)
    ids = [t.id for t in tasks]
    org = st.org_container
    appended = False
    if ct == "ORGANIZATION" and index is not None:
        rest_len = len(org) - sum(1 for x in ids if x in org)
        if index < 0 or index >= rest_len:
            # Appending: O(listed), not O(organisation), which may hold a million tasks.
            for x in ids:
                org.pop(x, None)
                org[x] = None
            appended = True
    if index is None or appended:
        new_list = ids
    else:
        # The listed tasks go in as one run at ``index`` of the list without them.
        rest = [tid for tid in current if tid not in listed]
        at = len(rest) if index < 0 or index > len(rest) else index
        new_list = rest[:at] + ids + rest[at:]
    if ct == "WORKER":
        w = st.workers[cid]
        w.tasks = new_list
        w.time_last_modified = now
        st.save_worker(w)
    elif ct == "TEAM":
        tm = st.teams[cid]
        tm.tasks = new_list
        tm.time_last_modified = now
        st.save_team(tm)
    elif not appended:
        org.clear()
        org.update(dict.fromkeys(new_list))
    # Events once every record is final: left this worker (for the organisation), then
    # arrived here (taskAssigned into a worker, taskUnassigned out of one).
    for t in dropped:
        st.task_event("taskUnassigned", t)
    for t in moved_in:
        st.container_events(t, before[t.id])
    return st.container_json(kind, cid)


def _take_from_other_containers(st: FleetOps, tasks: list[Task]) -> None:
    """Remove ``tasks`` from their current containers, each list rebuilt once."""
    by_list: dict[tuple[str, str], set[str]] = {}
    for t in tasks:
        if t.container_type == "ORGANIZATION":
            st.org_container.pop(t.id, None)
        else:
            by_list.setdefault((t.container_type, t.container_id), set()).add(t.id)
    for (ct, cid), ids in by_list.items():
        if ct == "TEAM":
            team = st.teams.get(cid)
            if team is not None:
                team.tasks = [x for x in team.tasks if x not in ids]
                st.save_team(team)
        else:
            other = st.workers.get(cid)
            if other is not None:
                other.tasks = [x for x in other.tasks if x not in ids]
                st.save_worker(other)
