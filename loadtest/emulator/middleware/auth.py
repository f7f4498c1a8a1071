"""Credentials per provider (API-NOTES §5.1); each dialect says how it reads them.

* Onfleet and the driver app: Basic, the key as the user name, the password ignored.
* Nash and Deftship: ``Authorization: Bearer <key>``.
* HyperTrack: Basic ``AccountID:SecretKey``; the secret must be an accepted key (the
  account id is free) [inf].

A missing or wrong credential gets the provider's own 401.  Keys are never logged.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from loadtest.emulator.dialect import Dialect, dialect_of
from loadtest.emulator.middleware import client_ip


class AuthMiddleware:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        # (dialect, header value) -> verdict (bounded below)
        self._ok: dict[tuple[Dialect, bytes], bool] = {}

    def _known(self, key: str) -> bool:
        if not key:
            return False
        return any(hmac.compare_digest(key.encode(), k.encode()) for k in self.keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        dialect = dialect_of(scope)
        if not dialect.authenticates:
            await self.app(scope, receive, send)
            return
        value = b""
        for name, v in scope.get("headers", ()):
            if name == b"authorization":
                value = v
                break
        cache_key = (dialect, value)
        verdict = self._ok.get(cache_key)
        if verdict is None:
            offered = dialect.credentials(value.decode("latin-1"))
            verdict = any(self._known(key) for key in offered)
            if len(self._ok) < 4096:
                self._ok[cache_key] = verdict
        if not verdict:
            await dialect.response(dialect.unauthorized(), client_ip(scope))(scope, receive, send)
            return
        await self.app(scope, receive, send)
