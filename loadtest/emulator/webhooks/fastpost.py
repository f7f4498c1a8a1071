"""The delivery hot path for ``http://`` receivers: pipelined POSTs over pooled keep-alive
connections, an asyncio protocol per connection and httptools (the C parser uvicorn
serves with) for the answers.  No task, future or timer per request.

Why not aiohttp here: measured in the emulator process, an aiohttp POST cost ~200 µs of
CPU, more than serving the API call that caused the event (~100 µs), so deliveries,
not the API, set the emulator's limit.  A delivery is one known request shape and only
its status matters, so a protocol that writes the bytes and parses the answers costs a
fraction of that.  ``https://`` receivers (never the loopback case the emulator is for)
and the handshake go through aiohttp.

**Pipelining.**  The requests that are ready in one loop tick for one ``(host, port)`` go
out in one ``transport.write`` on one connection (HTTP/1.1 pipelining, RFC 9112 §9.3;
uvicorn and every HTTP/1.1 server answer them in order), at most :data:`MAX_PIPELINE` in
flight per connection; the answers are parsed in order and each is reported through the
pool's ``on_done(token, status, counts)`` callback, synchronously, from the parser.  The
caller never pipelines two requests of one ordered stream (the engine sends only a lane's
head), so the order that matters holds whatever the connection does.

**Failures** (the answer a request never got): the connection is closed and every request
still waiting on it is reported with ``status=None``:

* the *first* unanswered request is a failed attempt (``counts=True``) -- the one the
  timeout, the refused connection or the broken answer is about -- except when the
  connection had served answers before and not one byte of this answer came: then the
  peer closed an idle keep-alive connection as it was reused, and the request simply goes
  again (``counts=False``), as a fresh connection's failure would count;
* a connection that could not be opened at all fails every request on it as an attempt
  (nothing was sent; the receiver is down);
* every other unanswered request behind the first goes again (``counts=False``, the same
  bytes and delivery id): the receiver may have read it, so it is delivered at least once,
  never skipped.

**Timeouts**: one timer per connection, armed for the deadline of the request at the
head of its pipeline (the only one an answer can come for next) and re-armed lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import cast

import httptools

#: The most answer body a connection reads before it gives up on reusing itself.
MAX_ANSWER_BYTES = 64 * 1024
#: The most requests in flight on one connection.
MAX_PIPELINE = 64

#: ``on_done(token, status, counts)``: ``status`` None means no answer; ``counts`` False
#: means the request was not really tried and must simply go again.
OnDone = Callable[[object, int | None, bool], None]
HostPort = tuple[str, int]


class _Conn(asyncio.Protocol):
    """One keep-alive connection with a FIFO of requests in flight."""

    __slots__ = (
        "_body",
        "_got_bytes",
        "_head_status",
        "_keep",
        "_parser",
        "_timer",
        "answered",
        "buffer",
        "closed",
        "inflight",
        "key",
        "pool",
        "transport",
    )

    def __init__(self, pool: HttpPool, key: HostPort) -> None:
        self.pool: HttpPool | None = pool
        self.key = key
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.WriteTransport | None = None
        #: (token, deadline in loop time) of each request written and not answered.
        self.inflight: deque[tuple[object, float]] = deque()
        self.buffer: list[bytes] = []  # written once connected
        self.closed = False
        self.answered = 0
        self._got_bytes = False
        # The head request's status once its answer's headers are in (0 before): an answer
        # without a length (HTTP/1.0, or ``connection: close``) ends only at the close.
        self._head_status = 0
        self._timer: asyncio.TimerHandle | None = None
        self._keep = True
        self._body = 0

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = cast(asyncio.WriteTransport, transport)  # uvloop's is no subclass
        self.transport = t
        if self.closed:
            t.close()
        elif self.buffer:
            t.write(b"".join(self.buffer))
            self.buffer.clear()

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_status and self.inflight and not self.closed:
            # The answer's body ran to the close (no length): the headers said it all.
            self._settle_head(self._head_status)
            self._got_bytes = False  # the rest got nothing: resent, uncounted
        self.abort()

    # -- httptools callbacks (status and keep-alive are read at the message's end) ---------
    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > MAX_ANSWER_BYTES:
            self._keep = False

    def on_headers_complete(self) -> None:
        self._head_status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        if not self.inflight or self.closed:
            return
        parser = self._parser
        keep = self._keep and parser.should_keep_alive()
        self._keep = True
        self._got_bytes = False
        pool = self.pool
        self._settle_head(parser.get_status_code())
        if not keep:
            self.abort()  # the rest were not answered: they go again, uncounted
        elif not self.inflight and pool is not None:
            pool.idle(self)

    def _settle_head(self, status: int) -> None:
        """The head request is answered with ``status``."""
        token, _ = self.inflight.popleft()
        self.answered += 1
        self._head_status = 0
        self._body = 0
        if self.pool is not None:
            self.pool.on_done(token, status, True)

    # -- use -------------------------------------------------------------------------------
    def send(self, items: list[tuple[object, bytes, float]], now: float) -> None:
        """Write ``items`` (token, request bytes, timeout s) in one go."""
        inflight = self.inflight
        first = not inflight
        for token, _, timeout_s in items:
            inflight.append((token, now + timeout_s))
        data = b"".join([req for _, req, _ in items])
        if self.transport is None:
            self.buffer.append(data)
        else:
            self.transport.write(data)
        if first:
            self._arm(inflight[0][1])

    def _arm(self, deadline: float) -> None:
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return  # it fires first and re-arms for the head then
            timer.cancel()
        assert self.pool is not None
        self._timer = self.pool.loop.call_at(deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        if not self.inflight or self.closed or self.pool is None:
            return
        deadline = self.inflight[0][1]
        if deadline <= self.pool.loop.time():
            self.abort(timed_out=True)
        else:
            self._arm(deadline)

    def abort(self, *, timed_out: bool = False, connected: bool = True) -> None:
        """Close, and report every request still waiting (see the module docstring)."""
        if self.closed and not self.inflight:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()
        pending = list(self.inflight)
        self.inflight.clear()
        pool = self.pool
        if pool is None:
            return
        pool.forget(self)
        stale = self.answered > 0 and not self._got_bytes and not timed_out
        for i, (token, _) in enumerate(pending):
            counts = not connected or (i == 0 and not stale)
            pool.on_done(token, None, counts)


class HttpPool:
    """Connections by ``(host, port)``, at most ``max_conns`` each; :meth:`send` writes
    prepared requests and the answers come back through ``on_done``."""

    def __init__(self, max_conns: int, on_done: OnDone) -> None:
        self._conns: dict[HostPort, list[_Conn]] = {}
        self._max = max_conns
        self.on_done = on_done
        self.on_room: Callable[[], None] = lambda: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def room(self, key: HostPort) -> int:
        """How many more requests to ``key`` can be written now."""
        conns = self._conns.get(key, ())
        free = sum(MAX_PIPELINE - len(c.inflight) for c in conns)
        return free + (self._max - len(conns)) * MAX_PIPELINE

    def send(self, key: HostPort, items: list[tuple[object, bytes, float]]) -> None:
        """Write ``items`` (at most :meth:`room`): on the least loaded connection, a new
        one when every open one is busy (up to the bound), spilling over when full."""
        conns = self._conns.setdefault(key, [])
        now = self.loop.time()
        while items:
            conn = min(conns, key=lambda c: len(c.inflight), default=None)
            if conn is None or (conn.inflight and len(conns) < self._max):
                conn = self._open(key)
                conns.append(conn)
            take = MAX_PIPELINE - len(conn.inflight)
            if take <= 0:
                raise RuntimeError("HttpPool.send: more items than room()")
            conn.send(items[:take], now)
            items = items[take:]

    def _open(self, key: HostPort) -> _Conn:
        conn = _Conn(self, key)
        task = self.loop.create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn

    async def _connect(self, conn: _Conn) -> None:
        host, port = conn.key
        try:
            await self.loop.create_connection(lambda: conn, host, port)
        except OSError:
            conn.abort(connected=False)

    def idle(self, conn: _Conn) -> None:
        self.on_room()

    def forget(self, conn: _Conn) -> None:
        conns = self._conns.get(conn.key)
        if conns is not None and conn in conns:
            conns.remove(conn)
        self.on_room()

    def close(self) -> None:
        """Close every connection; requests in flight are not reported (the caller
        keeps them)."""
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
        for conns in self._conns.values():
            for conn in conns:
                conn.pool = None
                conn.inflight.clear()
                with contextlib.suppress(Exception):
                    conn.abort()
        self._conns.clear()
        self._loop = None


def request_head(target: bytes, host: str) -> bytes:
    """The start of every POST to one URL: the request line, ``Host`` and the JSON
    content type.  ``target`` is the path and query as sent (percent-encoded)."""
    return b"".join(
        (b"POST ", target, b" HTTP/1.1\r\nHost: ", host.encode("ascii"),
         b"\r\nContent-Type: application/json\r\n")
    )  # fmt: skip


def request_bytes(head: bytes, headers: bytes, body: bytes) -> bytes:
    """One whole request: ``head`` (:func:`request_head`), the delivery's header lines
    (each ending CRLF; the engine's own values, never CR or LF inside) and the body."""
    return b"".join((head, headers, b"Content-Length: %d\r\n\r\n" % len(body), body))
