"""Onfleet's tasks and containers: lookup, update, delete, listing and completion.

Concepts held here: :class:`OnfleetState` (all records of the one emulated organisation,
their containers and the state counters).  The creation pipeline (validated spec ->
geocoded destination -> task in a container) is :mod:`loadtest.emulator.onfleet.creation`;
workers, teams, the driver app and autoAssign live in :mod:`loadtest.emulator.onfleet.fleet`.
"""

from __future__ import annotations

from typing import Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.onfleet.creation import TaskCreation
from loadtest.emulator.onfleet.listing import list_page
from loadtest.emulator.onfleet.model import (
    STATE_ACTIVE,
    STATE_COMPLETED,
    STATE_UNASSIGNED,
    Destination,
    Task,
    Team,
    Worker,
)
from loadtest.emulator.onfleet.model import destination_json as dest_json
from loadtest.emulator.onfleet.recipients import Recipients
from loadtest.emulator.onfleet.update import update_task
from loadtest.emulator.onfleet.validate import bad
from loadtest.emulator.services import Runtime


class OnfleetState(TaskCreation):
    """Every Onfleet record of the emulated organisation (see the module docstring)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.org = rt.ids.onfleet() if not rt.store.durable else ""
        self.creator = ""
        self.tasks: dict[str, Task] = {}
        self.by_short: dict[str, Task] = {}
        self.order: list[Task] = []  # creation order (deleted ones stay, flagged)
        self.created_ms: list[int] = []  # parallel to order, non-decreasing
        self.completed: list[Task] = []  # completion order
        self.org_container: dict[str, None] = {}
        # Destination ids -> their JSON, indexed lazily (only when a request refers to one
        # by id), so creating a task does not pay for one more dict insert.  Recipients are
        # indexed at once (by id and phone): a new inline recipient reuses a known phone.
        self._destinations: dict[str, Destination | dict[str, Any]] = {}
        self.recipients = Recipients(rt.store, lambda: self.org)
        self._one_recipient: dict[str, list[dict[str, Any]]] = {}
        self._indexed_upto = 0
        self.workers: dict[str, Worker] = {}
        self.teams: dict[str, Team] = {}
        self.state_counts = [0, 0, 0, 0]
        self._last_ms = 0
        self._unfrozen = 0
        self._cap = rt.config.container_cap
        g = rt.config.region
        # The address of a destination given only by its location (no reverse geocoding).
        self._region_address = {
            "apartment": "",
            "state": g.state,
            "postalCode": "",
            "number": "",
            "street": "",
            "city": g.city,
            "country": g.country,
        }
        self._restore()

    # -- persistence -------------------------------------------------------------------
    def _restore(self) -> None:
        store = self.rt.store
        for meta in store.load("onfleet-org"):
            self.org, self.creator = meta["org"], meta["creator"]
        if not self.org:
            self.org = self.rt.ids.onfleet()
        if not self.creator:
            self.creator = self.rt.ids.onfleet()
            store.put("onfleet-org", "org", {"org": self.org, "creator": self.creator})
            self.rt.commit()
        for d in store.load("team"):
            if d.get("deleted"):  # a deleted team's tombstone
                continue
            team = Team.from_json(d)
            self.teams[team.id] = team
        for d in store.load("worker"):
            if d.get("deleted"):
                continue
            w = Worker.from_json(d)
            self.workers[w.id] = w
        loaded = [Task.from_record(d) for d in store.load("task")]
        loaded.sort(key=lambda t: t.seq)
        for t in loaded:
            self._index(t)
            self.rt.ids.claim_short(t.short_id)
            if t.deleted:
                continue
            if t.state == STATE_COMPLETED:
                self.completed.append(t)
            elif t.container_type == "ORGANIZATION" and t.state == STATE_UNASSIGNED:
                self.org_container[t.id] = None
        self.completed.sort(key=lambda t: t.time_completed or 0)
        # Tasks share their recipient records (restored once per id), and the records
        # saved through /recipients (created or updated there) are the latest version.
        adopt = self.recipients.adopt
        for t in loaded:
            if t.recipients:
                t.recipients = [adopt(r) for r in t.recipients]
        self.recipients.restore(store.load("recipient"))
        for d in store.load("destination"):
            self._destinations[d["id"]] = d

    def _index(self, t: Task) -> None:
        self.order.append(t)
        self.created_ms.append(t.time_created)
        self._last_ms = max(self._last_ms, t.time_created)
        if t.deleted:
            return
        self.tasks[t.id] = t
        self.by_short[t.short_id] = t
        self.state_counts[t.state] += 1

    def _catch_up(self) -> None:
        for t in self.order[self._indexed_upto :]:
            self._destinations.setdefault(t.destination["id"], t.destination)
        self._indexed_upto = len(self.order)

    def find_destination(self, dest_id: str) -> dict[str, Any] | None:
        """A destination created with an earlier task, by id (deleted tasks' included)."""
        d = self._find_destination(dest_id)
        return None if d is None else dest_json(d)

    def _find_destination(self, dest_id: str) -> Destination | dict[str, Any] | None:
        """The stored record itself (tasks naming it share it)."""
        self._catch_up()
        return self._destinations.get(dest_id)

    def find_recipient(self, rec_id: str) -> dict[str, Any] | None:
        return self.recipients.by_id.get(rec_id)

    def all_destinations(self) -> list[dict[str, Any]]:
        """Every destination: created alone or with a task (deleted tasks' included)."""
        self._catch_up()
        return [dest_json(d) for d in self._destinations.values()]

    def add_destination(self, dest: dict[str, Any]) -> None:
        """Index and save a destination created on its own (POST /destinations)."""
        self._destinations[dest["id"]] = dest
        if self.rt.store.durable:
            self.rt.store.put("destination", dest["id"], dest)

    def save_task(self, t: Task) -> None:
        if self.rt.store.durable:
            self.rt.store.put("task", t.id, t.to_record())

    def save_worker(self, w: Worker) -> None:
        if self.rt.store.durable:
            self.rt.store.put("worker", w.id, w.to_json())

    def save_team(self, t: Team) -> None:
        if self.rt.store.durable:
            self.rt.store.put("team", t.id, t.to_json())

    def _now(self) -> int:
        # Creation times never go backwards, so `created_ms` stays sorted for bisect.
        t = max(self.rt.now_ms(), self._last_ms)
        self._last_ms = t
        return t

    # -- lookup ------------------------------------------------------------------------
    def get(self, task_id: str) -> Task:
        t = self.tasks.get(task_id)
        if t is None:
            raise ONFLEET.not_found(f"task {task_id}")
        return t

    def get_short(self, short_id: str) -> Task:
        t = self.by_short.get(short_id)
        if t is None:
            raise ONFLEET.not_found(f"task shortId {short_id}")
        return t

    def list_tasks(
        self,
        from_ms: int,
        to_ms: int | None,
        last_id: str | None,
        states: frozenset[int] | None,
        worker: str | None,
    ) -> tuple[list[Task], str | None]:
        """One page of GET /tasks/all (see :func:`listing.list_page`)."""
        return list_page(self, from_ms, to_ms, last_id, states, worker)

    # -- update, delete, complete -----------------------------------------------------
    def update(self, task_id: str, body: Any) -> Task:
        """PUT /tasks/{id} (see :func:`update.update_task`)."""
        return update_task(self, task_id, body)

    def delete(self, task_id: str) -> None:
        t = self.get(task_id)
        if t.state == STATE_ACTIVE:
            raise bad("an active task cannot be deleted; complete it instead")
        self.remove_from_container(t)
        t.deleted = True
        del self.tasks[t.id]
        del self.by_short[t.short_id]
        self.state_counts[t.state] -= 1
        if t.state == STATE_COMPLETED:
            self.completed.remove(t)
        self.save_task(t)
        self.task_event("taskDeleted", t)
        self.rt.events.done(t.id)

    def complete(self, task_id: str, success: bool, notes: str) -> Task:
        t = self.get(task_id)
        if t.state == STATE_COMPLETED:
            raise bad("the task is already completed (state 3 is final)")
        if t.state != STATE_ACTIVE:
            raise bad(
                f"the task has not been started (state {t.state}); only an active "
                "task can be completed"
            )
        w = self.workers.get(t.worker or "")
        if w is not None and w.active_task == t.id:
            w.active_task = None
            self.save_worker(w)
        self.set_state(t, STATE_COMPLETED)
        t.success = success
        t.completion_notes = notes
        t.time_completed = t.time_last_modified = self._now()
        self.completed.append(t)
        self.save_task(t)
        self.task_event("taskCompleted" if success else "taskFailed", t)
        self.rt.events.done(t.id)
        return t

    def set_state(self, t: Task, state: int) -> None:
        self.state_counts[t.state] -= 1
        self.state_counts[state] += 1
        t.state = state
