"""Seeded fault injection (realistic profile): a fraction of requests get a 5xx in the
provider's shape before any state changes, and a fraction are held ``slow_ms`` first.

Draws come from the run's seeded generator, so a seed reproduces which request numbers
fail.  The emulator-only driver routes are never faulted (they stand in for a phone, not
for the platform).
"""

from __future__ import annotations

import asyncio

import numpy as np
from starlette.types import ASGIApp, Receive, Scope, Send

from loadtest.emulator.config import FaultConfig
from loadtest.emulator.dialect import dialect_of
from loadtest.emulator.errors import ApiError
from loadtest.emulator.middleware import client_ip
from loadtest.providers.onfleet import E_INTERNAL


class FaultMiddleware:
    def __init__(
        self, app: ASGIApp, cfg: FaultConfig, rng: np.random.Generator, time_scale: float = 1.0
    ) -> None:
        self.app = app
        self.cfg = cfg
        self.rng = rng
        # slow_ms is simulated time: the wall hold is slow_ms / time_scale.
        self._slow_wall_s = cfg.slow_ms / 1000.0 / time_scale
        self.injected_errors = 0
        self.injected_slow = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (dialect := dialect_of(scope)).faulted:
            await self.app(scope, receive, send)
            return
        u = float(self.rng.random())
        if u < self.cfg.error_rate:
            self.injected_errors += 1
            exc = ApiError(
                self.cfg.error_status,
                "Injected fault: the service is unavailable.",
                error=E_INTERNAL,
                cause="fleetsim emulator fault injection",
            )
            await dialect.response(exc, client_ip(scope))(scope, receive, send)
            return
        if u < self.cfg.error_rate + self.cfg.slow_rate:
            self.injected_slow += 1
            await asyncio.sleep(self._slow_wall_s)
        await self.app(scope, receive, send)
