"""Last-resort 500: an unexpected exception still answers in the provider's shape, and the
connection stays open.

It sits just inside the rate limiter, so the 500 passes back through it and carries
``X-RateLimit-Limit``/``-Remaining`` like every other Onfleet answer (Starlette's own
catch-all handler runs outside all user middleware and would send neither).

Once the answer is sent the exception is logged (with its trace, on uvicorn's error
logger, as uvicorn itself would) and *not* re-raised: uvicorn closes the connection of any
request whose app raised after the response started, so a pooled client's next request
on that connection failed with a reset.  Only an exception after the response started
(nothing valid can be sent any more) still propagates.

Before answering it calls ``on_error`` (the runtime's rollback), so the failed request's
pending writes never reach the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadtest.emulator.dialect import dialect_of
from loadtest.emulator.errors import ApiError
from loadtest.emulator.middleware import client_ip
from loadtest.providers.onfleet import E_INTERNAL

# uvicorn's own logger for application errors, so the trace lands where it always did.
log = logging.getLogger("uvicorn.error")


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
            if started:
                raise
            response = dialect_of(scope).response(internal_error(exc), client_ip(scope))
            await response(scope, receive, send)
            log.error(
                "Exception in the emulator, answered 500 (%s %s)",
                scope.get("method"),
                scope.get("path"),
                exc_info=exc,
            )
