"""fastpost's pipelining: answers matched to requests in order, one write for a batch, and
what a connection that fails mid-pipeline reports (the first unanswered request is a
failed attempt, the rest go again uncounted; a connection never opened fails them all).
Servers are raw asyncio servers on free loopback ports; every wait is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httptools
import pytest
from svix.webhooks import Webhook

from loadtest.emulator.config import WebhookConfig
from loadtest.emulator.serve import LOOPBACK
from loadtest.emulator.store import open_store
from loadtest.emulator.webhooks.engine import WebhookEngine
from loadtest.emulator.webhooks.fastpost import HttpPool, request_bytes, request_head
from loadtest.emulator.webhooks.registry import Endpoint
from loadtest.emulator.webhooks.send import Signer
from loadtest.providers.webhooks import (
    DEMO_WEBHOOK_SECRET,
    HYPERTRACK_DELIVERY_ID_HEADER,
    HYPERTRACK_SIGNATURE_HEADER,
    ONFLEET_DELIVERY_ID_HEADER,
    ONFLEET_SIGNATURE_HEADER,
    Provider,
    hypertrack_signature,
    nash_signing_secret,
    onfleet_signature,
)

Reports = list[tuple[object, int | None, bool]]


def _answer(status: int) -> bytes:
    return f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode()


def _request(i: int) -> bytes:
    return request_bytes(request_head(b"/hook", "127.0.0.1"), f"X-N: {i}\r\n".encode(), b"{}")


class _Server(asyncio.Protocol):
    """Counts the requests it reads (by their request line) and each read; ``on_request``
    says what to do with the n-th request: an answer's bytes, b"" (none), or None
    (close the connection)."""

    def __init__(self, on_request: Callable[[int], bytes | None], log: list[int]) -> None:
        self.on_request = on_request
        self.log = log  # requests per read
        self.transport: asyncio.Transport | None = None
        self.n = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        count = data.count(b"POST /hook HTTP/1.1")
        self.log.append(count)
        for _ in range(count):
            answer = self.on_request(self.n)
            self.n += 1
            if answer is None:
                self.transport.close()
                return
            if answer:
                self.transport.write(answer)


async def _run(
    on_request: Callable[[int], bytes | None],
    n: int,
    *,
    timeout_s: float = 2.0,
    then: Callable[[HttpPool, int], Awaitable[None]] | None = None,
) -> tuple[Reports, list[int]]:
    """Send ``n`` requests in one batch through a pool; wait (bounded) for ``n`` reports."""
    log: list[int] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Server(on_request, log), LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    reports: Reports = []
    pool = HttpPool(4, lambda token, status, counts: reports.append((token, status, counts)))
    try:
        pool.send((LOOPBACK, port), [(i, _request(i), timeout_s) for i in range(n)])
        deadline = loop.time() + timeout_s + 5
        while len(reports) < n and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if then is not None:
            await then(pool, port)
    finally:
        pool.close()
        server.close()
    return reports, log


def test_pipelined_answers_go_to_their_requests_in_order() -> None:
    statuses = [200, 500, 204, 404, 200]
    reports, log = asyncio.run(_run(lambda i: _answer(statuses[i]), 5))
    assert reports == [(i, s, True) for i, s in enumerate(statuses)]
    assert log == [5]  # the five went in one write, on one connection


def test_connection_closed_mid_pipeline_resends_the_unanswered_uncounted() -> None:
    # Answers the first, then closes: a reused connection with no byte of the next answer.
    reports, _ = asyncio.run(_run(lambda i: _answer(200) if i == 0 else None, 3))
    assert reports == [(0, 200, True), (1, None, False), (2, None, False)]


def test_a_fresh_connection_closed_counts_its_first_request_only() -> None:
    reports, _ = asyncio.run(_run(lambda i: None, 3))
    assert reports == [(0, None, True), (1, None, False), (2, None, False)]


def test_timeout_fails_the_head_and_resends_the_rest() -> None:
    reports, _ = asyncio.run(_run(lambda i: b"", 3, timeout_s=0.2))
    assert reports == [(0, None, True), (1, None, False), (2, None, False)]


def test_refused_connection_fails_every_request() -> None:
    async def go() -> Reports:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()  # nothing listens on the port now
        reports: Reports = []
        pool = HttpPool(2, lambda t, s, c: reports.append((t, s, c)))
        pool.send((LOOPBACK, port), [(i, _request(i), 2.0) for i in range(3)])
        deadline = loop.time() + 5
        while len(reports) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        pool.close()
        return reports

    assert asyncio.run(go()) == [(i, None, True) for i in range(3)]


def test_connection_close_answer_sends_the_rest_again() -> None:
    close = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    reports, _ = asyncio.run(_run(lambda i: close if i == 0 else _answer(200), 3))
    assert reports == [(0, 200, True), (1, None, False), (2, None, False)]


@pytest.mark.parametrize("n", [1, 70])
def test_room_bounds_requests_in_flight(n: int) -> None:
    async def check(pool: HttpPool, port: int) -> None:
        assert pool.room((LOOPBACK, port)) == 4 * 64  # every answer came: all room back

    reports, _ = asyncio.run(_run(lambda i: _answer(200), n, then=check))
    # Past MAX_PIPELINE (64) the batch spills onto a second connection: each keeps its
    # own order, and every request is answered once.
    assert sorted(t for t, _, _ in reports) == list(range(n))
    assert all(s == 200 and c for _, s, c in reports)


def test_engine_resends_unanswered_with_the_same_ids_and_keeps_lane_order() -> None:
    """A receiver that answers one request per connection and then closes: every
    delivery still arrives, none is counted as retried, a resent one keeps its id, and
    the deliveries of one subject arrive in their order."""
    seen: list[tuple[str, bytes]] = []

    class OnePerConn(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) < length:
                return
            ident = head.lower().split(b"x-fleetsim-delivery-id: ")[1].split(b"\r\n")[0]
            seen.append((ident.decode(), rest[:length]))
            self.t.write(_answer(200))  # no "connection: close", then closes anyway
            self.t.close()

    async def go() -> WebhookEngine:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(OnePerConn, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        engine = WebhookEngine(WebhookConfig(secret="ab" * 32), open_store(None))
        url = f"http://{LOOPBACK}:{port}/hook"
        engine.registry.add(Endpoint("e", "onfleet", url, None), persist=False)
        await engine.start()
        try:
            for i in range(6):  # two subjects, three events each, committed together
                engine.emit("onfleet", "taskCompleted", f"s{i % 2}", {"i": i})
            engine.release(engine.prepare())
            deadline = loop.time() + 10
            while engine.depth and loop.time() < deadline:
                await asyncio.sleep(0.01)
        finally:
            await engine.stop()
            server.close()
        return engine

    engine = asyncio.run(go())
    assert engine.depth == 0
    firsts: dict[str, bytes] = {}
    for ident, body in seen:
        assert firsts.setdefault(ident, body) == body  # a resend: same id, same body
    assert len(firsts) == 6
    order = [int(b[5:-1]) for b in dict.fromkeys(b for _, b in seen)]
    assert [i for i in order if i % 2 == 0] == [0, 2, 4]
    assert [i for i in order if i % 2 == 1] == [1, 3, 5]
    lines = "\n".join(engine.metrics_lines())
    assert 'outcome="retried"' not in lines
    assert 'trigger="taskCompleted",outcome="delivered"} 6' in lines


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.0 200 OK\r\n\r\n",  # http.server's default: the body runs to the close
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\npartial body",
    ],
)
def test_an_answer_whose_body_ends_at_the_close_is_delivered(answer: bytes) -> None:
    """A receiver that answers without a length (Python's http.server does) and then
    closes: the headers carried the status, so the delivery counts; the request behind
    it got nothing and goes again, uncounted."""

    class AnswerAndClose(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(answer)
            self.transport.close()

    async def go() -> Reports:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(AnswerAndClose, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        reports: Reports = []
        pool = HttpPool(2, lambda t, s, c: reports.append((t, s, c)))
        pool.send((LOOPBACK, port), [(i, _request(i), 2.0) for i in range(2)])
        deadline = loop.time() + 5
        while len(reports) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        pool.close()
        server.close()
        return reports

    assert asyncio.run(go()) == [(0, 200, True), (1, None, False)]


def _parse(request: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """A request's target, headers (lower-case names) and body, by httptools."""

    class _P:
        url = b""
        body = b""
        headers: dict[str, str]

        def __init__(self) -> None:
            self.headers = {}

        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers[name.decode().lower()] = value.decode()

        def on_body(self, body: bytes) -> None:
            self.body += body

    p = _P()
    httptools.HttpRequestParser(p).feed_data(request)
    return p.url, p.headers, p.body


@pytest.mark.parametrize("secret", [DEMO_WEBHOOK_SECRET, "00ff" * 16])
@pytest.mark.parametrize("provider", ["onfleet", "hypertrack"])
def test_signed_request_per_delivery_from_a_shared_tail(provider: Provider, secret: str) -> None:
    """Deliveries of one event share the signed tail; another body (even interleaved)
    gets its own signature (the pre-keyed HMAC's equals the providers' one-shot) and
    length, and each keeps its own delivery id."""
    signer = Signer(secret)
    sign = onfleet_signature if provider == "onfleet" else hypertrack_signature
    sig_name = ONFLEET_SIGNATURE_HEADER if provider == "onfleet" else HYPERTRACK_SIGNATURE_HEADER
    id_name = ONFLEET_DELIVERY_ID_HEADER if provider == "onfleet" else HYPERTRACK_DELIVERY_ID_HEADER
    head = request_head(b"/hook/1?a=b", "127.0.0.1:9")
    one, two = b'{"n":1}', b'{"n":22,"x":"\xc3\xa9"}'
    for i, body in enumerate((one, one, two, one, two)):
        url, headers, got = _parse(signer.request(head, provider, f"id-{i}", body))
        assert url == b"/hook/1?a=b"
        assert got == body
        assert headers["host"] == "127.0.0.1:9"
        assert headers["content-type"] == "application/json"
        assert headers["content-length"] == str(len(body))
        assert headers[sig_name.lower()] == sign(secret, body)
        assert headers[id_name.lower()] == f"id-{i}"


def test_nash_request_is_signed_per_attempt_by_svix() -> None:
    signer = Signer(DEMO_WEBHOOK_SECRET)
    body = b'{"type":"job","event":"created","data":{}}'
    _, headers, got = _parse(signer.request(request_head(b"/h", "h"), "nash", "msg_1", body))
    assert got == body
    Webhook(nash_signing_secret(DEMO_WEBHOOK_SECRET)).verify(got, headers)
    assert headers["svix-id"] == "msg_1"
