"""Rolling-window rate limit per organisation (Onfleet 20/s, Nash 20/s).

Every Onfleet response carries ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``.
``Remaining`` is the budget the request found, counting itself, so an admitted request
always shows at least 1 (pyonfleet divides by it) and only a 429 shows 0.  With no limit
configured (the fast profile) nothing is counted and the headers report a nominal budget.
The emulator-only driver routes (``/emulator/v1``) are not counted: they stand in for the
drivers' phones, whose traffic is not the organisation's API budget.  The window is
simulated time: with ``--time-scale X`` it lasts ``window_s / X`` wall seconds.
"""

from __future__ import annotations

import time
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadtest.emulator.dialect import NASH, ONFLEET, dialect_of
from loadtest.emulator.middleware import client_ip

NOMINAL_BUDGET = 1_000_000


class RollingWindow:
    """Admission times within the last ``window_s``; admits while fewer than ``limit``."""

    __slots__ = ("limit", "times", "window_s")

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.times: deque[float] = deque()

    def admit(self, now: float) -> int:
        """Remaining budget including this request (>= 1), or 0 when refused."""
        cutoff = now - self.window_s
        times = self.times
        while times and times[0] <= cutoff:
            times.popleft()
        left = self.limit - len(times)
        if left <= 0:
            return 0
        times.append(now)
        return left


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        onfleet_per_s: int | None,
        nash_per_s: int | None,
        window_s: float,
        time_scale: float = 1.0,
    ) -> None:
        self.app = app
        # The window is simulated seconds; on the wall clock it is window_s / time_scale,
        # so 20 requests per simulated second are 20 * time_scale per wall second.
        window_s = window_s / time_scale
        self.onfleet = RollingWindow(onfleet_per_s, window_s) if onfleet_per_s else None
        self.nash = RollingWindow(nash_per_s, window_s) if nash_per_s else None
        # The budget per provider dialect (name); one without a limit is not counted.
        self._windows = {ONFLEET.name: self.onfleet, NASH.name: self.nash}
        limit = onfleet_per_s or NOMINAL_BUDGET
        self._limit = limit
        self._limit_hdr = str(limit).encode()
        self._nominal = [
            (b"x-ratelimit-limit", self._limit_hdr),
            (b"x-ratelimit-remaining", str(NOMINAL_BUDGET).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (dialect := dialect_of(scope)).limited:
            # The driver app stands in for phones, not for the organisation's API calls.
            await self.app(scope, receive, send)
            return
        window = self._windows.get(dialect.name)
        if dialect.rate_headers:
            if window is None:
                headers = self._nominal
            else:
                left = window.admit(time.monotonic())
                headers = [
                    (b"x-ratelimit-limit", self._limit_hdr),
                    (b"x-ratelimit-remaining", str(left).encode()),
                ]
                if left == 0:
                    exc = dialect.too_many_requests(self._limit)
                    await dialect.response(exc, client_ip(scope))(scope, receive, send)
                    return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *headers]
                await send(message)

            await self.app(scope, receive, send_with_headers)
            return
        if window is not None and window.admit(time.monotonic()) == 0:
            exc = dialect.too_many_requests(window.limit)
            await dialect.response(exc, client_ip(scope))(scope, receive, send)
            return
        await self.app(scope, receive, send)
