"""The replay's HTTP client against scripted servers: kept connections, answers of every
framing, stale connections without duplicates, timeouts, TLS, and what Locust is told."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
import pytest

from loadtest.replay.httpclient import HttpError, LocustTransport, ReplayHttp, split_url

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Thing: a\r\n\r\nok"

#: A handler gets the server, the connection and the request bytes it read; it answers.
Handler = Callable[["Scripted", socket.socket, bytes], None]


@dataclass
class Scripted:
    """A loopback HTTP server in a thread that answers each request with ``handler``."""

    handler: Handler
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    open_peak: int = 0
    tls: ssl.SSLContext | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.open_now += 1
                self.open_peak = max(self.open_peak, self.open_now)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            while True:
                req = _read_request(conn)
                if req is None:
                    return
                with self.lock:
                    self.requests.append(req)
                self.handler(self, conn, req)
        except OSError:
            return
        finally:
            conn.close()
            with self.lock:
                self.open_now -= 1

    def close(self) -> None:
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


@pytest.fixture
def serve() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def make(handler: Handler, tls: ssl.SSLContext | None = None) -> Scripted:
        s = Scripted(handler, tls=tls)
        s.start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture(autouse=True)
def _closed_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every client a test makes closes its kept connections at the test's end."""
    made: list[ReplayHttp] = []
    real_init = ReplayHttp.__init__

    def init(self: ReplayHttp, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ReplayHttp, "__init__", init)
    yield
    for http in made:
        http.close()


class _NoEvent:
    def fire(self, **kw: Any) -> None:
        pass


def answer(data: bytes) -> Handler:
    def handle(_: Scripted, conn: socket.socket, __: bytes) -> None:
        conn.sendall(data)

    return handle


def test_split_url() -> None:
    assert split_url("http://h:1/a/b?c=1") == ("http://h:1", "/a/b?c=1")
    assert split_url("https://h") == ("https://h", "/")
    assert split_url("http://h?x=1") == ("http://h", "/?x=1")
    with pytest.raises(HttpError, match="absolute"):
        split_url("/relative")


def test_one_connection_carries_every_request(serve: Callable[..., Scripted]) -> None:
    s = serve(answer(OK))
    http = ReplayHttp()
    for i in range(3):
        a = http.request("POST", s.url + f"/api/v2/tasks?i={i}", {"Authorization": "k"}, b"{}", 5)
        assert (a.status, a.body, a.keep_alive) == (200, b"ok", True)
    a = http.request("GET", s.url + "/x", {}, None, 5)
    assert a.status == 200
    assert s.connections == 1 and http.opened == 1
    first = s.requests[0].decode()
    assert first.startswith("POST /api/v2/tasks?i=0 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{s.port}\r\n" in first
    assert "Authorization: k\r\n" in first
    assert "Content-Length: 2\r\n" in first and first.endswith("\r\n\r\n{}")
    assert "Content-Length" not in s.requests[3].decode()  # a GET without a body


def test_answer_headers_as_sent_and_found_either_case(serve: Callable[..., Scripted]) -> None:
    data = (
        b"HTTP/1.1 429 Too Many\r\nRetry-After: 1\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n"
    )
    s = serve(answer(data))
    a = ReplayHttp().request("GET", s.url + "/", {}, None, 5)
    assert a.status == 429
    assert a.headers["Retry-After"] == "1"
    assert a.headers["X-A"] == "2"  # a repeated header keeps its last value
    assert (
        LocustTransport(_NoEvent(), ReplayHttp())
        .send("GET", s.url + "/", {}, None, "n", 5)
        .header("retry-after")
        == "1"
    )  # found in any case
    assert set(a.headers) == {"Retry-After", "X-A", "Content-Length"}


def test_chunked_and_closing_answers(serve: Callable[..., Scripted]) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    s = serve(answer(chunked))
    http = ReplayHttp()
    assert http.request("GET", s.url + "/", {}, None, 5).body == b"hello world"
    assert http.request("GET", s.url + "/", {}, None, 5).body == b"hello world"
    assert s.connections == 1

    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    c = serve(answer(closing))
    for _ in range(2):
        a = http.request("GET", c.url + "/", {}, None, 5)
        assert (a.status, a.body, a.keep_alive) == (200, b"ok", False)
    assert c.connections == 2


def test_compressed_answers_are_asked_for_and_decoded(serve: Callable[..., Scripted]) -> None:
    text = b'{"id":"t1"}' * 50
    packed = {
        b"gzip": gzip.compress(text),
        b"deflate": zlib.compress(text),
        b"br": b"\x0b\x02\x80hello\x03",
    }

    def handle(_: Scripted, conn: socket.socket, req: bytes) -> None:
        enc = req.split(b" ")[1].strip(b"/")
        body = packed.get(enc, b"not gzip")
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (enc or b"gzip", len(body), body)
        )

    s = serve(handle)
    http = ReplayHttp()
    assert http.request("GET", s.url + "/gzip", {}, None, 5).body == text
    assert http.request("GET", s.url + "/deflate", {}, None, 5).body == text
    assert b"Accept-Encoding: gzip, deflate\r\n" in s.requests[0]
    with pytest.raises(HttpError, match="not asked for: 'br'"):
        http.request("GET", s.url + "/br", {}, None, 5)
    with pytest.raises(HttpError, match="does not decode"):
        http.request("GET", s.url + "/", {}, None, 5)
    # a caller's own Accept-Encoding is sent instead of ours, never beside it
    http.request("GET", s.url + "/gzip", {"Accept-Encoding": "gzip"}, None, 5)
    assert s.requests[-1].count(b"Accept-Encoding") == 1


def test_a_body_that_runs_to_the_connections_end(serve: Callable[..., Scripted]) -> None:
    def handle(_: Scripted, conn: socket.socket, __: bytes) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        conn.shutdown(socket.SHUT_WR)

    s = serve(handle)
    a = ReplayHttp().request("GET", s.url + "/", {}, None, 5)
    assert (a.status, a.body, a.keep_alive) == (200, b"all of it", False)


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    serve: Callable[..., Scripted],
) -> None:
    def handle(_: Scripted, conn: socket.socket, __: bytes) -> None:
        conn.sendall(OK)
        conn.shutdown(socket.SHUT_RDWR)  # keep-alive said, then hung up anyway

    s = serve(handle)
    http = ReplayHttp()
    assert http.request("POST", s.url + "/", {}, b"1", 5).status == 200
    time.sleep(0.05)  # the FIN arrives: the idle check sees it
    assert http.request("POST", s.url + "/", {}, b"2", 5).status == 200
    assert s.connections == 2 and len(s.requests) == 2


def _drop_second_request_on_first_connection() -> Handler:
    """Answers the first request, then hangs up on the next one without answering (a
    server's keep-alive timeout racing a request); later connections are answered."""
    seen: dict[int, int] = {}

    def handle(server: Scripted, conn: socket.socket, __: bytes) -> None:
        n = seen[id(conn)] = seen.get(id(conn), 0) + 1
        if server.connections == 1 and n == 2:
            conn.shutdown(socket.SHUT_RDWR)
            return
        conn.sendall(OK)

    return handle


def test_a_stale_connection_resends_only_idempotent_methods(
    serve: Callable[..., Scripted],
) -> None:
    s = serve(_drop_second_request_on_first_connection())
    http = ReplayHttp()
    assert http.request("GET", s.url + "/a", {}, None, 5).status == 200
    assert http.request("GET", s.url + "/b", {}, None, 5).status == 200  # resent once
    assert [r.split(b" ")[1] for r in s.requests] == [b"/a", b"/b", b"/b"]

    p = serve(_drop_second_request_on_first_connection())
    assert http.request("POST", p.url + "/a", {}, b"x", 5).status == 200
    with pytest.raises(HttpError, match="closed the connection before answering"):
        http.request("POST", p.url + "/b", {}, b"x", 5)
    assert len(p.requests) == 2  # the POST was not sent twice: the caller decides


def test_no_answer_in_time_is_a_timeout(serve: Callable[..., Scripted]) -> None:
    s = serve(lambda *_: time.sleep(2))
    t0 = time.monotonic()
    with pytest.raises(HttpError) as err:
        ReplayHttp().request("GET", s.url + "/", {}, None, 0.2)
    assert err.value.timed_out
    assert time.monotonic() - t0 < 1.5


def test_a_closed_port_and_a_non_http_answer(serve: Callable[..., Scripted]) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(HttpError, match="ConnectionRefused") as err:
        ReplayHttp().request("GET", f"http://127.0.0.1:{port}/", {}, None, 5)
    assert not err.value.timed_out

    s = serve(answer(b"SSH-2.0-OpenSSH_9\r\n\r\n"))
    with pytest.raises(HttpError, match="not an HTTP answer"):
        ReplayHttp().request("GET", s.url + "/", {}, None, 5)


def test_bad_urls_and_headers_are_refused_before_sending() -> None:
    http = ReplayHttp()
    with pytest.raises(HttpError, match="scheme"):
        http.request("GET", "ftp://127.0.0.1/x", {}, None, 1)
    with pytest.raises(HttpError, match="credentials"):
        http.request("GET", "http://u:p@127.0.0.1/x", {}, None, 1)
    with pytest.raises(HttpError, match="invalid header"):
        http.request("GET", "http://127.0.0.1:1/x", {"X": "a\r\nInjected: 1"}, None, 1)


def test_connections_per_origin_are_bounded(serve: Callable[..., Scripted]) -> None:
    def slow(_: Scripted, conn: socket.socket, __: bytes) -> None:
        time.sleep(0.05)
        conn.sendall(OK)

    s = serve(slow)
    http = ReplayHttp(max_connections=2)
    jobs = [gevent.spawn(http.request, "GET", s.url + "/", {}, None, 5) for _ in range(6)]
    gevent.joinall(jobs, raise_error=True)
    assert all(j.value.status == 200 for j in jobs)
    assert s.open_peak <= 2 and http.opened == 2


def test_the_host_is_looked_up_once(
    serve: Callable[..., Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[str] = []
    real = gevent.socket.getaddrinfo

    def counting(host: str, *args: Any) -> Any:
        looked.append(host)
        return real(host, *args)

    monkeypatch.setattr(gevent.socket, "getaddrinfo", counting)
    s = serve(answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
    http = ReplayHttp()
    for _ in range(3):  # three connections
        http.request("GET", f"http://localhost:{s.port}/", {}, None, 5)
    assert looked == ["localhost"]


def test_the_idle_check_does_not_give_the_hub_a_turn(serve: Callable[..., Scripted]) -> None:
    s = serve(answer(OK))
    http = ReplayHttp()
    http.request("GET", s.url + "/", {}, None, 5)
    ran: list[int] = []
    gevent.spawn(ran.append, 1)  # would run if taking the kept connection yielded
    origin = http._origin(s.url)
    sock = http._take(origin)
    assert sock is not None and ran == []
    gevent.sleep(0)
    assert ran == [1]
    sock.close()


def test_tls_checks_the_certificate(
    serve: Callable[..., Scripted], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    s = serve(answer(OK), tls=server_ctx)
    with pytest.raises(HttpError, match="CERTIFICATE_VERIFY_FAILED"):
        ReplayHttp().request("GET", s.url + "/", {}, None, 5)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # a staging server's own CA
    http = ReplayHttp()
    for _ in range(2):
        a = http.request("GET", s.url + "/", {}, None, 5)
        assert (a.status, a.body) == (200, b"ok")
    assert http.opened == 1


def test_locust_is_told_of_every_request(serve: Callable[..., Scripted]) -> None:
    seen: list[dict[str, Any]] = []

    class Event:  # Locust's EventHook, as far as the transport uses it
        def fire(self, **kw: Any) -> None:
            seen.append(kw)

    bad = b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad"
    good, fail = serve(answer(OK)), serve(answer(bad))
    t = LocustTransport(Event(), ReplayHttp())
    r = t.send("POST", good.url + "/t", {}, b"{}", "task.create", 5)
    assert (r.status, r.body, r.header("x-thing"), r.ok) == (200, b"ok", "a", True)
    r = t.send("GET", fail.url + "/t", {}, None, "task.get", 5)
    assert (r.status, r.body, r.ok) == (500, b"bad", False)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    r = t.send("GET", f"http://127.0.0.1:{port}/t", {}, None, "task.get", 5)
    assert r.status == 0 and "ConnectionRefused" in r.error and not r.timed_out
    assert [(k["request_type"], k["name"], k["response_length"]) for k in seen] == [
        ("POST", "task.create", 2),
        ("GET", "task.get", 3),
        ("GET", "task.get", 0),
    ]
    assert seen[0]["exception"] is None
    assert str(seen[1]["exception"]) == "HTTP 500"
    assert "ConnectionRefused" in str(seen[2]["exception"])
    assert all(k["response_time"] >= 0 for k in seen)


def test_interim_answers_are_skipped_not_taken_for_the_answer(
    serve: Callable[..., Scripted],
) -> None:
    def handle(_: Scripted, conn: socket.socket, req: bytes) -> None:
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        time.sleep(0.05)  # the final answer comes in a later segment
        path = req.split(b" ")[1]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path))

    s = serve(handle)
    http = ReplayHttp()
    for path in ("/first", "/second"):
        a = http.request("POST", s.url + path, {}, b"x", 5)
        assert (a.status, a.body) == (200, path.encode())
        assert "Link" not in a.headers  # the interim answer's headers are not the answer's
    assert s.connections == 1


def test_bytes_after_the_answer_leave_it_whole_and_close_the_connection(
    serve: Callable[..., Scripted],
) -> None:
    extra = serve(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"))
    two = serve(answer(OK + b"HTTP/1.1 200 OK\r\nX-Two: 1\r\nContent-Length: 3\r\n\r\nTWO"))
    http = ReplayHttp()
    for s in (extra, two):
        for _ in range(2):
            a = http.request("GET", s.url + "/", {}, None, 5)
            assert (a.status, a.body, a.keep_alive) == (200, b"ok", False)
            assert "X-Two" not in a.headers
        assert s.connections == 2  # never reused after junk


def test_every_address_of_a_name_is_tried(
    serve: Callable[..., Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``localhost`` is often ``::1`` first, while servers here listen on 127.0.0.1."""
    s = serve(answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    tried: list[int] = []
    real_connect = gevent.socket.socket.connect

    def connect(self: Any, address: Any) -> Any:
        tried.append(address[1])
        return real_connect(self, address)

    def two(host: str, port: int, *args: Any) -> Any:
        dead = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", dead_port))
        live = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))
        return [dead, live]

    monkeypatch.setattr(gevent.socket, "getaddrinfo", two)
    monkeypatch.setattr(gevent.socket.socket, "connect", connect)
    http = ReplayHttp()
    assert http.request("GET", f"http://example.invalid:{s.port}/", {}, None, 5).status == 200
    assert http.request("GET", f"http://example.invalid:{s.port}/", {}, None, 5).status == 200
    assert tried == [dead_port, s.port, s.port]  # the one that answered goes first after


def test_the_timeout_bounds_the_whole_request(serve: Callable[..., Scripted]) -> None:
    def drip(_: Scripted, conn: socket.socket, __: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
        for _ in range(40):  # a byte every 0.1 s: each wait is short, the answer is not
            time.sleep(0.1)
            conn.sendall(b"x")

    s = serve(drip)
    t0 = time.monotonic()
    with pytest.raises(HttpError) as err:
        ReplayHttp().request("GET", s.url + "/", {}, None, 0.5)
    assert err.value.timed_out and time.monotonic() - t0 < 1.0


def test_a_timed_out_post_on_a_kept_connection_is_not_sent_again(
    serve: Callable[..., Scripted],
) -> None:
    def second_hangs(server: Scripted, conn: socket.socket, __: bytes) -> None:
        if len(server.requests) == 2:
            time.sleep(1.0)
            return
        conn.sendall(OK)

    s = serve(second_hangs)
    http = ReplayHttp()
    assert http.request("POST", s.url + "/", {}, b"1", 5).status == 200
    with pytest.raises(HttpError) as err:
        http.request("POST", s.url + "/", {}, b"2", 0.3)
    assert err.value.timed_out
    assert len(s.requests) == 2


def test_a_switch_of_protocols_is_an_error_and_leaks_nothing(
    serve: Callable[..., Scripted],
) -> None:
    for extra in (b"", b"Connection: upgrade\r\n"):
        switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n%s\r\n" % extra
        s = serve(answer(switch))
        with pytest.raises(HttpError, match="switched protocols"):
            ReplayHttp().request("GET", s.url + "/", {}, None, 5)


def test_head_and_empty_compressed_answers(serve: Callable[..., Scripted]) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 120\r\n\r\n"
    s = serve(answer(head))
    a = ReplayHttp().request("HEAD", s.url + "/", {}, None, 5)
    assert (a.status, a.body) == (200, b"")
    empty = serve(answer(b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n"))
    a = ReplayHttp().request("DELETE", empty.url + "/t/1", {}, None, 5)
    assert (a.status, a.body, a.keep_alive) == (204, b"", True)


def test_a_connection_in_use_when_the_client_closes_is_closed_after(
    serve: Callable[..., Scripted],
) -> None:
    def slow(_: Scripted, conn: socket.socket, __: bytes) -> None:
        time.sleep(0.1)
        conn.sendall(OK)

    s = serve(slow)
    http = ReplayHttp()
    job = gevent.spawn(http.request, "GET", s.url + "/", {}, None, 5)
    gevent.sleep(0.02)
    http.close()
    assert job.get(timeout=5).status == 200
    assert http._origin(s.url).idle == []


def test_not_latin_1_is_refused_before_sending() -> None:
    with pytest.raises(HttpError, match="latin-1"):
        ReplayHttp().request("GET", "http://127.0.0.1:1/caf\u00e9\u20ac", {}, None, 1)


def test_locust_is_told_the_time_in_ms_and_a_timeout_is_marked(
    serve: Callable[..., Scripted],
) -> None:
    seen: list[dict[str, Any]] = []

    class Event:
        def fire(self, **kw: Any) -> None:
            seen.append(kw)

    def slow(_: Scripted, conn: socket.socket, __: bytes) -> None:
        time.sleep(0.12)
        conn.sendall(OK)

    s = serve(slow)
    t = LocustTransport(Event(), ReplayHttp())
    assert t.send("GET", s.url + "/", {}, None, "n", 5).status == 200
    assert 100 <= seen[0]["response_time"] < 1000
    r = t.send("GET", s.url + "/", {}, None, "n", 0.05)
    assert r.status == 0 and r.timed_out and "within 0.05 s" in r.error
