"""The loopback guard: the emulator never posts to the internet by accident.

A webhook URL must be ``http`` or ``https`` with a host, and, unless
``--allow-remote-webhooks`` is given, every address its host resolves to must be loopback
(127.0.0.0/8 or ::1).  The check runs at registration and again before each send, against
a fresh resolution (cached for :data:`RESOLVE_TTL_S`), and an ``http`` delivery is then
sent to the very address that was checked (the URL's host replaced by it, the ``Host``
header keeping the name), so a name that re-resolves elsewhere between the check and the
connection (DNS rebinding) cannot redirect it.  ``https`` keeps the name for TLS, so only
the check protects it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import time

import httpx

#: How long a checked resolution is reused.  Safe to cache: an http delivery connects to
#: the checked address itself, never to a second resolution.
RESOLVE_TTL_S = 5.0
ALLOW_FLAG = "--allow-remote-webhooks"


class Refused(Exception):
    """The URL is not one the emulator may send to; the message says why and the fix."""


def shown(raw: str) -> str:
    """``raw`` fit for a message or a log: userinfo (``user:password@``) and the query
    dropped, since either may carry a credential; text that is no URL is cut short."""
    try:
        url: httpx.URL | None = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError):
        url = None
    if url is None or not url.host:
        return repr(raw[:20] + "…") if len(raw) > 20 else repr(raw)
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


def parse_url(raw: object) -> httpx.URL:
    """``raw`` as an http(s) URL with a host, or :class:`Refused`."""
    if not isinstance(raw, str) or not raw.strip():
        raise Refused("url must be a non-empty string (an http:// or https:// URL)")
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise Refused(f"url {shown(raw)} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise Refused(f"url {shown(raw)} must be an http:// or https:// URL with a host")
    return url


def _is_loopback_ip(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _verdict(url: httpx.URL, addrs: list[str]) -> str:
    """The first resolved address when every one is loopback, else :class:`Refused`."""
    if not addrs:
        raise Refused(f"url host {url.host!r} does not resolve")
    remote = [a for a in addrs if not _is_loopback_ip(a)]
    if remote:
        raise Refused(
            f"url host {url.host!r} resolves to {remote[0]}, which is not a loopback address; "
            f"the emulator sends webhooks only to loopback unless started with {ALLOW_FLAG}"
        )
    # 127.0.0.1 before ::1: receivers started for a test mostly bind IPv4 only.
    return next((a for a in addrs if ":" not in a), addrs[0])


def _addresses(infos: list[tuple[object, ...]]) -> list[str]:
    return [str(info[4][0]) for info in infos if isinstance(info[4], tuple)]


def check_sync(url: httpx.URL, allow_remote: bool) -> None:
    """The guard for start-up registrations (``--webhook``): resolves now, blocking."""
    if allow_remote:
        return
    try:
        infos = socket.getaddrinfo(url.host, _port(url), type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"url host {url.host!r} does not resolve: {exc}") from None
    _verdict(url, _addresses(list(infos)))


class Guard:
    """The per-engine guard with its resolution cache (see the module docstring)."""

    def __init__(self, allow_remote: bool) -> None:
        self.allow_remote = allow_remote
        self._cache: dict[tuple[str, int], tuple[str, float]] = {}

    async def address(self, url: httpx.URL) -> str | None:
        """The checked loopback address to connect to (None with allow_remote: send as
        is); :class:`Refused` when the host is not loopback or does not resolve."""
        if self.allow_remote:
            return None
        host = url.host
        key = (host, _port(url))
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        if _is_loopback_ip(host):
            self._cache[key] = (host, math.inf)  # a literal never re-resolves
            return host
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, key[1], type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise Refused(f"url host {host!r} does not resolve: {exc}") from None
        addr = _verdict(url, _addresses(list(infos)))
        if len(self._cache) >= 1024:
            self._cache.clear()
        self._cache[key] = (addr, now + RESOLVE_TTL_S)
        return addr

    def peek(self, url: httpx.URL) -> tuple[bool, str | None]:
        """Without waiting: ``(True, what address() returns)`` when that is known now
        (``allow_remote``, or a check that has not expired), else ``(False, None)``: then
        :meth:`address` must run (the hot path's way to keep the check at every send)."""
        if self.allow_remote:
            return True, None
        hit = self._cache.get((url.host, _port(url)))
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    async def target(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str]]:
        """Where to send a request for ``url``: the URL (its host replaced by the checked
        address for http) and the extra headers (``Host`` when replaced)."""
        addr = await self.address(url)
        if addr is None or url.scheme != "http" or addr == url.host:
            return url, {}
        # A name (an IP literal needs no replacing), so no IPv6 brackets to add.
        host = url.host if url.port is None else f"{url.host}:{url.port}"
        return url.copy_with(host=addr), {"Host": host}
