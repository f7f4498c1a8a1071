"""Request counters for ``/metrics``: requests by route template, method and status.

The router sets ``scope["route"]`` only for requests that reach it.  Those answered on the
way in (429 from the rate limiter, injected faults, 401, 413) are labelled by matching the
path against the app's routes here, so they count under their own template too; only a
path no route matches is pooled as ``unmatched``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route ``scope`` addresses (a full match first, else one that
    matches the path under another method), or :data:`UNMATCHED`."""
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", UNMATCHED))
        if match is Match.PARTIAL and partial is None:
            partial = str(getattr(route, "path", UNMATCHED))
    return partial or UNMATCHED


class MetricsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        requests: Counter[tuple[str, str, int]],
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.requests = requests
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is None:
                # Answered before the router ran; unmatched paths are pooled so fuzzing
                # cannot grow the label set without bound.
                template = route_template(self.routes, scope)
            self.requests[(template, scope["method"], status)] += 1
