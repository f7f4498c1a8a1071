"""Which provider a request speaks to, decided once: the outermost middleware resolves the
path to its :class:`~loadtest.emulator.dialect.Dialect` and keeps it in
``scope["fleetsim.dialect"]`` for every middleware and exception handler inside.

An outer middleware rather than one ``Mount`` per base path: a mount would make
``scope["route"]`` the inner, relative route, which the metrics and latency middleware key
on, and would add a routing level in front of the hot Onfleet routes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from loadtest.emulator.dialect import SCOPE_KEY, resolve


class DialectMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SCOPE_KEY] = resolve(scope["path"])
        await self.app(scope, receive, send)
