"""The emulated HyperTrack Orders API (``/orders``).

``POST /orders/track`` creates orders on a route that is tracking at once (status
``ongoing``, timeline created -> assigned -> started).  ``POST /orders`` plans them
instead: the route and its orders come back ``planned`` and become ``assigned``
``ht_assign_delay_s`` simulated seconds later (the emulator's clock) [inf]; the driver
app (:mod:`.driver`) then starts the route (``ongoing``), reports locations (arrival,
exit, risks) and completes orders.  ``complete``, ``cancel``, ``disable`` and ``enable``
change status and timestamps and add timeline entries; the query parameters ``type``,
``type_index`` and ``fulfillment_attempt`` select the attempt (defaults: the latest).
Tracking a handle again after it finished starts the next ``fulfillment_attempt``.
``GET /orders`` lists attempts in creation order with status, worker, route and group
filters, paged by ``limit`` and ``pagination_token``; ``PATCH /orders/{h}`` changes
destination, schedule, service time or metadata; ``POST /orders/{h}/events`` adds a custom
timeline entry and answers ``null``; ``GET /orders/{h}/webhooks`` pages the events the
order caused.  An order whose ``scheduled_at`` passes before it finishes turns its
``delayed_from_scheduled_at`` risk red at that (simulated) time.

Each change emits its webhook events: one delivery per order ``value`` (track:
``assigned`` then ``started``) carrying every order the call changed.  Errors: 404
``{detail, message}`` for an unknown handle or attempt, 409 for a duplicate active handle
or a transition the status does not allow [inf], 422 with per-field ``detail`` for
validation.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import HYPERTRACK
from loadtest.emulator.errors import ApiError
from loadtest.emulator.http import ok, query_int, read_json
from loadtest.emulator.hypertrack.model import FINAL, STATUSES, Order, epoch_of, iso_ms
from loadtest.emulator.hypertrack.validate import parse_order
from loadtest.emulator.nash.timer import DueTimer
from loadtest.emulator.services import Runtime
from loadtest.emulator.webhooks.payloads import hypertrack_body, hypertrack_event
from loadtest.providers.hypertrack import (
    BASE_PATH,
    DEFAULT_PAGE,
    MAX_ORDERS_PER_TRACK,
    MAX_PAGE,
    TRACK_MODES,
)

# The webhook event ``value`` each order action fires.
_VALUE_OF = {
    "complete": "completed",
    "cancel": "cancelled",
    "disable": "disabled",
    "enable": "enabled",
}
# GET /orders examines at most this many orders per page [inf], so a sparse filter over
# a large store never holds the loop: the page may then be short, with a token to go on.
SCAN_BUDGET = 5_000
_PATCHABLE = ("destination", "scheduled_at", "expected_service_time", "metadata")


def account_id(request: Request) -> str | None:
    """The AccountID of the request's Basic credentials (events carry ``account_id``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, _ = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user if sep and user else None


def _token(i: int, n: int) -> str | None:
    return base64.urlsafe_b64encode(f"o:{i}".encode()).decode() if i < n else None


def page_bounds(request: Request, n: int) -> tuple[int, int]:
    """``(start, limit)`` of a paged GET: ``pagination_token`` (opaque; an offset) and
    ``limit`` (1..MAX_PAGE)."""
    limit = query_int(request, "limit", minimum=1)
    if limit is None:
        limit = DEFAULT_PAGE
    elif limit > MAX_PAGE:
        raise HYPERTRACK.invalid(f"must be at most {MAX_PAGE}", "limit", location="query")
    raw = request.query_params.get("pagination_token")
    if raw is None or raw == "":
        return 0, limit
    try:
        kind, _, num = base64.urlsafe_b64decode(raw.encode()).decode().partition(":")
        start = int(num)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        start = -1
        kind = ""
    if kind != "o" or not 0 <= start <= n:
        raise HYPERTRACK.invalid(
            "is not a token this API gave", "pagination_token", location="query"
        )
    return start, limit


class HyperTrackApi:
    """HyperTrack orders: every attempt of every handle (persisted via the store)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.orders: dict[str, list[Order]] = {}
        self.in_order: list[Order] = []  # every attempt, in creation order
        self.by_route: dict[str, list[Order]] = {}
        self.by_worker: dict[str, list[Order]] = {}
        self.timer = DueTimer(rt.clock, self._fire)
        for d in rt.store.load("ht-order"):
            self._index(Order.from_json(d))
        self.in_order.sort(key=lambda o: o.seq)
        for attempts in self.orders.values():
            attempts.sort(key=lambda o: o.attempt)
        for o in self.in_order:
            self._schedule_late(o)
            if o.status == "planned" and o.planned_at is not None:
                due = epoch_of(o.planned_at) + rt.config.ht_assign_delay_s
                self.timer.schedule(f"plan:{o.route}", due)

    def _index(self, o: Order) -> None:
        self.orders.setdefault(o.handle, []).append(o)
        self.in_order.append(o)
        self.by_route.setdefault(o.route, []).append(o)
        self.by_worker.setdefault(o.worker, []).append(o)

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(a[-1].status for a in self.orders.values()))

    def save(self, o: Order) -> None:
        if self.rt.store.durable:
            self.rt.store.put("ht-order", o.key, o.record())

    def resume(self) -> None:
        self.timer.start()

    async def close(self) -> None:
        await self.timer.close()

    def now(self) -> tuple[float, str]:
        now_s = self.rt.clock.now_s()
        return now_s, iso_ms(now_s)

    # -- timed transitions -----------------------------------------------------------
    def catch_up(self) -> None:
        """Apply what the clock made due (before a request reads or changes orders)."""
        self.timer.run_due()

    def _schedule_late(self, o: Order) -> None:
        if o.scheduled_at is None or o.status in FINAL:
            return
        try:
            due = epoch_of(o.scheduled_at)
        except ValueError:  # stored before scheduled_at had to be ISO-8601: never late
            return
        if o.risks.get("delayed_from_scheduled_at") == "green":
            self.timer.schedule(f"late:{o.key}", due)

    def _fire(self, subject: str) -> None:
        kind, _, rest = subject.partition(":")
        if kind == "plan":
            planned = [o for o in self.by_route.get(rest, []) if o.status == "planned"]
            if planned:
                at = iso_ms(epoch_of(planned[0].created_at) + self.rt.config.ht_assign_delay_s)
                for o in planned:
                    o.status, o.assigned_at = "assigned", at
                    o.timeline.append(
                        {
                            "type": "order_assigned",
                            "recorded_at": at,
                            "order_handle": o.handle,
                            "driver_handle": o.worker,
                            "fulfillment_attempt": o.attempt,
                        }
                    )
                    self.save(o)
                self.emit("assigned", rest, planned, at, planned[0].account_id)
        else:
            handle, _, attempt = rest.rpartition("#")
            o = self.orders[handle][int(attempt)]
            if o.status in FINAL or o.scheduled_at is None:
                return
            o.risks["delayed_from_scheduled_at"] = "red"
            self.save(o)
            self.emit("risk_updated", o.route, [o], iso_ms(epoch_of(o.scheduled_at)), o.account_id)
        self.rt.commit()

    # -- webhook events ----------------------------------------------------------------
    def emit(
        self, value: str, subject: str, orders: list[Order], at: str, account: str | None
    ) -> None:
        """Record the event on each order (GET /orders/{h}/webhooks) and, when wanted,
        emit one webhook delivery (a JSON array, one event per order) about ``subject``."""
        for o in orders:
            o.events.append([value, at, o.status, account])
        events = self.rt.events
        if not events.wants("hypertrack", value):
            return
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

    # -- creation ----------------------------------------------------------------------
    def _parse_route(self, body: Any, require_worker: bool) -> tuple[str, str, Any, list[Any]]:
        if not isinstance(body, dict):
            raise HYPERTRACK.invalid("must be an object", "__root__")
        worker = body.get("worker_handle") or (None if require_worker else body.get("device_id"))
        if not isinstance(worker, str) or not worker:
            raise HYPERTRACK.invalid(
                "field required" if require_worker else "worker_handle or device_id is required",
                "worker_handle",
            )
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
                f"(got {len(raw_orders):,}): split the orders over several calls",
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
        return worker, mode, group, specs

    def _create(
        self, request: Request, body: Any, *, planned: bool
    ) -> tuple[str, str, list[Order]]:
        worker, mode, group, specs = self._parse_route(body, require_worker=planned)
        route = self.rt.ids.uuid()
        _, now = self.now()
        account = account_id(request)
        counters: Counter[str] = Counter()
        orders: list[Order] = []
        for s in specs:
            attempt = len(self.orders.get(s["handle"], []))
            index = counters[s["type"]]
            counters[s["type"]] += 1
            o = self._new_order(s, worker, mode, group, route, now, attempt, index)
            o.account_id = account
            o.planned_at = now
            if planned:
                o.timeline.append(
                    {
                        "type": "order_planned",
                        "recorded_at": now,
                        "order_handle": o.handle,
                        "route_handle": route,
                    }
                )
            else:
                o.status = "ongoing"
                o.assigned_at = o.started_at = now
                o.timeline += [
                    {
                        "type": "order_assigned",
                        "recorded_at": now,
                        "order_handle": o.handle,
                        "driver_handle": worker,
                        "fulfillment_attempt": attempt,
                    },
                    {
                        "type": "order_started",
                        "recorded_at": now,
                        "order_handle": o.handle,
                        "route_handle": route,
                        "order_type": o.kind,
                        "fulfillment_attempt": attempt,
                    },
                ]
            self._index(o)
            self.save(o)
            self._schedule_late(o)
            orders.append(o)
        return route, now, orders

    async def track(self, request: Request) -> Response:
        self.catch_up()
        body = await read_json(request)
        route, now, orders = self._create(request, body, planned=False)
        # One delivery per value, each with every order of the call: assigned, then started.
        account = account_id(request)
        self.emit("assigned", route, orders, now, account)
        self.emit("started", route, orders, now, account)
        self.rt.commit()
        return ok(self._route_json(route, "tracking", orders))

    async def plan(self, request: Request) -> Response:
        self.catch_up()
        body = await read_json(request)
        route, _, orders = self._create(request, body, planned=True)
        due = self.rt.clock.now_s() + self.rt.config.ht_assign_delay_s
        self.timer.schedule(f"plan:{route}", due)
        self.rt.commit()
        return ok(self._route_json(route, "planned", orders))

    def _route_json(self, route: str, status: str, orders: list[Order]) -> dict[str, Any]:
        return {
            "route_handle": route,
            "status": status,
            "version": 1,
            "embed_url": f"https://embed.hypertrack.com/routes/{route}",
            "worker_handle": orders[0].worker,
            "orders": [o.to_json() for o in orders],
        }

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
            status="planned",
            seq=len(self.in_order),
            timeline=[
                {
                    "type": "order_created",
                    "recorded_at": now,
                    "order_handle": handle,
                    "metadata": s["metadata"],
                }
            ],
        )

    # -- reads -------------------------------------------------------------------------
    def select(self, request: Request) -> Order:
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
        self.catch_up()
        return ok(self.select(request).to_json())

    async def list_orders(self, request: Request) -> Response:
        self.catch_up()
        q = request.query_params
        statuses: set[str] = set()
        for raw in q.getlist("status"):
            for s in raw.split(","):
                if s not in STATUSES:
                    raise HYPERTRACK.invalid(
                        f"{s!r} is not one of {', '.join(STATUSES)}", "status", location="query"
                    )
                statuses.add(s)
        filters = [(k, q.get(k)) for k in ("worker_handle", "route_handle", "ops_group_handle")]
        wanted = {k: v for k, v in filters if v is not None}
        start, limit = page_bounds(request, len(self.in_order))
        out: list[dict[str, Any]] = []
        i = start
        stop = min(len(self.in_order), start + SCAN_BUDGET)
        while i < stop and len(out) < limit:
            o = self.in_order[i]
            i += 1
            if statuses and o.status not in statuses:
                continue
            if wanted and (
                wanted.get("worker_handle", o.worker) != o.worker
                or wanted.get("route_handle", o.route) != o.route
                or wanted.get("ops_group_handle", o.group) != o.group
            ):
                continue
            out.append(o.to_json())
        return ok({"orders": out, "pagination_token": _token(i, len(self.in_order))})

    async def get_webhooks(self, request: Request) -> Response:
        self.catch_up()
        o = self.select(request)
        start, limit = page_bounds(request, len(o.events))
        page = o.events[start : start + limit]
        hooks = [
            hypertrack_event(
                value,
                at=at,
                device_id=o.device_id,
                worker_handle=o.worker,
                account_id=account,
                order={**o.event_fields(), "status": status},
            )
            for value, at, status, account in page
        ]
        return ok({"webhooks": hooks, "pagination_token": _token(start + len(page), len(o.events))})

    # -- changes -----------------------------------------------------------------------
    async def patch_order(self, request: Request) -> Response:
        self.catch_up()
        o = self.select(request)
        body = await read_json(request)
        if not isinstance(body, dict) or not body:
            raise HYPERTRACK.invalid("must be an object with the fields to change", "__root__")
        for key in body:
            if key not in _PATCHABLE:
                raise HYPERTRACK.invalid(
                    f"extra fields not permitted (allowed: {', '.join(_PATCHABLE)})", key
                )
        if o.status in FINAL:
            raise ApiError(
                409,
                f"Order {o.handle} is {o.status}: it cannot change",
                detail={"status": o.status},
            )
        merged = {
            "order_handle": o.handle,
            "type": o.kind,
            "destination": body.get("destination", o.destination),
            "expected_service_time": body.get("expected_service_time", o.service_time_s),
            "metadata": body.get("metadata", o.metadata),
            "scheduled_at": body.get("scheduled_at", o.scheduled_at),
        }
        s = parse_order(merged, 0, self.rt.geocoder, loc="")
        _, now = self.now()
        o.destination = {"geometry": s["geometry"], "address": s["address"], "radius": s["radius"]}
        o.service_time_s, o.metadata = s["est"], s["metadata"]
        if s["scheduled_at"] != o.scheduled_at:
            o.scheduled_at = s["scheduled_at"]
            o.risks["delayed_from_scheduled_at"] = "green"
            self.timer.cancel(f"late:{o.key}")
            self._schedule_late(o)
        o.timeline.append(
            {
                "type": "order_updated",
                "recorded_at": now,
                "order_handle": o.handle,
                "fulfillment_attempt": o.attempt,
                "fields": sorted(body),
            }
        )
        self.save(o)
        self.emit("updated", o.route, [o], now, account_id(request))
        self.rt.commit()
        return ok(o.to_json())

    async def post_event(self, request: Request) -> Response:
        self.catch_up()
        o = self.select(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise HYPERTRACK.invalid("must be an object", "__root__")
        kind = body.get("type")
        if not isinstance(kind, str) or not 1 <= len(kind) <= 64:
            raise HYPERTRACK.invalid("field required (a string of 1 to 64 characters)", "type")
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise HYPERTRACK.invalid("must be an object", "metadata")
        _, now = self.now()
        o.timeline.append(
            {
                "type": kind,
                "recorded_at": now,
                "order_handle": o.handle,
                "fulfillment_attempt": o.attempt,
                "metadata": meta,
            }
        )
        self.save(o)
        self.rt.commit()
        return ok(None)

    async def act(self, request: Request, action: str, *, driver: bool = False) -> Response:
        """complete / cancel / disable / enable one attempt (``driver``: the driver app
        completes an order it started, at its destination or not)."""
        self.catch_up()
        o = self.select(request)
        body = await read_json(request, allow_empty=True)
        if not isinstance(body, dict):
            raise HYPERTRACK.invalid("must be an object", "__root__")
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise HYPERTRACK.invalid("must be an object", "metadata")
        status, handle = o.status, o.handle
        _, now = self.now()
        entry: dict[str, Any] = {
            "recorded_at": now,
            "order_handle": handle,
            "route_handle": o.route,
            "fulfillment_attempt": o.attempt,
        }
        if driver and status != "ongoing":
            raise ApiError(
                409, f"Order {handle} is {status}: the driver completes ongoing orders only"
            )
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
            self.timer.cancel(f"late:{o.key}")
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
        self.save(o)
        # The subject is the route, as for the track call's events: one lane per route, so
        # an order's completed never overtakes its started while that one is retried.
        # The driver app's credential is not an account's: its events carry the creator's.
        account = o.account_id if driver else account_id(request)
        self.emit(_VALUE_OF[action], o.route or o.handle, [o], now, account)
        self.rt.commit()
        return ok(o.to_json())

    async def complete(self, request: Request) -> Response:
        return await self.act(request, "complete")

    async def cancel(self, request: Request) -> Response:
        return await self.act(request, "cancel")

    async def disable(self, request: Request) -> Response:
        return await self.act(request, "disable")

    async def enable(self, request: Request) -> Response:
        return await self.act(request, "enable")

    def routes(self) -> list[BaseRoute]:
        from loadtest.emulator.hypertrack.driver import HyperTrackDriver

        b = BASE_PATH
        return [
            Route(b, self.plan, methods=["POST"]),
            Route(b, self.list_orders, methods=["GET"]),
            Route(f"{b}/track", self.track, methods=["POST"]),
            Route(f"{b}/{{handle}}", self.get_order, methods=["GET"]),
            Route(f"{b}/{{handle}}", self.patch_order, methods=["PATCH"]),
            Route(f"{b}/{{handle}}/complete", self.complete, methods=["POST"]),
            Route(f"{b}/{{handle}}/cancel", self.cancel, methods=["POST"]),
            Route(f"{b}/{{handle}}/disable", self.disable, methods=["POST"]),
            Route(f"{b}/{{handle}}/enable", self.enable, methods=["POST"]),
            Route(f"{b}/{{handle}}/events", self.post_event, methods=["POST"]),
            Route(f"{b}/{{handle}}/webhooks", self.get_webhooks, methods=["GET"]),
            *HyperTrackDriver(self).routes(),
        ]
