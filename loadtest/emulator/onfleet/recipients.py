"""Onfleet recipients as first-class records: create, get (by id, name or phone), update,
metadata match, and the inline recipients of task bodies.

A recipient is one JSON dict, shared by reference between its record and every task that
names it, so an update shows on those tasks at once and a task costs no copy.  Phones are
unique: ``POST /recipients`` with a phone already held is refused (400, 1004), and a task
body's inline recipient whose phone is known reuses that record [inf: unchanged; the task's
``recipientName``/``recipientNotes`` overrides are how a task shows something else].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.task_metadata import parse_entries, parse_query, select
from loadtest.emulator.onfleet.validate import bad, normalise_phone
from loadtest.emulator.store import Store
from loadtest.providers.onfleet import (
    E_NOT_UNIQUE,
    E_NOTHING_TO_UPDATE,
    E_UPDATE_MISSING,
    E_WRONG_TYPES,
    MAX_NOTES,
)

_FIELDS = frozenset({"name", "phone", "notes", "skipSMSNotifications", "metadata"})


def duplicate_phone(phone: str) -> ApiError:
    return ApiError(
        400, "A recipient with this phone number already exists.", error=E_NOT_UNIQUE, cause=phone
    )


def _check_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The validated subset of ``body`` (phone normalised); raise the first problem."""
    out: dict[str, Any] = {}
    if creating or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad("name is required (a non-empty string)")
        out["name"] = name
    if creating or "phone" in body:
        out["phone"] = normalise_phone(body.get("phone"))
    if "notes" in body:
        notes = body["notes"] if body["notes"] is not None else ""
        if not isinstance(notes, str):
            raise bad("notes must be a string", E_WRONG_TYPES)
        if len(notes) > MAX_NOTES:
            raise bad(f"notes is {len(notes)} characters; at most {MAX_NOTES:,} are allowed")
        out["notes"] = notes
    if "skipSMSNotifications" in body:
        skip = body["skipSMSNotifications"]
        if not isinstance(skip, bool):
            raise bad("skipSMSNotifications must be a boolean", E_WRONG_TYPES)
        out["skipSMSNotifications"] = skip
    if "metadata" in body:
        out["metadata"] = parse_entries(body["metadata"])
    return out


class Recipients:
    """Every recipient of the organisation, by id and by phone."""

    def __init__(self, store: Store, org: Callable[[], str]) -> None:
        self.store = store
        self._org = org
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_phone: dict[str, dict[str, Any]] = {}

    # -- restore -----------------------------------------------------------------------
    def adopt(self, r: dict[str, Any]) -> dict[str, Any]:
        """Index ``r`` (restored from a task record) unless its id is known; returns the
        record tasks should share."""
        known = self.by_id.get(r["id"])
        if known is not None:
            return known
        self.by_id[r["id"]] = r
        self.by_phone.setdefault(r["phone"], r)
        return r

    def restore(self, records: Iterable[dict[str, Any]]) -> None:
        """Apply the saved standalone records (created or updated through /recipients):
        each replaces the copy restored from a task, in place, so tasks share it."""
        for d in records:
            known = self.by_id.get(d["id"])
            if known is None:
                self.by_id[d["id"]] = d
                known = d
            else:
                old_phone = known["phone"]
                known.clear()
                known.update(d)
                if self.by_phone.get(old_phone) is known and old_phone != d["phone"]:
                    del self.by_phone[old_phone]
            self.by_phone[known["phone"]] = known

    def _save(self, r: dict[str, Any]) -> None:
        if self.store.durable:
            self.store.put("recipient", r["id"], r)

    # -- records -----------------------------------------------------------------------
    def _new(self, rid: str, now: int, f: dict[str, Any]) -> dict[str, Any]:
        r = {
            "id": rid,
            "timeCreated": now,
            "timeLastModified": now,
            "name": f["name"],
            "phone": f["phone"],
            "notes": f.get("notes", ""),
            "organization": self._org(),
            "skipSMSNotifications": f.get("skipSMSNotifications", False),
            "metadata": f.get("metadata", []),
        }
        self.by_id[rid] = r
        self.by_phone[r["phone"]] = r
        return r

    def inline(self, r: dict[str, Any], now: int, next_id: Callable[[], str]) -> dict[str, Any]:
        """A task body's recipient (validated by ``parse_task``): by id, the known record
        by phone, or a new record."""
        if "id" in r:
            known = self.by_id.get(r["id"])
            if known is None:
                raise bad(f"recipient {r['id']} does not exist")
            return known
        phone = r["phone"]
        known = self.by_phone.get(phone)
        if known is not None:
            return known
        # Built directly (not through _new): this runs once per new recipient of a batch.
        rid = next_id()
        rec = {
            "id": rid,
            "timeCreated": now,
            "timeLastModified": now,
            "name": r["name"],
            "phone": phone,
            "notes": r["notes"],
            "organization": self._org(),
            "skipSMSNotifications": r["skip"],
            "metadata": [],
        }
        self.by_id[rid] = rec
        self.by_phone[phone] = rec
        return rec

    def create(self, body: Any, rid: str, now: int) -> dict[str, Any]:
        """POST /recipients."""
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object {name, phone, ...}", E_WRONG_TYPES)
        f = _check_fields(body, creating=True)
        if f["phone"] in self.by_phone:
            raise duplicate_phone(f["phone"])
        r = self._new(rid, now, f)
        self._save(r)
        return r

    def get(self, rid: str) -> dict[str, Any]:
        r = self.by_id.get(rid)
        if r is None:
            raise ONFLEET.not_found(f"recipient {rid}")
        return r

    def find_name(self, name: str) -> dict[str, Any]:
        """GET /recipients/name/{name}: the first recipient created with exactly that name
        [inf: exact, case-sensitive]."""
        for r in self.by_id.values():
            if r["name"] == name:
                return r
        raise ONFLEET.not_found(f"recipient named {name!r}")

    def find_phone(self, raw: str) -> dict[str, Any]:
        phone = normalise_phone(raw)
        r = self.by_phone.get(phone)
        if r is None:
            raise ONFLEET.not_found(f"recipient with phone {phone}")
        return r

    def update(self, rid: str, body: Any, now: int) -> dict[str, Any]:
        """PUT /recipients/{id}: every given field checked first, then all applied."""
        r = self.by_id.get(rid)
        if r is None:
            raise ApiError(
                404,
                "The resource to update does not exist.",
                error=E_UPDATE_MISSING,
                cause=f"recipient {rid}",
            )
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object", E_WRONG_TYPES)
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise bad(f"{unknown[0]} cannot be updated; updatable: {', '.join(sorted(_FIELDS))}")
        if not body:
            raise ApiError(400, "The update changes nothing.", error=E_NOTHING_TO_UPDATE)
        f = _check_fields(body, creating=False)
        phone = f.get("phone")
        if phone is not None and phone != r["phone"]:
            if phone in self.by_phone:
                raise duplicate_phone(phone)
            if self.by_phone.get(r["phone"]) is r:
                del self.by_phone[r["phone"]]
            self.by_phone[phone] = r
        r.update(f)
        r["timeLastModified"] = now
        self._save(r)
        return r

    def match(self, body: Any) -> list[dict[str, Any]]:
        return select(self.by_id.values(), lambda r: r.get("metadata") or [], parse_query(body))
