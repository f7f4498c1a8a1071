"""Task JSON for the create paths, encoded without building a nested dict per task.

:meth:`Task.to_json` stays the one definition of a task's JSON form; this module produces
the same bytes faster for the responses that carry many tasks (a 500-task batch answers
~900 kB).  Per task it copies one prebuilt dict (key order kept) and sets only the fields
that vary; the parts shared by every task (completion details, quantities, identity, the
region address, a recipient list shared by many tasks, ...) go in as
:class:`orjson.Fragment`, encoded once per response or once per process, so
``orjson.dumps`` copies them instead of walking them again.  A task's inline destination
is one Fragment from a template per response (its id and location filled in).  The output
is byte-for-byte ``orjson.dumps(task.to_json())``
(tests/loadtest/emulator/test_batch_fastpath.py pins it).
"""

from __future__ import annotations

from typing import Any

import orjson

from loadtest.emulator.onfleet.model import (
    _APPEARANCE,
    _IDENTITY,
    _NO_OVERRIDES,
    _NO_QUANTITIES,
    _OPEN_COMPLETION,
    Destination,
    Task,
)

Fragment = orjson.Fragment

_F_OPEN_COMPLETION = Fragment(orjson.dumps(_OPEN_COMPLETION))
_F_EMPTY = Fragment(b"[]")
_F_NO_OVERRIDES = Fragment(orjson.dumps(_NO_OVERRIDES))
_F_APPEARANCE = {c: Fragment(orjson.dumps(v)) for c, v in _APPEARANCE.items()}

# Every key of Task.to_json in its order; the values that never vary for an open task
# are set here (the rest are overwritten per task, which keeps each key's position).
_TASK: dict[str, Any] = {
    "id": None,
    "timeCreated": None,
    "timeLastModified": None,
    "organization": None,
    "shortId": None,
    "trackingURL": None,
    "worker": None,
    "merchant": None,
    "executor": None,
    "creator": None,
    "dependencies": None,
    "state": None,
    "completeAfter": None,
    "completeBefore": None,
    "pickupTask": None,
    "notes": None,
    "completionDetails": _F_OPEN_COMPLETION,
    "feedback": _F_EMPTY,
    "metadata": None,
    "overrides": None,
    "quantity": None,
    "additionalQuantities": Fragment(orjson.dumps(_NO_QUANTITIES)),
    "serviceTime": None,
    "identity": Fragment(orjson.dumps(_IDENTITY)),
    "appearance": None,
    "scanOnlyRequiredBarcodes": None,
    "container": None,
    "trackingViewed": False,
    "recipients": None,
    "destination": None,
    "didAutoAssign": None,
}


def _dest_template(d: Destination) -> bytes:
    """``orjson.dumps(d.to_json())`` with ``%b`` for the id, the location and the id again
    (googlePlaceId), ``%`` elsewhere escaped.  The id and the location come before the
    free-form parts (address, notes, metadata) and googlePlaceId after them, so the first
    and the last match are the keys themselves."""
    j = d.to_json()
    j["id"] = j["googlePlaceId"] = j["location"] = ""
    raw = orjson.dumps(j).replace(b"%", b"%%")
    raw = raw.replace(b'"id":""', b'"id":"%b"', 1).replace(b'"location":""', b'"location":%b', 1)
    head, _, tail = raw.rpartition(b'"googlePlaceId":""')
    return head + b'"googlePlaceId":"emu%b"' + tail


_CONTAINER_KEY = {"ORGANIZATION": "organization", "TEAM": "team", "WORKER": "worker"}


class TaskEncoder:
    """Encodes the tasks of one response.  Shared sub-objects are encoded once per
    response, keyed by identity: they are alive (held by the tasks) for the whole call,
    and a recipient updated in place between two responses is encoded afresh."""

    __slots__ = ("_containers", "_dests", "_shared")

    def __init__(self) -> None:
        self._dests: dict[tuple[Any, ...], bytes] = {}
        self._shared: dict[int, Fragment] = {}
        self._containers: dict[tuple[str, str], Fragment] = {}

    def _fragment(self, obj: Any) -> Any:
        """``obj`` (a list or dict shared between tasks) as a Fragment encoded once."""
        if not obj:
            # Empty lists (the shared "none" lists) encode as []; an empty dict as {}.
            return _F_EMPTY if isinstance(obj, list) else obj
        key = id(obj)
        f = self._shared.get(key)
        if f is None:
            f = self._shared[key] = Fragment(orjson.dumps(obj))
        return f

    def _container(self, ct: str, cid: str) -> Fragment:
        f = self._containers.get((ct, cid))
        if f is None:
            f = Fragment(orjson.dumps({"type": ct, _CONTAINER_KEY[ct]: cid}))
            self._containers[(ct, cid)] = f
        return f

    def task(self, t: Task) -> Any:
        """What ``orjson.dumps`` encodes as ``t.to_json()``."""
        if t.success is not None or t.source_task_id is not None or t.route_plan is not None:
            return t.to_json()  # completed, cloned or planned: rare on the create paths
        frag = self._fragment
        out = _TASK.copy()
        out["id"] = t.id
        out["timeCreated"] = t.time_created
        out["timeLastModified"] = t.time_last_modified
        out["organization"] = t.organization
        out["shortId"] = short = t.short_id
        out["trackingURL"] = "https://onf.lt/" + short
        out["worker"] = t.worker
        out["merchant"] = t.merchant
        out["executor"] = t.executor
        out["creator"] = t.creator
        out["dependencies"] = frag(t.dependencies)
        out["state"] = t.state
        out["completeAfter"] = t.complete_after
        out["completeBefore"] = t.complete_before
        out["pickupTask"] = t.pickup
        out["notes"] = t.notes
        out["metadata"] = frag(t.metadata)
        ov = t.overrides
        out["overrides"] = ov if ov else _F_NO_OVERRIDES
        out["quantity"] = t.quantity
        out["serviceTime"] = t.service_time
        color = t.triangle_color
        out["appearance"] = _F_APPEARANCE.get(color) or {"triangleColor": color}
        out["scanOnlyRequiredBarcodes"] = t.scan_only_required
        out["container"] = self._container(t.container_type, t.container_id)
        out["recipients"] = frag(t.recipients)
        d = t.destination
        out["destination"] = self._destination(d) if type(d) is Destination else d
        out["didAutoAssign"] = t.did_auto_assign
        return out

    def _destination(self, d: Destination) -> Any:
        # The JSON is ~330 bytes, half of it the address: a template per (time, warning,
        # address, metadata, notes) filled with the id and location, as one Fragment.
        key = (d.time, d.warned, id(d.address), id(d.metadata), d.notes)
        tmpl = self._dests.get(key)
        if tmpl is None:
            tmpl = self._dests[key] = _dest_template(d)
        # A Destination's id is always drawn by IdGen.onfleet_many ([A-Za-z0-9~*], see
        # loadtest.emulator.ids): nothing in it is escaped in JSON.
        did = d.id.encode()
        return Fragment(tmpl % (did, orjson.dumps([d.lon, d.lat]), did))


def batch_bytes(created: list[Task], errors: list[dict[str, Any]]) -> bytes:
    """The sync batch answer ``{"tasks": [...], "errors": [...]}``."""
    enc = TaskEncoder().task
    return orjson.dumps({"tasks": [enc(t) for t in created], "errors": errors})
