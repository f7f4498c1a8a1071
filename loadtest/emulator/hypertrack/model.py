"""HyperTrack's records: :class:`Order` (one fulfillment attempt of an order handle, and
its JSON), the statuses that end an attempt, and HyperTrack's timestamps."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Statuses after which a handle may be tracked again (as its next fulfillment attempt).
FINAL = ("completed", "cancelled")
_RISKS = (
    "is_offline",
    "moving_away_from_destination",
    "delayed_from_scheduled_at",
    "deviating_from_expected_route",
    "in_outage",
    "moving_too_slow",
    "delayed_from_initial_eta",
    "in_low_battery",
)


def iso_ms() -> str:
    """HyperTrack's timestamps: ISO-8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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

    def to_json(self) -> dict[str, Any]:
        now = self.created_at
        return {
            "order_handle": self.handle,
            "fulfillment_attempt": self.attempt,
            "status": self.status,
            "destination": self.destination,
            "ops_group_handle": self.group,
            "track_mode": self.mode,
            "plan_mode": "manual",
            "risk_status": False,
            "risks": dict.fromkeys(_RISKS, "green"),
            "scheduled_at": self.scheduled_at,
            "started_at": now,
            "type": self.kind,
            "type_index": self.type_index,
            "expected_service_time": self.service_time_s,
            "actual_service_time": 0,
            "tracked_service_time": 0,
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
            "assigned_at": now,
            "route_handle": self.route,
            "planned_at": now,
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
            "visited_destination": False,
            "completed_at_destination": False,
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
        )
