"""HyperTrack Orders API v3: request bodies, statuses and builders (API-NOTES §4)."""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BASE_PATH = "/orders"
# Orders per track call.  HyperTrack publishes no limit [inf]: the emulator's, so that one
# request stays under 50 ms of event-loop time (200 orders: 25-30 ms in-process on a loaded
# 2-core machine, a 0.4 MB answer; 40k orders held the loop 1.6 s and answered 73 MB).
MAX_ORDERS_PER_TRACK = 200
TRACK_MODES = ("pre_shift", "on_shift", "full_shift", "on_time", "flex")
# A 422's ``message``; the per-field reasons go in ``detail`` (API-NOTES §4).
MSG_VALIDATION = "Validation error"


class Geometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=2)


class Destination(BaseModel):
    model_config = ConfigDict(extra="allow")
    geometry: Geometry | None = None
    address: str | None = None
    radius: int | None = None
    place_handle: str | None = None


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    order_handle: str = Field(min_length=1)
    type: Literal["pick", "drop"] = "drop"
    destination: Destination
    scheduled_at: str | None = None
    expected_service_time: int | None = None
    metadata: dict[str, Any] | None = None


class TrackRequest(BaseModel):
    """Body of POST /orders/track."""

    model_config = ConfigDict(extra="allow")
    worker_handle: str | None = None
    device_id: str | None = None
    track_mode: Literal["pre_shift", "on_shift", "full_shift", "on_time", "flex"] = "on_shift"
    ops_group_handle: str | None = None
    orders: list[OrderIn] = Field(min_length=1)


class OrderAction(BaseModel):
    """Body of complete / cancel / disable / enable (``{}``; cancel may add metadata)."""

    model_config = ConfigDict(extra="allow")
    metadata: dict[str, Any] | None = None


def order_body(
    handle: str,
    lat: float,
    lon: float,
    kind: Literal["pick", "drop"] = "drop",
    address: str | None = "",
    radius_m: int = 100,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One order of a track request; ``address=None`` leaves the address out (the
    coordinates alone place it), ``radius_m`` is the geofence of its destination."""
    destination: dict[str, Any] = {"geometry": {"type": "Point", "coordinates": [lon, lat]}}
    if address is not None:
        destination["address"] = address
    destination["radius"] = radius_m
    body: dict[str, Any] = {"order_handle": handle, "type": kind, "destination": destination}
    if metadata is not None:
        body["metadata"] = metadata
    return body


def track_body(
    worker: str, orders: list[dict[str, Any]], track_mode: str = "on_shift"
) -> dict[str, Any]:
    return {"worker_handle": worker, "track_mode": track_mode, "orders": orders}


def auth_headers(account_id: str, secret: str) -> dict[str, str]:
    """Request headers for HyperTrack: Basic ``AccountID:SecretKey``."""
    token = base64.b64encode(f"{account_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def order_handle(body: Any) -> str | None:
    """The handle of the first order of a ``POST /orders/track`` body."""
    orders = body.get("orders") if isinstance(body, dict) else None
    first = orders[0] if isinstance(orders, list) and orders else None
    handle = first.get("order_handle") if isinstance(first, dict) else None
    return handle if isinstance(handle, str) else None


# -- the order lifecycle (POST /orders, GET /orders, PATCH, events, webhooks) ------------
#: The emulator-only driver-app routes that move HyperTrack orders (start, location,
#: complete); they speak the driver app's dialect (Onfleet's shape and key).
CONTROL_PATH = "/emulator/v1/hypertrack"
# GET /orders and GET /orders/{h}/webhooks pages [inf]: HyperTrack documents
# ``pagination_token`` and ``limit`` but no bounds.
DEFAULT_PAGE = 100
MAX_PAGE = 100
# A driver farther than this beyond their last reported distance is moving away [inf].
MOVING_AWAY_MARGIN_M = 50.0


class PlanRequest(BaseModel):
    """Body of POST /orders: orders planned onto a route for a worker."""

    model_config = ConfigDict(extra="allow")
    worker_handle: str = Field(min_length=1)
    track_mode: Literal["pre_shift", "on_shift", "full_shift", "on_time", "flex"] = "on_shift"
    ops_group_handle: str | None = None
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_ORDERS_PER_TRACK)


class OrderPatch(BaseModel):
    """Body of PATCH /orders/{h}: the fields to change."""

    model_config = ConfigDict(extra="forbid")
    destination: Destination | None = None
    scheduled_at: str | None = None
    expected_service_time: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None


class OrderEvent(BaseModel):
    """Body of POST /orders/{h}/events: a custom event on the order's timeline."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=64)
    metadata: dict[str, Any] | None = None


class DriverLocation(BaseModel):
    """Body of POST /emulator/v1/hypertrack/workers/{worker}/location."""

    location: list[float] = Field(min_length=2, max_length=2)


class OrderOut(BaseModel):
    """An order as the API answers it."""

    model_config = ConfigDict(extra="allow")
    order_handle: str
    fulfillment_attempt: int
    status: str
    risk_status: bool
    risks: dict[str, str]
    timeline: list[dict[str, Any]]


class RouteOut(BaseModel):
    """The answer of POST /orders and POST /orders/track."""

    model_config = ConfigDict(extra="allow")
    route_handle: str
    status: Literal["planned", "tracking"]
    orders: list[OrderOut]


class OrderPage(BaseModel):
    """The answer of GET /orders."""

    orders: list[OrderOut]
    pagination_token: str | None


class WebhookPage(BaseModel):
    """The answer of GET /orders/{h}/webhooks: the events the order caused."""

    webhooks: list[dict[str, Any]]
    pagination_token: str | None


class DriverMoved(BaseModel):
    """The answer of the driver-app location route: the worker's ongoing orders."""

    worker_handle: str
    location: list[float]
    orders: list[OrderOut]
