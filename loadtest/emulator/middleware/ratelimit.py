"""Rolling-window rate limit per organisation (Onfleet 20/s, Nash 20/s).

Every Onfleet response carries ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``.
``Remaining`` is the budget the request found, counting itself, so an admitted request
always shows at least 1 (pyonfleet divides by it) and only a 429 shows 0.  With no limit
configured (the fast profile) nothing is counted and the headers report a nominal budget.
The emulator-only driver routes (``/emulator/v1``) are not counted: they stand in for the
drivers' phones, whose traffic is not the organisation's API budget.
"""

from __future__ import annotations

import time
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadtest.emulator.errors import ApiError, error_response, provider_for
from loadtest.emulator.middleware import OPEN_PATHS, client_ip
from loadtest.providers.onfleet import E_RATE_LIMIT, MSG_RATE_LIMIT

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
        self, app: ASGIApp, onfleet_per_s: int | None, nash_per_s: int | None, window_s: float
    ) -> None:
        self.app = app
        self.onfleet = RollingWindow(onfleet_per_s, window_s) if onfleet_per_s else None
        self.nash = RollingWindow(nash_per_s, window_s) if nash_per_s else None
        limit = onfleet_per_s or NOMINAL_BUDGET
        self._limit_hdr = str(limit).encode()
        self._nominal = [
            (b"x-ratelimit-limit", self._limit_hdr),
            (b"x-ratelimit-remaining", str(NOMINAL_BUDGET).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith("/emulator/"):
            # The driver app stands in for phones, not for the organisation's API calls.
            await self.app(scope, receive, send)
            return
        provider = provider_for(path)
        if provider == "onfleet":
            if self.onfleet is None:
                headers = self._nominal
            else:
                left = self.onfleet.admit(time.monotonic())
                headers = [
                    (b"x-ratelimit-limit", self._limit_hdr),
                    (b"x-ratelimit-remaining", str(left).encode()),
                ]
                if left == 0:
                    exc = ApiError(
                        429,
                        MSG_RATE_LIMIT,
                        error=E_RATE_LIMIT,
                        cause="More than the allowed requests per second.",
                        headers={
                            "X-RateLimit-Limit": self._limit_hdr.decode(),
                            "X-RateLimit-Remaining": "0",
                            "Retry-After": "1",
                        },
                    )
                    await error_response("onfleet", exc, client_ip(scope))(scope, receive, send)
                    return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *headers]
                await send(message)

            await self.app(scope, receive, send_with_headers)
            return
        if provider == "nash" and self.nash is not None and self.nash.admit(time.monotonic()) == 0:
            exc = ApiError(
                429,
                "Too many requests; slow down.",
                code="TOO_MANY_REQUESTS",
                headers={"Retry-After": "1"},
            )
            await error_response("nash", exc, client_ip(scope))(scope, receive, send)
            return
        await self.app(scope, receive, send)
