"""Onfleet records (task, worker, team) and their JSON form.

The JSON form carries every key of the seed examples, nulls and empty arrays included.
Sub-objects that never change after creation (recipients, metadata) are kept as the JSON
they will be sent as, built once and shared; everything that changes is a field.  A task's
inline destination is a compact :class:`Destination` record whose JSON is built on demand
(memory per task is the emulator's bound, see the README's "Performance notes").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtest.emulator.geocode import WARN_NO_NUMBER

STATE_UNASSIGNED = 0
STATE_ASSIGNED = 1
STATE_ACTIVE = 2
STATE_COMPLETED = 3

# Constant parts of the task JSON, shared by every task (never mutated: the JSON form is
# only serialised or shallow-copied), which saves building them per task per response.
_EMPTY: list[Any] = []
_OPEN_COMPLETION: dict[str, Any] = {
    "failureNotes": "",
    "successNotes": "",
    "failureReason": "NONE",
    "events": _EMPTY,
    "actions": _EMPTY,
    "time": None,
    "signatureUploadId": None,
    "photoUploadId": None,
    "photoUploadIds": None,
    "firstLocation": _EMPTY,
    "lastLocation": _EMPTY,
    "unavailableAttachments": _EMPTY,
}
_NO_OVERRIDES: dict[str, Any] = {
    "recipientName": None,
    "recipientNotes": None,
    "recipientSkipSMSNotifications": None,
    "useMerchantForProxy": None,
}
_NO_QUANTITIES = {"quantityA": 0, "quantityB": 0, "quantityC": 0}
_IDENTITY: dict[str, Any] = {"failedScanCount": 0, "checksum": None}
_NO_WARNING: list[str] = []
_APPEARANCE: dict[int | None, dict[str, Any]] = {c: {"triangleColor": c} for c in (None, 0, 1, 2)}
_CONTAINER_KEY = {"ORGANIZATION": "organization", "TEAM": "team", "WORKER": "worker"}
_WARN_NO_NUMBER: list[str] = [WARN_NO_NUMBER]


class Destination:
    """A destination created inline with a task: only its facts are stored (no dict, no
    location list, no derived strings); :meth:`to_json` builds the JSON form when it is
    served.  Destinations never change once created.  Reads by key (``d["id"]``,
    ``d.get("location")``) see the JSON form, as for the dict destinations of
    ``POST /destinations`` and of restored records."""

    __slots__ = ("address", "id", "lat", "lon", "metadata", "notes", "time", "warned")

    def __init__(
        self,
        did: str,
        time: int,
        lat: float,
        lon: float,
        address: dict[str, str],
        notes: str,
        metadata: list[Any],
        warned: bool,
    ) -> None:
        self.id = did
        self.time = time
        self.lat = lat
        self.lon = lon
        self.address = address
        self.notes = notes
        self.metadata = metadata
        self.warned = warned

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timeCreated": self.time,
            "timeLastModified": self.time,
            "location": [self.lon, self.lat],
            "address": self.address,
            "notes": self.notes,
            "metadata": self.metadata,
            "googlePlaceId": "emu" + self.id,
            "warnings": _WARN_NO_NUMBER if self.warned else _NO_WARNING,
            "useGPS": False,
        }

    def __getitem__(self, key: str) -> Any:
        if key == "id":
            return self.id
        if key == "location":
            return [self.lon, self.lat]
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)


def destination_json(d: Destination | dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a stored destination, whichever way it is held."""
    return d.to_json() if isinstance(d, Destination) else d


@dataclass(slots=True)
class Task:
    """One Onfleet task.  ``seq`` orders tasks by creation (the list order)."""

    id: str
    short_id: str
    seq: int
    time_created: int
    time_last_modified: int
    organization: str
    merchant: str
    executor: str
    creator: str
    lat: float
    lon: float
    destination: Destination | dict[str, Any]
    recipients: list[dict[str, Any]]
    notes: str = ""
    pickup: bool = False
    complete_after: int | None = None
    complete_before: int | None = None
    dependencies: list[str] = field(default_factory=list)
    quantity: float = 0.0
    service_time: float = 0.0
    metadata: list[Any] = field(default_factory=list)
    overrides: dict[str, Any] | None = None
    triangle_color: int | None = None
    scan_only_required: bool = False
    state: int = STATE_UNASSIGNED
    worker: str | None = None
    container_type: str = "ORGANIZATION"
    container_id: str = ""
    did_auto_assign: bool = False
    success: bool | None = None
    completion_notes: str = ""
    time_completed: int | None = None
    deleted: bool = False
    source_task_id: str | None = None  # set on clones (POST /tasks/{id}/clone)
    route_plan: str | None = None  # the route plan holding the task, if any

    def to_json(self) -> dict[str, Any]:
        ct = self.container_type
        success = self.success
        if success is None:
            cd = _OPEN_COMPLETION
        else:
            cd = {
                **_OPEN_COMPLETION,
                "failureNotes": "" if success else self.completion_notes,
                "successNotes": self.completion_notes if success else "",
                "failureReason": "NONE" if success else "FAILED",
                "time": self.time_completed,
                "success": success,
                "notes": self.completion_notes,
            }
        out: dict[str, Any] = {
            "id": self.id,
            "timeCreated": self.time_created,
            "timeLastModified": self.time_last_modified,
            "organization": self.organization,
            "shortId": self.short_id,
            "trackingURL": "https://onf.lt/" + self.short_id,
            "worker": self.worker,
            "merchant": self.merchant,
            "executor": self.executor,
            "creator": self.creator,
            "dependencies": self.dependencies,
            "state": self.state,
            "completeAfter": self.complete_after,
            "completeBefore": self.complete_before,
            "pickupTask": self.pickup,
            "notes": self.notes,
            "completionDetails": cd,
            "feedback": _EMPTY,
            "metadata": self.metadata,
            "overrides": self.overrides or _NO_OVERRIDES,
            "quantity": self.quantity,
            "additionalQuantities": _NO_QUANTITIES,
            "serviceTime": self.service_time,
            "identity": _IDENTITY,
            "appearance": _APPEARANCE.get(self.triangle_color)
            or {"triangleColor": self.triangle_color},
            "scanOnlyRequiredBarcodes": self.scan_only_required,
            "container": {"type": ct, _CONTAINER_KEY[ct]: self.container_id},
            "trackingViewed": False,
            "recipients": self.recipients,
            "destination": destination_json(self.destination),
            "didAutoAssign": self.did_auto_assign,
        }
        # Optional keys, present only when they hold a value (API-NOTES §1.4).
        if self.source_task_id is not None:
            out["sourceTaskId"] = self.source_task_id
        if self.route_plan is not None:
            out["routePlan"] = self.route_plan
        return out

    def to_record(self) -> dict[str, Any]:
        """The JSON form plus the internal fields a restart needs."""
        d = self.to_json()
        d["_seq"] = self.seq
        d["_deleted"] = self.deleted
        return d

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Task:
        cd = d["completionDetails"]
        ct = d["container"]["type"]
        dest = d["destination"]
        return cls(
            id=d["id"],
            short_id=d["shortId"],
            seq=d["_seq"],
            time_created=d["timeCreated"],
            time_last_modified=d["timeLastModified"],
            organization=d["organization"],
            merchant=d["merchant"],
            executor=d["executor"],
            creator=d["creator"],
            lat=dest["location"][1],
            lon=dest["location"][0],
            destination=dest,
            recipients=d["recipients"],
            notes=d["notes"],
            pickup=d["pickupTask"],
            complete_after=d["completeAfter"],
            complete_before=d["completeBefore"],
            dependencies=d["dependencies"],
            quantity=d["quantity"],
            service_time=d["serviceTime"],
            metadata=d["metadata"],
            overrides=d["overrides"],
            triangle_color=d["appearance"]["triangleColor"],
            scan_only_required=d["scanOnlyRequiredBarcodes"],
            state=d["state"],
            worker=d["worker"],
            container_type=ct,
            container_id=d["container"][ct.lower()],
            did_auto_assign=d["didAutoAssign"],
            success=cd.get("success"),
            completion_notes=cd.get("notes", ""),
            time_completed=cd["time"],
            deleted=d["_deleted"],
            source_task_id=d.get("sourceTaskId"),
            route_plan=d.get("routePlan"),
        )


@dataclass(slots=True)
class Team:
    """An Onfleet team; ``tasks`` is the team container."""

    id: str
    name: str
    time_created: int
    time_last_modified: int
    workers: list[str] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)
    hub: str | None = None
    tasks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timeCreated": self.time_created,
            "timeLastModified": self.time_last_modified,
            "name": self.name,
            "workers": self.workers,
            "managers": self.managers,
            "hub": self.hub,
            "tasks": self.tasks,
            "enableSelfAssignment": False,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Team:
        return cls(
            id=d["id"],
            name=d["name"],
            time_created=d["timeCreated"],
            time_last_modified=d["timeLastModified"],
            workers=d["workers"],
            managers=d["managers"],
            hub=d["hub"],
            tasks=d["tasks"],
        )


@dataclass(slots=True)
class Worker:
    """An Onfleet worker; ``tasks`` is the worker container (assigned, state 1)."""

    id: str
    name: str
    phone: str
    organization: str
    time_created: int
    time_last_modified: int
    teams: list[str]
    vehicle: dict[str, Any] | None = None
    capacity: float | None = None
    on_duty: bool = False
    location: list[float] | None = None  # [lng, lat]
    time_last_seen: int | None = None
    active_task: str | None = None
    tasks: list[str] = field(default_factory=list)
    metadata: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timeCreated": self.time_created,
            "timeLastModified": self.time_last_modified,
            "organization": self.organization,
            "name": self.name,
            "displayName": None,
            "phone": self.phone,
            "activeTask": self.active_task,
            "tasks": self.tasks,
            "onDuty": self.on_duty,
            "isResponding": self.on_duty,
            "timeLastSeen": self.time_last_seen,
            "capacity": self.capacity,
            "additionalCapacities": {"capacityA": 0, "capacityB": 0, "capacityC": 0},
            "userData": {},
            "accountStatus": "ACCEPTED",
            "metadata": self.metadata,
            "imageUrl": None,
            "teams": self.teams,
            "vehicle": self.vehicle,
            "location": self.location,
            "delayTime": None,
            "hasRecentlyUsedSpoofedLocations": False,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Worker:
        return cls(
            id=d["id"],
            name=d["name"],
            phone=d["phone"],
            organization=d["organization"],
            time_created=d["timeCreated"],
            time_last_modified=d["timeLastModified"],
            teams=d["teams"],
            vehicle=d["vehicle"],
            capacity=d["capacity"],
            on_duty=d["onDuty"],
            location=d["location"],
            time_last_seen=d["timeLastSeen"],
            active_task=d["activeTask"],
            tasks=d["tasks"],
            metadata=d.get("metadata", []),
        )
