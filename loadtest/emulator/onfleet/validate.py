"""Validation of one task body (POST /tasks, or one element of a batch).

Hand-written rather than per-task pydantic: a batch needs one error per bad task with
Onfleet's subcodes, and the 500-task path has a budget of ~20 µs per task.  The accepted
shapes are the ones :class:`loadtest.providers.onfleet.TaskCreate` documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.geocode import valid_location
from loadtest.providers.onfleet import (
    E_GEOCODING,
    E_INVALID_VALUES,
    E_PHONE,
    E_TIME_CONSTRAINTS,
    E_WRONG_TYPES,
    MAX_NOTES,
    MSG_INVALID_VALUES,
)

_CONTAINER_TYPES = ("ORGANIZATION", "TEAM", "WORKER")
# A tuple for the order the overrides are written in, a set for the fast "any given?" test.
_OVERRIDES = (
    "recipientName",
    "recipientNotes",
    "recipientSkipSMSNotifications",
    "useMerchantForProxy",
)
_OVERRIDE_KEYS = frozenset(_OVERRIDES)
# The empty list that every task without dependencies or metadata shares (stored tasks keep
# it: a list per task is ~56 bytes).  Never mutated in place; an update assigns a new list.
_NONE: list[Any] = []


def bad(cause: str, error: int = E_INVALID_VALUES) -> ApiError:
    """A 400 InvalidContent with Onfleet's generic message and a specific cause."""
    return ApiError(400, MSG_INVALID_VALUES, error=error, cause=cause)


def batch_subcode(exc: ApiError) -> int | None:
    """The subcode a batch (sync or async) reports for one failed task: a geocoding
    failure is 1011 on POST /tasks but 1000 "Geocoding errors found." in a batch."""
    return E_INVALID_VALUES if exc.error == E_GEOCODING else exc.error


def normalise_phone(raw: Any) -> str:
    """E.164 (default country +1), or raise 1010."""
    if not isinstance(raw, str):
        raise bad(f"Invalid phone number: {raw!r}", E_PHONE)
    if raw[:1] == "+" and raw[1:].isdigit() and 8 <= len(raw) - 1 <= 15:
        return raw  # already E.164: the common case, no rebuilding
    if len(raw) == 10 and raw.isdigit() and raw[0] not in "01":
        return "+1" + raw  # a bare US number
    plus = raw.strip().startswith("+")
    digits = "".join(c for c in raw if c.isdigit())
    if plus and 8 <= len(digits) <= 15:
        return "+" + digits
    if not plus and len(digits) == 10 and digits[0] not in "01":
        return "+1" + digits
    if not plus and len(digits) == 11 and digits[0] == "1":
        return "+" + digits
    raise bad(f"Invalid phone number: {raw!r}", E_PHONE)


@dataclass(slots=True)
class TaskSpec:
    """A validated task body, before geocoding and before ids are given out."""

    dest_id: str | None
    location: tuple[float, float] | None  # (lat, lon)
    address: dict[str, Any] | None  # structured or {"unparsed": ...}
    dest_notes: str
    recipients: list[dict[str, Any]]  # {"name","phone","notes","skip"} or {"id"}
    notes: str
    pickup: bool
    complete_after: int | None
    complete_before: int | None
    dependencies: list[str]
    quantity: float
    service_time: float
    auto_assign: dict[str, Any] | None
    container: tuple[str, str] | None
    overrides: dict[str, Any] | None
    metadata: list[Any]
    merchant: str | None
    executor: str | None
    triangle_color: int | None
    scan_only_required: bool


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    v = body.get(key)
    if v is not None and not isinstance(v, str):
        raise bad(f"{key} must be a string", E_WRONG_TYPES)
    return v


def _opt_time(body: dict[str, Any], key: str) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise bad(f"{key} must be a number (epoch ms)", E_WRONG_TYPES)
    if v < 0 or v != v or v > 10**15:
        raise bad(f"{key} is out of range: {v!r}")
    return int(v)


def _opt_num(body: dict[str, Any], key: str) -> float:
    v = body.get(key)
    if v is None:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise bad(f"{key} must be a number", E_WRONG_TYPES)
    if not (0 <= v < 1e12):
        raise bad(f"{key} must be a non-negative number")
    return v  # int stays int on the wire, as Onfleet echoes it


def _destination(
    raw: Any,
) -> tuple[str | None, tuple[float, float] | None, dict[str, Any] | None, str]:
    if isinstance(raw, str):
        return raw, None, None, ""
    if not isinstance(raw, dict):
        raise bad("destination is required: an id or an object", E_WRONG_TYPES)
    notes = raw.get("notes") or ""
    if not isinstance(notes, str):
        raise bad("destination.notes must be a string", E_WRONG_TYPES)
    loc = raw.get("location")
    point = None
    if loc is not None:
        point = valid_location(loc)
        if point is None:
            raise bad(f"destination.location must be [longitude, latitude], got {loc!r}")
    addr = raw.get("address")
    if addr is not None:
        if not isinstance(addr, dict):
            raise bad("destination.address must be an object", E_WRONG_TYPES)
        for k, v in addr.items():
            if v is not None and not isinstance(v, str):
                raise bad(f"destination.address.{k} must be a string", E_WRONG_TYPES)
        unparsed = addr.get("unparsed")
        if not unparsed and not (addr.get("street") and addr.get("city")):
            if point is None:
                raise bad("destination.address needs unparsed, or street and city")
            addr = None
    if addr is None and point is None:
        raise bad("destination needs an address or a location")
    return None, point, addr, notes


def _recipients(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad("recipients must be an array", E_WRONG_TYPES)
    if len(raw) > 1:
        raise bad("recipients holds zero or one recipient")
    out: list[dict[str, Any]] = []
    for r in raw:
        if isinstance(r, str):
            out.append({"id": r})
            continue
        if not isinstance(r, dict):
            raise bad("a recipient must be an id or an object", E_WRONG_TYPES)
        name = r.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad("recipient.name is required")
        notes = r.get("notes") or ""
        skip = r.get("skipSMSNotifications", False)
        if not isinstance(notes, str) or not isinstance(skip, bool):
            raise bad(
                "recipient.notes must be a string, skipSMSNotifications a boolean", E_WRONG_TYPES
            )
        out.append(
            {"name": name, "phone": normalise_phone(r.get("phone")), "notes": notes, "skip": skip}
        )
    return out


def _auto_assign(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad("autoAssign must be an object", E_WRONG_TYPES)
    if raw.get("mode") not in ("distance", "load"):
        raise bad(f"autoAssign.mode must be distance or load, got {raw.get('mode')!r}")
    team = raw.get("team")
    mx = raw.get("maxAssignedTaskCount")
    deps = raw.get("considerDependencies", False)
    excl = raw.get("excludedWorkerIds") or []
    if team is not None and not isinstance(team, str):
        raise bad("autoAssign.team must be a string", E_WRONG_TYPES)
    if mx is not None and (isinstance(mx, bool) or not isinstance(mx, int) or mx < 0):
        raise bad("autoAssign.maxAssignedTaskCount must be a non-negative integer")
    if not isinstance(deps, bool):
        raise bad("autoAssign.considerDependencies must be a boolean", E_WRONG_TYPES)
    if not isinstance(excl, list) or not all(isinstance(x, str) for x in excl):
        raise bad("autoAssign.excludedWorkerIds must be an array of ids", E_WRONG_TYPES)
    return {"mode": raw["mode"], "team": team, "max": mx, "deps": deps, "excl": excl}


def parse_container(raw: Any) -> tuple[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in _CONTAINER_TYPES:
        raise bad("container.type must be ORGANIZATION, TEAM or WORKER")
    ct = raw["type"]
    cid = raw.get(ct.lower())
    if ct != "ORGANIZATION" and not isinstance(cid, str):
        raise bad(f"container.{ct.lower()} (an id) is required for type {ct}")
    return ct, cid if isinstance(cid, str) else ""


def parse_task(body: Any) -> TaskSpec:
    """Check one task body; raise :class:`ApiError` (400) naming the first problem.

    Optional fields are only inspected when present: most bodies carry a handful of keys,
    and this runs once per task of every batch.
    """
    if not isinstance(body, dict):
        raise bad("a task must be a JSON object", E_WRONG_TYPES)
    get = body.get
    raw_dest = get("destination")
    if raw_dest is None:
        raise bad("destination is required")
    dest_id, point, addr, dest_notes = _destination(raw_dest)
    notes = get("notes") or ""
    if not isinstance(notes, str):
        raise bad("notes must be a string", E_WRONG_TYPES)
    if len(notes) > MAX_NOTES:
        raise bad(f"notes is {len(notes)} characters; at most {MAX_NOTES:,} are allowed")
    pickup = get("pickupTask")
    if pickup is None:
        pickup = False
    elif not isinstance(pickup, bool):
        raise bad("pickupTask must be a boolean", E_WRONG_TYPES)
    after = _opt_time(body, "completeAfter") if "completeAfter" in body else None
    before = _opt_time(body, "completeBefore") if "completeBefore" in body else None
    if after is not None and before is not None and after >= before:
        raise bad("completeAfter must be before completeBefore", E_TIME_CONSTRAINTS)
    deps = get("dependencies") or _NONE
    if deps and (not isinstance(deps, list) or not all(isinstance(x, str) for x in deps)):
        raise bad("dependencies must be an array of task ids", E_WRONG_TYPES)
    auto = _auto_assign(get("autoAssign")) if "autoAssign" in body else None
    container = parse_container(get("container")) if "container" in body else None
    if auto is not None and container is not None:
        raise bad("autoAssign and container cannot both be given")
    overrides = None
    if not _OVERRIDE_KEYS.isdisjoint(body):
        overrides = {k: get(k) for k in _OVERRIDES}
        for k in ("recipientName", "recipientNotes"):
            if overrides[k] is not None and not isinstance(overrides[k], str):
                raise bad(f"{k} must be a string", E_WRONG_TYPES)
        for k in ("recipientSkipSMSNotifications", "useMerchantForProxy"):
            if overrides[k] is not None and not isinstance(overrides[k], bool):
                raise bad(f"{k} must be a boolean", E_WRONG_TYPES)
    metadata = get("metadata") or _NONE
    if not isinstance(metadata, list):
        raise bad("metadata must be an array", E_WRONG_TYPES)
    if metadata:
        # The one entry rule of workers, admins, recipients and destinations (imported
        # here: that module builds its errors with this one's ``bad``).
        from loadtest.emulator.onfleet.metadata import parse_metadata

        metadata = parse_metadata(metadata)
    color = None
    app = get("appearance")
    if app is not None:
        color = app.get("triangleColor") if isinstance(app, dict) else -1
        if (color is not None and color not in (0, 1, 2)) or isinstance(color, bool):
            raise bad("appearance.triangleColor must be 0, 1 or 2")
    scan = get("scanOnlyRequiredBarcodes", False)
    if not isinstance(scan, bool):
        raise bad("scanOnlyRequiredBarcodes must be a boolean", E_WRONG_TYPES)
    raw_recipients = get("recipients")
    return TaskSpec(
        dest_id,
        point,
        addr,
        dest_notes,
        _recipients(raw_recipients) if raw_recipients is not None else [],
        notes,
        pickup,
        after,
        before,
        deps,
        _opt_num(body, "quantity") if "quantity" in body else 0,
        _opt_num(body, "serviceTime") if "serviceTime" in body else 0,
        auto,
        container,
        overrides,
        metadata,
        _opt_str(body, "merchant") if "merchant" in body else None,
        _opt_str(body, "executor") if "executor" in body else None,
        color,
        scan,
    )


def parse_destination(
    raw: Any,
) -> tuple[str | None, tuple[float, float] | None, dict[str, Any] | None, str]:
    """A destination object (or id) as a task body gives it: (id, (lat, lon), address,
    notes); the same checks as inside :func:`parse_task`."""
    return _destination(raw)
