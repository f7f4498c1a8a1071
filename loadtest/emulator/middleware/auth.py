"""Credentials per provider (API-NOTES §5.1).

* Onfleet and the driver app: Basic, the key as the user name, the password ignored.
* Nash and Deftship: ``Authorization: Bearer <key>``.
* HyperTrack: Basic ``AccountID:SecretKey``; the secret must be an accepted key (the
  account id is free) [inf].

A missing or wrong credential gets the provider's own 401.  Keys are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from loadtest.emulator.errors import ApiError, error_response, provider_for
from loadtest.emulator.middleware import OPEN_PATHS, client_ip
from loadtest.providers.onfleet import E_KEY_INVALID


def _basic(value: str) -> tuple[str, str] | None:
    if value[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(value[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, _, password = raw.partition(":")
    return user, password


def _bearer(value: str) -> str | None:
    return value[7:].strip() if value[:7].lower() == "bearer " else None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self._ok: dict[bytes, bool] = {}  # header value -> verdict (bounded below)

    def _known(self, key: str | None) -> bool:
        if not key:
            return False
        return any(hmac.compare_digest(key.encode(), k.encode()) for k in self.keys)

    def _check(self, provider: str, value: str) -> bool:
        if provider == "onfleet":
            creds = _basic(value)
            return creds is not None and self._known(creds[0])
        if provider in ("nash", "deftship"):
            return self._known(_bearer(value))
        if provider == "hypertrack":
            creds = _basic(value)
            return creds is not None and (self._known(creds[1]) or self._known(creds[0]))
        return True

    def _reject(self, provider: str) -> ApiError:
        if provider == "onfleet":
            return ApiError(
                401,
                "Invalid API key.",
                error=E_KEY_INVALID,
                code="InvalidCredentials",
                cause="The API key given as the Basic user name is not valid.",
            )
        if provider == "nash":
            return ApiError(401, "Invalid or missing bearer token.", code="UNAUTHORIZED")
        if provider == "deftship":
            return ApiError(401, "Unauthenticated.")
        return ApiError(401, "Unauthorized: send Basic AccountID:SecretKey.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        provider = provider_for(path)
        if provider == "emulator":
            await self.app(scope, receive, send)
            return
        value = b""
        for name, v in scope.get("headers", ()):
            if name == b"authorization":
                value = v
                break
        cache_key = provider.encode() + b"|" + value
        verdict = self._ok.get(cache_key)
        if verdict is None:
            verdict = self._check(provider, value.decode("latin-1"))
            if len(self._ok) < 4096:
                self._ok[cache_key] = verdict
        if not verdict:
            await error_response(provider, self._reject(provider), client_ip(scope))(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)
