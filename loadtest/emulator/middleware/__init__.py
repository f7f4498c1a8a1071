"""Pure-ASGI middleware, one concern per module: the dialect, metrics, rate limit, body
cap, auth, fault injection and latency.  Each answers errors in the dialect of the
provider that owns the path, resolved once per request
(:func:`loadtest.emulator.dialect.dialect_of`)."""

from __future__ import annotations

from starlette.types import Scope

from loadtest.emulator.dialect import OPEN_PATHS

__all__ = ["OPEN_PATHS", "client_ip"]


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "127.0.0.1"
