"""The delivery hot path for ``http://`` receivers: POSTs over pooled keep-alive
connections, an asyncio protocol per connection and httptools (the C parser uvicorn
serves with) for the answers.

Why not aiohttp here: measured in the emulator process, an aiohttp POST cost ~200 µs of
CPU, more than serving the API call that caused the event (~100 µs), so deliveries,
not the API, set the emulator's limit.  A delivery is one known request shape (the
bytes are built once per attempt) and only its status matters, so a protocol that writes
them and parses the answer costs a fraction of that.  ``https://`` receivers (never the
loopback case the emulator is for) and the handshake go through aiohttp.

A connection whose peer closed it while idle is found out either when it is taken from
the pool (``closed``), or by a failure before any answer byte on a reused connection; the
request then goes once more on a new connection (the same bytes, the same delivery id).
"""

from __future__ import annotations

import asyncio
import contextlib

import httptools

#: The most answer body a connection reads before it gives up on reusing itself.
MAX_ANSWER_BYTES = 64 * 1024


class _Conn(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight."""

    __slots__ = ("_body", "_keep", "_parser", "_status", "closed", "transport", "waiter")

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.WriteTransport | None = None
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None
        self.closed = False
        self._status = 0
        self._keep = True
        self._body = 0

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("connection closed before the answer"))

    # -- httptools callbacks ---------------------------------------------------------------
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > MAX_ANSWER_BYTES:
            self._keep = False

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, self._keep))
        self._body = 0

    # -- use -------------------------------------------------------------------------------
    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(fut: asyncio.Future[tuple[int, bool]]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class HttpPool:
    """Keep-alive connections by ``(host, port)``; :meth:`post` sends prepared bytes."""

    def __init__(self, max_idle_per_host: int) -> None:
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._max_idle = max_idle_per_host

    async def _connect(self, host: str, port: int, timeout_s: float) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(loop.create_connection(_Conn, host, port), timeout_s)
        return conn

    async def _once(self, conn: _Conn, request: bytes, timeout_s: float) -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[int, bool]] = loop.create_future()
        conn.waiter = fut
        assert conn.transport is not None
        conn.transport.write(request)
        timer = loop.call_later(timeout_s, _expire, fut)
        try:
            return await fut
        finally:
            timer.cancel()
            conn.waiter = None

    async def post(self, host: str, port: int, request: bytes, timeout_s: float) -> int:
        """Send ``request`` (a whole HTTP/1.1 request) and return the answer's status.
        Raises ``OSError``/``ConnectionError``/``TimeoutError`` when there is none."""
        key = (host, port)
        idle = self._idle.get(key)
        conn: _Conn | None = None
        while idle:
            candidate = idle.pop()
            if not candidate.closed:
                conn = candidate
                break
        reused = conn is not None
        if conn is None:
            conn = await self._connect(host, port, timeout_s)
        try:
            status, keep = await self._once(conn, request, timeout_s)
        except ConnectionError:
            conn.close()
            if not reused:
                raise
            # The peer closed an idle connection as we reused it: once more, fresh.
            conn = await self._connect(host, port, timeout_s)
            try:
                status, keep = await self._once(conn, request, timeout_s)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        if keep and not conn.closed:
            pool = self._idle.setdefault(key, [])
            if len(pool) < self._max_idle:
                pool.append(conn)
                return status
        conn.close()
        return status

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                with contextlib.suppress(Exception):
                    conn.close()
        self._idle.clear()


def request_bytes(
    method: str, target: bytes, host: str, headers: dict[str, str], body: bytes
) -> bytes:
    """One HTTP/1.1 request.  ``target`` is the path and query as sent (percent-encoded);
    header values are the engine's own (ids, hex signatures, names), never CR or LF."""
    lines = [f"{method} ", target.decode("ascii"), f" HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        if name.lower() != "host":
            lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "".join(lines).encode("latin-1") + body
