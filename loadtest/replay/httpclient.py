"""The replay's HTTP/1.1 client: kept connections on gevent sockets, answers parsed by
``httptools`` (llhttp, the parser uvicorn uses).

Concepts held here: :class:`ReplayHttp` (one per replay process: a pool of kept
connections per origin, each request written in one ``send``), :class:`Answer` (status,
headers as the server sent them, body) and :class:`LocustTransport`, the replay's
:class:`loadtest.replay.wire.Transport` over it, which reports every request to Locust's
``request`` event (without importing Locust, which monkey-patches whoever imports it).

It replaces Locust's ``FastHttpSession`` on the replay's path, whose layers
(geventhttpclient's user agent with its cookie jar, URL parsing and header objects, then
Locust's response wrapper) cost ~150 µs of client CPU per request, about as much as the
whole open-model replay around it (``replay.efficiency``).  The replay has no use for what
they add: no cookies, no redirects (an API answers, it does not redirect), and its own
retry rules (:mod:`loadtest.replay.executor`).

What it keeps of a proper client:

* **Kept connections, checked before reuse.**  An idle connection is reused only when
  nothing is readable on it (a FIN, or a stray byte, means it is not), checked with the
  original, never-yielding ``poll`` (a monkey-patched zero-timeout ``select`` would give
  the hub a turn before every send).  An answer with ``Connection: close`` (or HTTP/1.0
  without keep-alive) closes its connection.  At most ``max_connections`` per origin are
  open; a request past that waits for one to come back.
* **No silent duplicates.**  A request whose kept connection broke before any byte of
  the answer arrived is sent again on a new connection only when its method is
  idempotent (RFC 9110 9.2.2); a ``POST`` or ``PATCH`` is reported as lost (status 0),
  and the executor's create check decides (:mod:`loadtest.replay.recovery`).
* **The host looked up once** per origin and process: a load test's target does not
  move during a run, and each look-up would go through gevent's thread pool.  Every
  address it gives is tried in turn, the one that answered first next time.
* **Answers framed as HTTP/1.1 says** (:mod:`loadtest.replay.httpanswer`): by length,
  chunks, or the connection's end; 1xx interim answers skipped; bytes after an answer
  never merged into it (the connection is closed instead); a ``101`` is an error.
* **TLS** for ``https`` origins, with the system's trust store and the host name checked
  (``SSL_CERT_FILE`` names another CA bundle, e.g. a staging server's own CA).
* **Compressed answers,** as a real client asks for them: ``Accept-Encoding: gzip,
  deflate`` is sent (as Locust and the SDKs' ``requests`` send it), and such an answer is
  decoded.
* **Timeouts:** the request's timeout bounds the whole attempt (a free connection, the
  connect, at most ``connect_timeout_s`` of it, the send and the read); a slow drip of
  bytes does not extend it.
"""

from __future__ import annotations

import select
import socket as _stdsocket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gevent import socket as gsocket
from gevent.lock import BoundedSemaphore
from gevent.monkey import get_original

from loadtest.replay.httpanswer import Answer, Broken, HttpError, describe, left_s, send_read
from loadtest.replay.wire import HttpResult

__all__ = ["Answer", "HttpError", "LocustTransport", "ReplayHttp", "RequestFailed", "split_url"]

#: Methods that may be sent again when a kept connection broke before any answer.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: The blocking (never yielding) ``select.poll``, whatever monkey-patching did.
_poll: Any = get_original("select", "poll")
#: Readable, urgent data, or (always reported) hung up / error: not reusable.
_NOT_IDLE = select.POLLIN | select.POLLPRI
USER_AGENT = "fleetsim-replay"


@dataclass(slots=True)
class _Origin:
    """One scheme://host:port: its request-line prefix pieces, address and kept sockets."""

    scheme: str
    host: str
    port: int
    host_header: bytes
    slots: BoundedSemaphore
    idle: list[Any] = field(default_factory=list)
    #: (family, address) per ``getaddrinfo`` answer, the one that last worked first.
    addresses: list[tuple[int, Any]] = field(default_factory=list)


def split_url(url: str) -> tuple[str, str]:
    """(origin, path with query) of an absolute http(s) URL."""
    sep = url.find("://")
    if sep < 0:
        raise HttpError(f"not an absolute URL: {url!r}")
    ends = [i for i in (url.find("/", sep + 3), url.find("?", sep + 3)) if i >= 0]
    if not ends:
        return url, "/"
    cut = min(ends)
    path = url[cut:]
    return url[:cut], path if path.startswith("/") else "/" + path


class ReplayHttp:
    """Kept-connection HTTP/1.1 client for one replay process (see the module)."""

    def __init__(
        self,
        connect_timeout_s: float = 10.0,
        max_connections: int = 1000,
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.max_connections = max_connections
        self._origins: dict[str, _Origin] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False
        #: Connections opened so far (tests and the curious).
        self.opened = 0

    # -- origins and connections ------------------------------------------------------------
    def _origin(self, origin: str) -> _Origin:
        o = self._origins.get(origin)
        if o is not None:
            return o
        scheme, _, rest = origin.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise HttpError(f"unsupported scheme {scheme!r} in {origin!r} (http or https)")
        if "@" in rest:
            raise HttpError(f"credentials in the URL are not sent: {scheme}://…@… ")
        host, port_s = rest, ""
        if rest.startswith("["):  # [IPv6]:port
            end = rest.find("]")
            host, port_s = rest[1:end], rest[end + 2 :]
        elif ":" in rest:
            host, _, port_s = rest.rpartition(":")
        try:
            port = int(port_s) if port_s else (443 if scheme == "https" else 80)
        except ValueError:
            raise HttpError(f"bad port in {origin!r}") from None
        if not rest.isascii():
            raise HttpError(f"non-ASCII host in {origin!r}: give its punycode (xn--) form")
        slots = BoundedSemaphore(self.max_connections)
        o = _Origin(scheme, host, port, rest.encode("ascii"), slots)
        self._origins[origin] = o
        return o

    def _resolve(self, o: _Origin) -> list[tuple[int, Any]]:
        if not o.addresses:
            try:
                infos = gsocket.getaddrinfo(o.host, o.port, 0, _stdsocket.SOCK_STREAM)
            except OSError as exc:  # not kept: the next request looks up again
                raise HttpError(f"cannot resolve {o.host!r}: {exc}") from None
            o.addresses = [(info[0], info[4]) for info in infos]
        return o.addresses

    def _connect(self, o: _Origin, timeout_s: float) -> Any:
        """A new connection to ``o``: each of its addresses in turn (``localhost`` may
        be ``::1`` first while the server listens on 127.0.0.1), the one that answered
        tried first next time."""
        failures: list[str] = []
        timed_out = False
        addresses = self._resolve(o)
        for k, (family, address) in enumerate(addresses):
            sock = gsocket.socket(family, _stdsocket.SOCK_STREAM)
            try:
                sock.settimeout(min(self.connect_timeout_s, timeout_s))
                sock.connect(address)
                sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
                if o.scheme == "https":
                    sock = self._tls_context().wrap_socket(sock, server_hostname=o.host)
            except TimeoutError:
                sock.close()
                timed_out = True
                failures.append("timed out")
                continue
            except ssl.SSLError as exc:  # the server was reached: another address won't do
                sock.close()
                raise HttpError(f"connect to {o.host}:{o.port}: {describe(exc)}") from None
            except OSError as exc:
                sock.close()
                failures.append(describe(exc))
                continue
            except BaseException:
                sock.close()
                raise
            if k:
                addresses.insert(0, addresses.pop(k))
            self.opened += 1
            return sock
        what = "; ".join(dict.fromkeys(failures))
        raise HttpError(f"connect to {o.host}:{o.port}: {what}", timed_out=timed_out)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    @staticmethod
    def _idle(sock: Any) -> bool:
        """A kept connection can carry the next request: open, nothing to read."""
        try:
            fd = sock.fileno()
            if fd < 0:
                return False
            poller = _poll()
            poller.register(fd, _NOT_IDLE)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def _take(self, o: _Origin) -> Any | None:
        """A checked idle connection of ``o``, or None (make a new one)."""
        while o.idle:
            sock = o.idle.pop()
            if self._idle(sock):
                return sock
            sock.close()
        return None

    def close(self) -> None:
        """Close every kept connection; one still carrying a request closes when its
        answer is in."""
        self._closed = True
        for o in self._origins.values():
            for sock in o.idle:
                sock.close()
            o.idle.clear()

    # -- requests ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> Answer:
        """Send one request and read its whole answer within ``timeout_s`` (waiting for a
        free connection, connecting, sending and reading all count); raises
        :class:`HttpError` when there is none."""
        deadline = time.monotonic() + timeout_s
        origin, path = split_url(url)
        o = self._origin(origin)
        head = self._head(method, path, o, headers, body)
        data = head + body if body else head
        if not o.slots.acquire(timeout=timeout_s):
            raise HttpError(
                f"no free connection to {o.host}:{o.port} within {timeout_s:g} s "
                f"({self.max_connections} busy)",
                timed_out=True,
            )
        try:
            return self._exchange(o, method, data, deadline, timeout_s)
        finally:
            o.slots.release()

    @staticmethod
    def _head(
        method: str, path: str, o: _Origin, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\nHost: "]
        asks_encoding = False
        for k, v in headers.items():
            if "\r" in v or "\n" in v or "\r" in k or "\n" in k or ":" in k:
                raise HttpError(f"invalid header {k!r}")
            lines.append(f"\r\n{k}: {v}")
            asks_encoding = asks_encoding or k.lower() == "accept-encoding"
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"\r\nContent-Length: {len(body) if body else 0}")
        if not asks_encoding:
            lines.append("\r\nAccept-Encoding: gzip, deflate")
        lines.append(f"\r\nUser-Agent: {USER_AGENT}\r\n\r\n")
        try:
            first, rest = lines[0].encode("latin-1"), "".join(lines[1:]).encode("latin-1")
        except UnicodeEncodeError as exc:
            raise HttpError(
                f"a header or the path is not latin-1 (percent-encode it): {exc}"
            ) from None
        return first + o.host_header + rest

    def _exchange(
        self, o: _Origin, method: str, data: bytes, deadline: float, timeout_s: float
    ) -> Answer:
        sock = self._take(o)
        reused = sock is not None
        if sock is None:
            sock = self._connect(o, left_s(deadline, timeout_s))
        try:
            try:
                answer = send_read(sock, method, data, deadline, timeout_s)
            except Broken as broken:
                sock.close()
                if not (reused and not broken.got_any and method in IDEMPOTENT):
                    raise broken.error from None
                # The kept connection had gone stale before any answer: once more, anew.
                sock = self._connect(o, left_s(deadline, timeout_s))
                try:
                    answer = send_read(sock, method, data, deadline, timeout_s)
                except Broken as again:
                    raise again.error from None
        except BaseException:  # an error above, or the greenlet killed mid-request
            sock.close()
            raise
        if answer.keep_alive and not self._closed:
            o.idle.append(sock)
        else:
            sock.close()
        return answer


class RequestFailed(Exception):
    """What Locust's failure table shows for a request that failed: ``HTTP <status>``, or
    why no answer came."""


class LocustTransport:
    """Sends through the process's :class:`loadtest.replay.httpclient.ReplayHttp` and
    reports every request to Locust's ``request`` event, so Locust's stats, reports and
    web UI see it as they see a ``FastHttpUser``'s (a failure as ``HTTP <status>``, or
    the reason no answer came)."""

    def __init__(self, request_event: Any, http: ReplayHttp) -> None:
        self._event = request_event
        self.http = http

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        name: str,
        timeout_s: float,
    ) -> HttpResult:
        start = time.time()
        t0 = time.perf_counter()
        try:
            answer = self.http.request(method, url, headers, body, timeout_s)
        except HttpError as exc:
            self._report(method, name, t0, start, url, 0, RequestFailed(str(exc)))
            return HttpResult(0, {}, b"", error=str(exc), timed_out=exc.timed_out)
        status = answer.status
        failure = None if 200 <= status < 300 else RequestFailed(f"HTTP {status}")
        self._report(method, name, t0, start, url, len(answer.body), failure)
        return HttpResult(status, answer.headers, answer.body)

    def _report(
        self,
        method: str,
        name: str,
        t0: float,
        start: float,
        url: str,
        length: int,
        exception: Exception | None,
    ) -> None:
        self._event.fire(
            request_type=method,
            name=name,
            response_time=(time.perf_counter() - t0) * 1000.0,
            response_length=length,
            response=None,
            context={},
            exception=exception,
            start_time=start,
            url=url,
        )
