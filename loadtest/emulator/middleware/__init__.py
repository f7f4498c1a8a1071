"""Pure-ASGI middleware, one concern per module: metrics, rate limit, body cap, auth,
fault injection and latency.  Each answers errors in the shape of the provider that owns
the path (:func:`loadtest.emulator.errors.provider_for`)."""

from __future__ import annotations

from starlette.types import Scope

# Paths with no provider behind them: no auth, no limits, no faults.
OPEN_PATHS = frozenset({"/", "/openapi.json", "/metrics", "/healthz"})


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "127.0.0.1"
