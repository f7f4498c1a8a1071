"""HyperTrack's records: :class:`Order` (one fulfillment attempt of an order handle, and
its JSON), the statuses that end an attempt, and HyperTrack's timestamps.

Besides what the API shows, an order keeps ``seq`` (its place in creation order, for
``GET /orders`` pages), the last distance its driver reported (for the
``moving_away_from_destination`` risk) and ``events``: every webhook event the order
caused, as ``[value, recorded_at, status, account_id]``, which ``GET
/orders/{h}/webhooks`` answers whether or not an endpoint was subscribed.  The stored
record is the API JSON plus these (``_seq``, ``_distance_m``, ``_events``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Statuses after which a handle may be tracked again (as its next fulfillment attempt).
FINAL = ("completed", "cancelled")
STATUSES = (
    "unplanned",
    "planned",
    "assigned",
    "ongoing",
    "completed",
    "cancelled",
    "disabled",
    "rescheduled",
)
RISKS = (
    "is_offline",
    "moving_away_from_destination",
    "delayed_from_scheduled_at",
    "deviating_from_expected_route",
    "in_outage",
    "moving_too_slow",
    "delayed_from_initial_eta",
    "in_low_battery",
)


def iso_ms(epoch_s: float | None = None) -> str:
    """HyperTrack's timestamps: ISO-8601 with milliseconds and ``Z`` (of ``epoch_s``, the
    emulator clock's time; now by the wall clock when not given)."""
    t = datetime.now(UTC) if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_of(iso: str) -> float:
    """Epoch seconds of an ISO-8601 time (a naive one is UTC); ValueError if it is not."""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp()


@dataclass(slots=True)
class Order:
    """One fulfillment attempt of an order.  ``destination`` and ``timeline`` entries are
    JSON-shaped value objects (they are only ever appended to and sent)."""

    handle: str
    attempt: int
    kind: str  # pick | drop
    type_index: int
    destination: dict[str, Any]
    worker: str
    route: str
    mode: str
    group: str | None
    scheduled_at: str | None
    service_time_s: int
    metadata: dict[str, Any]
    device_id: str
    created_at: str
    region: dict[str, str]
    status: str = "ongoing"
    completed_at: str | None = None
    cancelled_at: str | None = None
    disabled_at: str | None = None
    enabled_at: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    planned_at: str | None = None
    assigned_at: str | None = None
    started_at: str | None = None
    arrived_at: str | None = None
    exited_at: str | None = None
    plan_mode: str = "manual"
    risks: dict[str, str] = field(default_factory=lambda: dict.fromkeys(RISKS, "green"))
    last_distance_m: float | None = None
    events: list[list[Any]] = field(default_factory=list)
    account_id: str | None = None  # of the call that created it (for timed events)

    @property
    def key(self) -> str:
        return f"{self.handle}#{self.attempt}"

    @property
    def share_url(self) -> str:
        share = hashlib.blake2b(self.key.encode(), digest_size=8).hexdigest()
        return f"https://trck.at/{share[:10]}"

    def event_fields(self) -> dict[str, Any]:
        """What a webhook event's ``data`` says about this order (besides ``value``)."""
        return {
            "order_handle": self.handle,
            "route_handle": self.route,
            "status": self.status,
            "fulfillment_attempt": self.attempt,
            "share_url": self.share_url,
            "metadata": self.metadata,
        }

    def actual_service_s(self) -> int:
        """Seconds from arrival to completion at the destination (0 until both)."""
        if self.arrived_at is None or self.completed_at is None:
            return 0
        return max(0, round(epoch_of(self.completed_at) - epoch_of(self.arrived_at)))

    def to_json(self) -> dict[str, Any]:
        now = self.created_at
        visited = self.arrived_at is not None
        return {
            "order_handle": self.handle,
            "fulfillment_attempt": self.attempt,
            "status": self.status,
            "destination": self.destination,
            "ops_group_handle": self.group,
            "track_mode": self.mode,
            "plan_mode": self.plan_mode,
            "risk_status": any(v != "green" for v in self.risks.values()),
            "risks": dict(self.risks),
            "scheduled_at": self.scheduled_at,
            "started_at": self.started_at,
            "type": self.kind,
            "type_index": self.type_index,
            "expected_service_time": self.service_time_s,
            "actual_service_time": self.actual_service_s(),
            "tracked_service_time": self.actual_service_s(),
            "capacity_used": 1,
            "metadata": self.metadata,
            "region": self.region,
            "share_url": self.share_url,
            "completed_at": self.completed_at,
            "cancelled_at": self.cancelled_at,
            "disabled_at": self.disabled_at,
            "enabled_at": self.enabled_at,
            "device_id": self.device_id,
            "worker_handle": self.worker,
            "created_at": now,
            "assigned_at": self.assigned_at,
            "route_handle": self.route,
            "planned_at": self.planned_at,
            "plan_id": None,
            "distance": 0,
            "duration": 0,
            "tracking_rate": 0,
            "polyline": {"type": "LineString", "coordinates": []},
            "start_location": None,
            "end_location": {
                "type": "Point",
                "coordinates": self.destination["geometry"]["coordinates"],
            },
            "visited_destination": visited,
            "arrived_at": self.arrived_at,
            "exited_at": self.exited_at,
            "completed_at_destination": (
                self.status == "completed" and visited and self.exited_at is None
            ),
            "deviation_from_destination": 0,
            "timeline": self.timeline,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Order:
        return cls(
            handle=d["order_handle"],
            attempt=d["fulfillment_attempt"],
            kind=d["type"],
            type_index=d["type_index"],
            destination=d["destination"],
            worker=d["worker_handle"],
            route=d["route_handle"],
            mode=d["track_mode"],
            group=d["ops_group_handle"],
            scheduled_at=d["scheduled_at"],
            service_time_s=d["expected_service_time"],
            metadata=d["metadata"],
            device_id=d["device_id"],
            created_at=d["created_at"],
            region=d["region"],
            status=d["status"],
            completed_at=d["completed_at"],
            cancelled_at=d["cancelled_at"],
            disabled_at=d["disabled_at"],
            enabled_at=d["enabled_at"],
            timeline=d["timeline"],
            seq=d.get("_seq", 0),
            planned_at=d.get("planned_at"),
            assigned_at=d.get("assigned_at"),
            started_at=d.get("started_at"),
            arrived_at=d.get("arrived_at"),
            exited_at=d.get("exited_at"),
            plan_mode=d.get("plan_mode", "manual"),
            risks=d.get("risks") or dict.fromkeys(RISKS, "green"),
            last_distance_m=d.get("_distance_m"),
            events=d.get("_events", []),
            account_id=d.get("_account"),
        )

    def record(self) -> dict[str, Any]:
        """What the store keeps: the API JSON and the private fields."""
        return {
            **self.to_json(),
            "_seq": self.seq,
            "_distance_m": self.last_distance_m,
            "_events": self.events,
            "_account": self.account_id,
        }
