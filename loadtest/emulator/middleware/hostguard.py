"""The DNS-rebinding guard: a server bound to loopback answers only requests whose ``Host``
header names loopback.

A web page on another origin can point its own domain's DNS at 127.0.0.1 and then reach
a loopback server from the victim's browser under that domain's name; the ``Host`` header
is the one thing that still says so.  A server bound elsewhere (``--host 0.0.0.0``, a LAN
address) was opened to other names on purpose, so the guard is only installed for a
loopback bind (:mod:`loadtest.emulator.serve` does that).  A request without ``Host``
(HTTP/1.0) passes: browsers always send one.  The refusal is a 400 in the shape of the
provider that owns the path.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from loadtest.emulator.dialect import dialect_of
from loadtest.emulator.errors import ApiError
from loadtest.emulator.middleware import client_ip
from loadtest.providers.onfleet import E_INVALID_VALUES


def is_loopback(host: str) -> bool:
    """True for ``localhost``, any 127.0.0.0/8 address and ``::1`` (brackets allowed)."""
    name = host.strip().rstrip(".").lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host part of a ``Host`` header value (the port removed; IPv6 keeps brackets)."""
    value = header.strip()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostGuardMiddleware:
    """Refuses a request whose ``Host`` is not a loopback name (see the module docstring)."""

    #: Verdicts by raw ``Host`` value.  Parsing an address costs more than the rest of this
    #: middleware, and a client sends the same few values on every request; the table is
    #: emptied when it fills, so a stream of made-up names cannot grow it without bound.
    _MAX_REMEMBERED = 256

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._allowed: dict[bytes, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((v for k, v in scope["headers"] if k == b"host"), None)
            if host is not None:
                allowed = self._allowed.get(host)
                if allowed is None:
                    allowed = is_loopback(host_name(host.decode("latin-1")))
                    if len(self._allowed) >= self._MAX_REMEMBERED:
                        self._allowed.clear()
                    self._allowed[host] = allowed
                if not allowed:
                    err = refused(host_name(host.decode("latin-1")))
                    response = dialect_of(scope).response(err, client_ip(scope))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def refused(name: str) -> ApiError:
    why = (
        f"Host header {name!r} is not a loopback name, and this emulator is bound to loopback "
        "(a guard against DNS rebinding): address it as 127.0.0.1 or localhost, or bind "
        "another address with --host."
    )
    return ApiError(400, why, error=E_INVALID_VALUES, cause=why)
