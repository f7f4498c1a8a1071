"""The OpenAPI description of the HyperTrack lifecycle routes (for
loadtest.emulator.openapi): plan, list, PATCH, custom events, an order's webhooks, and
the emulator-only driver-app routes.

The driver-app routes take the driver app's credential (Onfleet's key, as every
``/emulator/v1`` route), so they are listed under ``onfleet``'s security scheme.

``OPERATIONS`` has the shape of ``openapi.OPERATIONS``: (method, path, provider, summary,
body model, query parameters as (name, type, required)).  ``RESPONSES`` maps (method,
path) to the model of the 2xx body (``POST /orders/{h}/events`` answers ``null``: no
model).
"""

from __future__ import annotations

from pydantic import BaseModel, RootModel

from loadtest.providers import hypertrack as ht

_B = ht.BASE_PATH
_C = ht.CONTROL_PATH
_SELECT = (
    ("type", "string", False),
    ("type_index", "integer", False),
    ("fulfillment_attempt", "integer", False),
)
_PAGE = (("limit", "integer", False), ("pagination_token", "string", False))

OPERATIONS: tuple[
    tuple[str, str, str, str, type[BaseModel] | None, tuple[tuple[str, str, bool], ...]], ...
] = (
    (
        "post",
        _B,
        "hypertrack",
        "Plan orders onto a route (planned, then assigned)",
        ht.PlanRequest,
        (),
    ),
    (
        "get",
        _B,
        "hypertrack",
        "List orders (status filter: a comma-separated list)",
        None,
        (
            ("status", "string", False),
            ("worker_handle", "string", False),
            ("route_handle", "string", False),
            ("ops_group_handle", "string", False),
            *_PAGE,
        ),
    ),
    ("patch", f"{_B}/{{handle}}", "hypertrack", "Update an order", ht.OrderPatch, _SELECT),
    (
        "post",
        f"{_B}/{{handle}}/events",
        "hypertrack",
        "Add a custom event to an order's timeline",
        ht.OrderEvent,
        _SELECT,
    ),
    (
        "get",
        f"{_B}/{{handle}}/webhooks",
        "hypertrack",
        "The webhook events an order caused",
        None,
        (*_SELECT, *_PAGE),
    ),
    (
        "post",
        f"{_C}/routes/{{route}}/start",
        "onfleet",
        "Emulator only: the driver starts a route (assigned orders become ongoing)",
        None,
        (),
    ),
    (
        "post",
        f"{_C}/workers/{{worker}}/location",
        "onfleet",
        "Emulator only: the driver's position (arrival, exit, risks)",
        ht.DriverLocation,
        (),
    ),
    (
        "post",
        f"{_C}/orders/{{handle}}/complete",
        "onfleet",
        "Emulator only: the driver completes an ongoing order",
        ht.OrderAction,
        _SELECT,
    ),
)

_ORDER: type[BaseModel] = ht.OrderOut
_ROUTE: type[BaseModel] = ht.RouteOut


class NullBody(RootModel[None]):
    """The JSON ``null`` that ``POST /orders/{h}/events`` answers (HyperTrack's answer)."""

    root: None = None


RESPONSES: dict[tuple[str, str], type[BaseModel] | None] = {
    ("post", _B): _ROUTE,
    ("get", _B): ht.OrderPage,
    ("patch", f"{_B}/{{handle}}"): _ORDER,
    ("get", f"{_B}/{{handle}}/webhooks"): ht.WebhookPage,
    ("post", f"{_C}/routes/{{route}}/start"): _ROUTE,
    ("post", f"{_C}/workers/{{worker}}/location"): ht.DriverMoved,
    ("post", f"{_C}/orders/{{handle}}/complete"): _ORDER,
    ("post", f"{_B}/track"): _ROUTE,
    ("get", f"{_B}/{{handle}}"): _ORDER,
    **{
        ("post", f"{_B}/{{handle}}/{a}"): _ORDER
        for a in ("complete", "cancel", "disable", "enable")
    },
    ("post", f"{_B}/{{handle}}/events"): NullBody,
}
