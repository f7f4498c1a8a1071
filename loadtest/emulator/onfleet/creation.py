"""Onfleet task creation: validated spec -> geocoded destination -> task in a container.

:class:`TaskCreation` is the creation pipeline of
:class:`~loadtest.emulator.onfleet.state.OnfleetState` (single creates, sync batches and
async jobs all come through :meth:`TaskCreation.create_many`): the bodies are checked
(:mod:`loadtest.emulator.onfleet.fastparse`), addresses geocoded in bulk, ids drawn in
bulk, and each task built, indexed and put in its container.  The records it writes are
declared here and owned (restored, persisted) by the subclass.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.geocode import WARN_NO_NUMBER
from loadtest.emulator.onfleet.fastparse import parse_many
from loadtest.emulator.onfleet.fleet import FleetOps
from loadtest.emulator.onfleet.model import STATE_UNASSIGNED, Destination, Task
from loadtest.emulator.onfleet.recipients import Recipients
from loadtest.emulator.onfleet.validate import TaskSpec, bad
from loadtest.providers.onfleet import CAUSE_GEOCODING, E_GEOCODING, MSG_INVALID_VALUES

FREEZE_AFTER = 200  # tasks created since the last gc.freeze() before the next one


class TaskCreation(FleetOps):
    """Base of :class:`~loadtest.emulator.onfleet.state.OnfleetState`: task creation."""

    creator: str
    order: list[Task]  # creation order (deleted ones stay, flagged)
    created_ms: list[int]  # parallel to order, non-decreasing
    by_short: dict[str, Task]
    state_counts: list[int]
    recipients: Recipients
    _one_recipient: dict[str, list[dict[str, Any]]]
    _cap: int | None
    _region_address: dict[str, str]
    _unfrozen: int

    def _now(self) -> int:
        raise NotImplementedError

    def _find_destination(self, dest_id: str) -> Destination | dict[str, Any] | None:
        raise NotImplementedError

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
        todo: list[tuple[int, TaskSpec]] = []  # the specs still to create, in order
        for i, s in enumerate(specs):
            if isinstance(s, ApiError):
                results.append(s)
                continue
            if room <= 0:
                assert limit is not None
                results.append(full(limit))
                continue
            room -= 1
            results.append(_PENDING)
            if s.address is None or s.dest_id is not None:
                todo.append((i, s))
                continue
            prep = self.prepare_address(s.address)
            if isinstance(prep, ApiError):
                results[i] = prep
                continue
            todo.append((i, s))
            structured, no_warning, text = prep
            parsed[i] = (structured, no_warning)
            if s.location is None:
                texts.append(text)
                slots.append(i)
        lats, lons = geo.locate(texts)
        points = {i: (lats[k], lons[k]) for k, i in enumerate(slots)}
        warnings: list[bool] = [False] * len(specs)
        now = self._now()
        pending = len(todo)
        # Ids in bulk: one random draw and one base64 call for the whole batch.
        next_id = iter(self.rt.ids.onfleet_many(3 * pending)).__next__
        next_short = iter(self.rt.ids.short_many(pending)).__next__
        # The recipients each spec's list resolved to (the fast parse shares one list
        # between the bodies naming the same recipient), valid for this call only.
        shared: dict[int, list[dict[str, Any]]] = {}
        materialise = self._materialise
        addr_of, point_of = parsed.get, points.get
        for i, s in todo:
            try:
                task, warned = materialise(
                    s, now, addr_of(i), point_of(i), single, next_id, next_short, shared
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
