"""Added response latency: lognormal per route, given by its median and p99.

The delay is taken when the response starts, after the router has named the route
(``scope["route"]``), so each route gets its own distribution; the handler's work (and
for a sync batch its per-task time) comes on top.  ``asyncio.sleep`` never blocks other
requests.  The draws are in simulated time: with ``--time-scale X`` a drawn 90 ms
takes 90/X ms of wall time (:mod:`loadtest.emulator.clock`).
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadtest.emulator.config import LatencyConfig
from loadtest.emulator.middleware import OPEN_PATHS


class LatencyMiddleware:
    def __init__(
        self, app: ASGIApp, cfg: LatencyConfig, rng: np.random.Generator, time_scale: float = 1.0
    ) -> None:
        self.app = app
        self.cfg = cfg
        self.rng = rng
        # Draws are simulated milliseconds; one takes 1/time_scale of it on the wall clock.
        self._wall_s_per_ms = 1.0 / (1000.0 * time_scale)

    def draw_ms(self, key: str) -> float:
        spec = self.cfg.routes.get(key, self.cfg.default)
        if spec.median_ms <= 0:
            return 0.0
        return math.exp(spec.mu + spec.sigma * float(self.rng.standard_normal()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return

        async def delayed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", scope.get("path", ""))
                delay = self.draw_ms(f"{scope['method']} {template}") * self._wall_s_per_ms
                await asyncio.sleep(delay)
            await send(message)

        await self.app(scope, receive, delayed_send)
