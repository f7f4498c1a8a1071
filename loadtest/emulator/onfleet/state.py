"""Onfleet's tasks and containers: creation (single and batch), lookup, update, delete,
listing and completion.

Concepts held here: :class:`OnfleetState` (all records of the one emulated organisation,
their containers and the state counters) and the creation pipeline
(validated spec -> geocoded destination -> task in a container).  Workers, teams, the
driver app and autoAssign live in :mod:`loadtest.emulator.onfleet.fleet`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.geocode import WARN_NO_NUMBER
from loadtest.emulator.onfleet.fastparse import parse_many
from loadtest.emulator.onfleet.fleet import FleetOps
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
from loadtest.emulator.onfleet.validate import TaskSpec, bad
from loadtest.emulator.services import Runtime
from loadtest.providers.onfleet import (
    CAUSE_GEOCODING,
    E_GEOCODING,
    MSG_INVALID_VALUES,
)

FREEZE_AFTER = 200  # tasks created since the last gc.freeze() before the next one


class OnfleetState(FleetOps):
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

    # -- creation ----------------------------------------------------------------------
    def parse_many(self, bodies: list[Any]) -> list[TaskSpec | ApiError]:
        """One spec or 400 per body (see :mod:`loadtest.emulator.onfleet.fastparse`)."""
        return parse_many(bodies)

    def prepare_address(self, addr: dict[str, Any]) -> tuple[dict[str, str], bool, str] | ApiError:
        """(structured address, geocodes cleanly, text to geocode), or the geocoding error."""
        geo = self.rt.geocoder
        unparsed = addr.get("unparsed")
        if unparsed:
            fields, clean = geo.parse_unparsed(unparsed)
            text = unparsed
            structured = fields.as_dict()
        else:
            clean = True
            structured = {
                "apartment": addr.get("apartment") or "",
                "state": addr.get("state") or "",
                "postalCode": addr.get("postalCode") or "",
                "number": addr.get("number") or "",
                "street": addr.get("street") or "",
                "city": addr.get("city") or "",
                "country": addr.get("country") or geo.region.country,
            }
            text = " ".join(v for v in structured.values() if v)
        if geo.fails(text):
            return ApiError(400, MSG_INVALID_VALUES, error=E_GEOCODING, cause=CAUSE_GEOCODING)
        return structured, clean, text

    def create_many(
        self, specs: list[TaskSpec | ApiError], *, single: bool = False
    ) -> tuple[list[Task | ApiError], list[bool]]:
        """Geocode and create; one result per spec (a Task or the error), plus whether
        each created task carries a geocoding warning.  The caller commits."""
        geo = self.rt.geocoder
        texts: list[str] = []
        slots: list[int] = []
        parsed: dict[int, tuple[dict[str, str], bool]] = {}
        results: list[Task | ApiError] = []
        limit = self.rt.config.max_tasks
        room = len(specs) if limit is None else limit - len(self.order)
        pending = 0
        for i, s in enumerate(specs):
            if isinstance(s, ApiError):
                results.append(s)
                continue
            if room <= 0:
                assert limit is not None
                results.append(full(limit))
                continue
            room -= 1
            pending += 1
            results.append(_PENDING)
            if s.address is None or s.dest_id is not None:
                continue
            prep = self.prepare_address(s.address)
            if isinstance(prep, ApiError):
                results[i] = prep
                pending -= 1
                continue
            structured, no_warning, text = prep
            parsed[i] = (structured, no_warning)
            if s.location is None:
                texts.append(text)
                slots.append(i)
        lats, lons = geo.locate(texts)
        points = {i: (lats[k], lons[k]) for k, i in enumerate(slots)}
        warnings: list[bool] = [False] * len(specs)
        now = self._now()
        # Ids in bulk: one random draw and one base64 call for the whole batch.
        next_id = iter(self.rt.ids.onfleet_many(3 * pending)).__next__
        next_short = iter(self.rt.ids.short_many(pending)).__next__
        # The recipients each spec's list resolved to (the fast parse shares one list
        # between the bodies naming the same recipient), valid for this call only.
        shared: dict[int, list[dict[str, Any]]] = {}
        materialise = self._materialise
        for i, s in enumerate(specs):
            if results[i] is not _PENDING:
                continue
            assert isinstance(s, TaskSpec)
            try:
                task, warned = materialise(
                    s, now, parsed.get(i), points.get(i), single, next_id, next_short, shared
                )
            except ApiError as exc:
                results[i] = exc
                continue
            results[i] = task
            warnings[i] = warned
        self._unfrozen += pending
        if self._unfrozen >= FREEZE_AFTER:
            # Tasks live until the process ends: move them out of the collector's view so
            # later collections do not rescan hundreds of thousands of records.
            gc.freeze()
            self._unfrozen = 0
        return results, warnings

    def _materialise(
        self,
        s: TaskSpec,
        now: int,
        addr: tuple[dict[str, str], bool] | None,
        point: tuple[float, float] | None,
        single: bool,
        next_id: Callable[[], str],
        next_short: Callable[[], str],
        shared: dict[int, list[dict[str, Any]]] | None = None,
    ) -> tuple[Task, bool]:
        tasks = self.tasks
        for dep in s.dependencies:
            if dep not in tasks:
                raise bad(f"dependency {dep} does not exist")
        org = self.org
        if s.container is None:
            ct, cid = "ORGANIZATION", org
        else:
            ct, cid = s.container
            if ct == "WORKER" and cid not in self.workers:
                raise bad(f"container worker {cid} does not exist")
            if ct == "TEAM" and cid not in self.teams:
                raise bad(f"container team {cid} does not exist")
            if ct == "ORGANIZATION":
                cid = org
        if self._cap is not None:
            self.check_cap(ct, cid)
        # The destination first: it only looks up or builds (a missing id raises before
        # anything is kept), while a new inline recipient is indexed at once.
        if s.location is not None and addr is None and s.dest_id is None:
            # At a given location, no address: the batch path's common case, inlined.
            lat, lon = s.location
            warned = False
            dest: Destination | dict[str, Any] = Destination(
                next_id(), now, lat, lon, self._region_address, s.dest_notes, _EMPTY_META, False
            )
        else:
            dest, lat, lon, warned = self.destination_json(s, now, addr, point, next_id)
        wanted = s.recipients
        known = shared.get(id(wanted)) if shared is not None and wanted else None
        if known is not None:
            recipients = known
        else:
            recipients = self.recipients_json(s, now, next_id)
            # A known recipient's shared list is what every spec sharing ``wanted`` gets in
            # this call (a recipient new with this task has a list of its own).
            one = self._one_recipient
            if shared is not None and wanted and one.get(recipients[0]["id"]) is recipients:
                shared[id(wanted)] = recipients
        # Positional (field order of Task): this runs once per task of every batch.
        task = Task(
            next_id(),
            next_short(),
            len(self.order),
            now,
            now,
            org,
            s.merchant or org,
            s.executor or org,
            self.creator,
            lat,
            lon,
            dest,
            recipients,
            s.notes,
            s.pickup,
            s.complete_after,
            s.complete_before,
            s.dependencies,
            s.quantity,
            s.service_time,
            s.metadata,
            s.overrides,
            s.triangle_color,
            s.scan_only_required,
            STATE_UNASSIGNED,
            None,
            ct,
            cid,
        )
        # _index, inlined for a new task (never deleted; _now() already moved _last_ms).
        self.order.append(task)
        self.created_ms.append(now)
        tasks[task.id] = task
        self.by_short[task.short_id] = task
        self.state_counts[STATE_UNASSIGNED] += 1
        if ct == "ORGANIZATION":
            self.org_container[task.id] = None
        elif ct == "TEAM":
            self.teams[cid].tasks.append(task.id)
            self.save_team(self.teams[cid])
        else:
            self.put_in_worker(task, self.workers[cid])
        if single and s.auto_assign is not None:
            self.auto_assign(task, s.auto_assign)
        if self.rt.store.durable:
            self.save_task(task)
        if single:
            # Only a single create fires taskCreated (never a batch nor an async job), and
            # a task created already assigned fires no taskAssigned.
            self.task_event("taskCreated", task)
        return task, warned

    def recipients_json(
        self, s: TaskSpec, now: int, next_id: Callable[[], str]
    ) -> list[dict[str, Any]]:
        """The task's recipients: known ones by id or phone, new ones created (shared
        records, see :mod:`loadtest.emulator.onfleet.recipients`)."""
        if not s.recipients:
            return _NO_RECIPIENTS
        inline = self.recipients.inline
        if len(s.recipients) == 1:
            # Tasks naming the same recipient share one single-element list (never mutated
            # in place: an update assigns a new list), saving a list per task.  A recipient
            # new with this task gets its own list: most are never named again, and a
            # shared list would then cost an index entry besides.
            known = len(self.recipients.by_id)
            rec = inline(s.recipients[0], now, next_id)
            if len(self.recipients.by_id) != known:
                return [rec]
            one = self._one_recipient.get(rec["id"])
            if one is None or one[0] is not rec:
                one = self._one_recipient[rec["id"]] = [rec]
            return one
        return [inline(r, now, next_id) for r in s.recipients]

    def destination_json(
        self,
        s: TaskSpec,
        now: int,
        addr: tuple[dict[str, str], bool] | None,
        point: tuple[float, float] | None,
        next_id: Callable[[], str],
    ) -> tuple[Destination | dict[str, Any], float, float, bool]:
        """(destination record, lat, lon, has a geocoding warning): a known destination by
        id, or a new one at ``location`` or at the geocoded ``point``."""
        if s.dest_id is not None:
            dest = self._find_destination(s.dest_id)
            if dest is None:
                raise bad(f"destination {s.dest_id} does not exist")
            lon, lat = dest["location"]
            return dest, lat, lon, False
        if s.location is not None:
            lat, lon = s.location
        else:
            assert point is not None
            lat, lon = point
        if addr is None:
            structured, warned = self._region_address, False  # shared, never mutated
        else:
            structured, clean = addr
            warned = not clean
        rec = Destination(next_id(), now, lat, lon, structured, s.dest_notes, _EMPTY_META, warned)
        return rec, lat, lon, warned

    def new_destination(
        self,
        did: str,
        now: int,
        lat: float,
        lon: float,
        addr: tuple[dict[str, str], bool] | None,
        notes: str,
        metadata: list[Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """(destination JSON, has a geocoding warning) for a new destination."""
        warned = False
        if addr is None:
            structured = self._region_address  # shared, never mutated
        else:
            structured, clean = addr
            warned = not clean
        dest = {
            "id": did,
            "timeCreated": now,
            "timeLastModified": now,
            "location": [lon, lat],
            "address": structured,
            "notes": notes,
            "metadata": _EMPTY_META if metadata is None else metadata,
            "googlePlaceId": "emu" + did,
            "warnings": [WARN_NO_NUMBER] if warned else [],
            "useGPS": False,
        }
        return dest, warned

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


_PENDING: Any = object()
# Shared empty lists for the many tasks without recipients or destination metadata: the
# JSON form is only serialised, never mutated in place, and an update assigns a new list.
_NO_RECIPIENTS: list[dict[str, Any]] = []
_EMPTY_META: list[Any] = []


def full(limit: int) -> ApiError:
    """The 400 for a create past ``max_tasks``: memory is bounded, not the API."""
    return bad(
        f"the emulator holds its maximum of {limit:,} tasks (max_tasks); restart it, "
        "or raise max_tasks in a profile TOML"
    )
