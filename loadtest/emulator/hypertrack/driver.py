"""The driver app for HyperTrack orders (emulator-only, under ``/emulator/v1/hypertrack``).

HyperTrack learns what a driver does from the driver's phone; the emulator stands the
phone in with three calls, authenticated and answered like the other driver-app routes
(Onfleet's key and error shape, outside the rate budget, never faulted):

* ``POST .../routes/{route_handle}/start`` -- the driver starts a route: every
  ``assigned`` order of it becomes ``ongoing`` (``started``).  A route whose orders are
  still ``planned`` is 409.
* ``POST .../workers/{worker_handle}/location {"location": [lng, lat]}`` -- a position:
  each ``ongoing`` order of the worker whose destination geofence (``radius``, geodesic
  metres through ``sim.geo``) now holds the driver is ``arrived``; one the driver leaves
  after arriving is ``exited``; ``moving_away_from_destination`` turns yellow when the
  driver is more than ``MOVING_AWAY_MARGIN_M`` farther than at the last position, green
  again when closer (``risk_updated`` on each change).
* ``POST .../orders/{handle}/complete`` -- the driver completes an ``ongoing`` order
  (``completed_at_destination`` when it arrived and has not left; the service time runs
  from arrival to completion).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import DRIVER_APP
from loadtest.emulator.errors import ApiError
from loadtest.emulator.geocode import valid_location
from loadtest.emulator.http import ok, read_json
from loadtest.emulator.hypertrack.model import Order
from loadtest.providers.hypertrack import CONTROL_PATH, MOVING_AWAY_MARGIN_M
from sim.geo import geodesic_m

if TYPE_CHECKING:
    from loadtest.emulator.hypertrack.routes import HyperTrackApi


class HyperTrackDriver:
    """The driver-app routes over one :class:`HyperTrackApi`."""

    def __init__(self, api: HyperTrackApi) -> None:
        self.api = api

    async def start_route(self, request: Request) -> Response:
        api = self.api
        api.catch_up()
        route = request.path_params["route"]
        orders = api.by_route.get(route)
        if not orders:
            raise DRIVER_APP.not_found(f"route {route}")
        ready = [o for o in orders if o.status == "assigned"]
        if not ready:
            raise ApiError(
                409,
                f"Route {route} has no assigned order to start (planned orders are "
                "assigned once the plan completes)",
                error=1000,
            )
        _, now = api.now()
        for o in ready:
            o.status, o.started_at = "ongoing", now
            o.timeline.append(
                {
                    "type": "order_started",
                    "recorded_at": now,
                    "order_handle": o.handle,
                    "route_handle": route,
                    "order_type": o.kind,
                    "fulfillment_attempt": o.attempt,
                }
            )
            api.save(o)
        api.emit("started", route, ready, now, ready[0].account_id)
        api.rt.commit()
        return ok(
            {
                "route_handle": route,
                "status": "tracking",
                "orders": [o.to_json() for o in orders],
            }
        )

    async def location(self, request: Request) -> Response:
        api = self.api
        api.catch_up()
        body = await read_json(request)
        loc = body.get("location") if isinstance(body, dict) else None
        point = valid_location(loc)
        if point is None:
            raise DRIVER_APP.invalid("location must be [longitude, latitude]")
        lat, lon = point
        worker = request.path_params["worker"]
        ongoing = [o for o in api.by_worker.get(worker, []) if o.status == "ongoing"]
        _, now = api.now()
        for o in ongoing:
            self._moved(o, lat, lon, now)
        api.rt.commit()
        return ok(
            {
                "worker_handle": worker,
                "location": [lon, lat],
                "orders": [o.to_json() for o in ongoing],
            }
        )

    def _moved(self, o: Order, lat: float, lon: float, now: str) -> None:
        api = self.api
        dest_lon, dest_lat = o.destination["geometry"]["coordinates"][:2]
        d = geodesic_m(lat, lon, dest_lat, dest_lon)
        inside = d <= o.destination["radius"]
        changed: list[tuple[str, dict[str, Any]]] = []
        if inside and o.arrived_at is None:
            o.arrived_at = now
            changed.append(("arrived", {"type": "order_arrived"}))
        elif not inside and o.arrived_at is not None and o.exited_at is None:
            o.exited_at = now
            changed.append(("exited", {"type": "order_exited"}))
        if o.last_distance_m is not None:
            away = "yellow" if d > o.last_distance_m + MOVING_AWAY_MARGIN_M else "green"
            if o.risks.get("moving_away_from_destination") != away:
                o.risks["moving_away_from_destination"] = away
                changed.append(
                    ("risk_updated", {"type": "order_risk_updated", "risks": dict(o.risks)})
                )
        o.last_distance_m = d
        for value, entry in changed:
            o.timeline.append(
                {
                    **entry,
                    "recorded_at": now,
                    "order_handle": o.handle,
                    "fulfillment_attempt": o.attempt,
                    "distance": round(d),
                }
            )
            api.emit(value, o.route, [o], now, o.account_id)
        api.save(o)

    async def complete(self, request: Request) -> Response:
        try:
            return await self.api.act(request, "complete", driver=True)
        except ApiError as exc:
            if exc.status != 422:
                raise
            # HyperTrack's validation (a bad query or body) in the driver app's Onfleet
            # shape, whose validation status is 400 (the document lists no 422 here).
            raise DRIVER_APP.invalid(f"{exc.message}: {exc.detail}") from None

    def routes(self) -> list[BaseRoute]:
        c = CONTROL_PATH
        return [
            Route(f"{c}/routes/{{route}}/start", self.start_route, methods=["POST"]),
            Route(f"{c}/workers/{{worker}}/location", self.location, methods=["POST"]),
            Route(f"{c}/orders/{{handle}}/complete", self.complete, methods=["POST"]),
        ]
