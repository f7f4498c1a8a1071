"""Last-resort 500: an unexpected exception still answers in the provider's shape.

It sits just inside the rate limiter, so the 500 passes back through it and carries
``X-RateLimit-Limit``/``-Remaining`` like every other Onfleet answer (Starlette's own
catch-all handler runs outside all user middleware and would send neither).  The
exception is re-raised once the answer is sent, so the server still logs the trace (and
a test client created with ``raise_server_exceptions=True`` still raises).

Before answering it calls ``on_error`` (the runtime's rollback), so the failed request's
pending writes never reach the store.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadtest.emulator.dialect import dialect_of
from loadtest.emulator.errors import ApiError
from loadtest.emulator.middleware import client_ip
from loadtest.providers.onfleet import E_INTERNAL


def internal_error(exc: BaseException) -> ApiError:
    """The 500 for a bug in the emulator (the cause names only the exception type)."""
    return ApiError(
        500, "Internal error in the emulator.", error=E_INTERNAL, cause=type(exc).__name__
    )


class CatchAllMiddleware:
    def __init__(self, app: ASGIApp, on_error: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            self.on_error()
            if not started:
                response = dialect_of(scope).response(internal_error(exc), client_ip(scope))
                await response(scope, receive, send)
            raise
