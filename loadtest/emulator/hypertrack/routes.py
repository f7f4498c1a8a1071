"""The emulated HyperTrack Orders API (``/orders``).

``POST /orders/track`` creates orders on a route that is tracking at once (status
``ongoing``, timeline created -> assigned -> started).  ``complete``, ``cancel``,
``disable`` and ``enable`` change status and timestamps and add timeline entries; the
query parameters ``type``, ``type_index`` and ``fulfillment_attempt`` select the attempt
(defaults: the latest).  Tracking a handle again after it finished starts the next
``fulfillment_attempt``.  Each call emits its webhook events: one delivery per order
``value`` (track: ``assigned`` then ``started``) carrying every order the call changed.
Errors: 404 ``{detail, message}`` for an unknown handle or attempt, 409 for a duplicate
active handle or a transition the status does not allow [inf], 422 with per-field
``detail`` for validation.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import HYPERTRACK
from loadtest.emulator.errors import ApiError
from loadtest.emulator.http import ok, query_int, read_json
from loadtest.emulator.hypertrack.model import FINAL, Order, iso_ms
from loadtest.emulator.hypertrack.validate import parse_order
from loadtest.emulator.services import Runtime
from loadtest.emulator.webhooks.payloads import hypertrack_body, hypertrack_event
from loadtest.providers.hypertrack import BASE_PATH, MAX_ORDERS_PER_TRACK, TRACK_MODES

# The webhook event ``value`` each order action fires.
_VALUE_OF = {
    "complete": "completed",
    "cancel": "cancelled",
    "disable": "disabled",
    "enable": "enabled",
}


def _account_id(request: Request) -> str | None:
    """The AccountID of the request's Basic credentials (events carry ``account_id``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, _ = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user if sep and user else None


class HyperTrackApi:
    """HyperTrack orders: every attempt of every handle (persisted via the store)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.orders: dict[str, list[Order]] = {}
        for d in rt.store.load("ht-order"):
            o = Order.from_json(d)
            self.orders.setdefault(o.handle, []).append(o)
        for attempts in self.orders.values():
            attempts.sort(key=lambda o: o.attempt)

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(a[-1].status for a in self.orders.values()))

    def _save(self, o: Order) -> None:
        if self.rt.store.durable:
            self.rt.store.put("ht-order", o.key, o.to_json())

    async def track(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise HYPERTRACK.invalid("must be an object", "__root__")
        worker = body.get("worker_handle") or body.get("device_id")
        if not isinstance(worker, str) or not worker:
            raise HYPERTRACK.invalid("worker_handle or device_id is required", "worker_handle")
        mode = body.get("track_mode", "on_shift")
        if mode not in TRACK_MODES:
            raise HYPERTRACK.invalid(f"must be one of {', '.join(TRACK_MODES)}", "track_mode")
        group = body.get("ops_group_handle")
        if group is not None and not isinstance(group, str):
            raise HYPERTRACK.invalid("must be a string", "ops_group_handle")
        raw_orders = body.get("orders")
        if not isinstance(raw_orders, list) or not raw_orders:
            raise HYPERTRACK.invalid("field required (at least one order)", "orders")
        if len(raw_orders) > MAX_ORDERS_PER_TRACK:
            raise HYPERTRACK.invalid(
                f"ensure this value has at most {MAX_ORDERS_PER_TRACK} items "
                f"(got {len(raw_orders):,}): split the orders over several track calls",
                "orders",
            )
        specs = [parse_order(o, i, self.rt.geocoder) for i, o in enumerate(raw_orders)]
        seen: set[str] = set()
        for s in specs:
            prior = self.orders.get(s["handle"])
            if s["handle"] in seen or (prior and prior[-1].status not in FINAL):
                raise ApiError(
                    409,
                    f"Order {s['handle']} already exists and is active",
                    detail={"order_handle": s["handle"]},
                )
            seen.add(s["handle"])
        route = self.rt.ids.uuid()
        now = iso_ms()
        counters: Counter[str] = Counter()
        out = []
        orders: list[Order] = []
        for s in specs:
            attempt = len(self.orders.get(s["handle"], []))
            index = counters[s["type"]]
            counters[s["type"]] += 1
            o = self._new_order(s, worker, mode, group, route, now, attempt, index)
            self.orders.setdefault(s["handle"], []).append(o)
            self._save(o)
            orders.append(o)
            out.append(o.to_json())
        # One delivery per value, each with every order of the call: assigned, then started.
        self._emit(request, "assigned", route, orders, now)
        self._emit(request, "started", route, orders, now)
        self.rt.commit()
        return ok(
            {
                "route_handle": route,
                "status": "tracking",
                "version": 1,
                "embed_url": f"https://embed.hypertrack.com/routes/{route}",
                "worker_handle": worker,
                "orders": out,
            }
        )

    def _new_order(
        self,
        s: dict[str, Any],
        worker: str,
        mode: str,
        group: str | None,
        route: str,
        now: str,
        attempt: int,
        index: int,
    ) -> Order:
        handle = s["handle"]
        region = self.rt.config.region
        return Order(
            handle=handle,
            attempt=attempt,
            kind=s["type"],
            type_index=index,
            destination={"geometry": s["geometry"], "address": s["address"], "radius": s["radius"]},
            worker=worker,
            route=route,
            mode=mode,
            group=group,
            scheduled_at=s["scheduled_at"],
            service_time_s=s["est"],
            metadata=s["metadata"],
            device_id=self.rt.ids.uuid().upper(),
            created_at=now,
            region={"country": region.country, "city": region.city, "state": region.state},
            timeline=[
                {
                    "type": "order_created",
                    "recorded_at": now,
                    "order_handle": handle,
                    "metadata": s["metadata"],
                },
                {
                    "type": "order_assigned",
                    "recorded_at": now,
                    "order_handle": handle,
                    "driver_handle": worker,
                    "fulfillment_attempt": attempt,
                },
                {
                    "type": "order_started",
                    "recorded_at": now,
                    "order_handle": handle,
                    "route_handle": route,
                    "order_type": s["type"],
                    "fulfillment_attempt": attempt,
                },
            ],
        )

    def _select(self, request: Request) -> Order:
        handle: str = request.path_params["handle"]
        attempts = self.orders.get(handle) or []
        if not attempts:
            raise HYPERTRACK.not_found(f"Order {handle}")
        q = request.query_params
        kind = q.get("type")
        if kind is not None and kind not in ("pick", "drop"):
            raise HYPERTRACK.invalid("must be pick or drop", "type", location="query")
        index = query_int(request, "type_index")
        attempt = query_int(request, "fulfillment_attempt")
        for o in reversed(attempts):
            if attempt is not None and o.attempt != attempt:
                continue
            if kind is not None and o.kind != kind:
                continue
            if index is not None and o.type_index != index:
                continue
            return o
        raise ApiError(
            404,
            f"Order {handle} has no attempt matching the given type, "
            "type_index and fulfillment_attempt",
        )

    async def get_order(self, request: Request) -> Response:
        return ok(self._select(request).to_json())

    async def _act(self, request: Request, action: str) -> Response:
        o = self._select(request)
        body = await read_json(request, allow_empty=True)
        if not isinstance(body, dict):
            raise HYPERTRACK.invalid("must be an object", "__root__")
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise HYPERTRACK.invalid("must be an object", "metadata")
        status, now, handle = o.status, iso_ms(), o.handle
        entry: dict[str, Any] = {
            "recorded_at": now,
            "order_handle": handle,
            "route_handle": o.route,
            "fulfillment_attempt": o.attempt,
        }
        if action in ("complete", "cancel"):
            if status in FINAL:
                raise ApiError(
                    409, f"Order {handle} is already {status}", detail={"status": status}
                )
            if action == "complete":
                o.status, o.completed_at = "completed", now
                entry.update(type="order_completed", order_type=o.kind)
            else:
                o.status, o.cancelled_at = "cancelled", now
                entry["type"] = "order_cancelled"
        elif action == "disable":
            if status in FINAL or status == "disabled":
                raise ApiError(
                    409,
                    f"Order {handle} is {status} and cannot be disabled",
                    detail={"status": status},
                )
            o.status, o.disabled_at = "disabled", now
            entry["type"] = "order_disabled"
        else:
            if status != "disabled":
                raise ApiError(
                    409, f"Order {handle} is {status}, not disabled", detail={"status": status}
                )
            o.status, o.enabled_at = "ongoing", now
            entry["type"] = "order_enabled"
        if meta:
            o.metadata = {**o.metadata, **meta}
        o.timeline.append(entry)
        self._save(o)
        # The subject is the route, as for the track call's events: one lane per route, so
        # an order's completed never overtakes its started while that one is retried.
        self._emit(request, _VALUE_OF[action], o.route or o.handle, [o], now)
        self.rt.commit()
        return ok(o.to_json())

    def _emit(
        self, request: Request, value: str, subject: str, orders: list[Order], at: str
    ) -> None:
        """One webhook delivery (a JSON array, one event per order) about ``subject``."""
        events = self.rt.events
        if not events.wants("hypertrack", value):
            return
        account = _account_id(request)
        body = hypertrack_body(
            hypertrack_event(
                value,
                at=at,
                device_id=o.device_id,
                worker_handle=o.worker,
                account_id=account,
                order=o.event_fields(),
            )
            for o in orders
        )
        events.emit("hypertrack", value, subject, body)

    async def complete(self, request: Request) -> Response:
        return await self._act(request, "complete")

    async def cancel(self, request: Request) -> Response:
        return await self._act(request, "cancel")

    async def disable(self, request: Request) -> Response:
        return await self._act(request, "disable")

    async def enable(self, request: Request) -> Response:
        return await self._act(request, "enable")

    def routes(self) -> list[BaseRoute]:
        b = BASE_PATH
        return [
            Route(f"{b}/track", self.track, methods=["POST"]),
            Route(f"{b}/{{handle}}", self.get_order, methods=["GET"]),
            Route(f"{b}/{{handle}}/complete", self.complete, methods=["POST"]),
            Route(f"{b}/{{handle}}/cancel", self.cancel, methods=["POST"]),
            Route(f"{b}/{{handle}}/disable", self.disable, methods=["POST"]),
            Route(f"{b}/{{handle}}/enable", self.enable, methods=["POST"]),
        ]
