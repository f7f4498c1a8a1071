"""The replay's connection pools look their host up once, not per new connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import gevent.socket
import pytest
from geventhttpclient.connectionpool import ConnectionPool

from loadtest.replay import resolve


@pytest.fixture
def listener() -> Iterator[Any]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv
    srv.close()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every getaddrinfo the pools make, recorded; the pools' method restored after."""
    calls: list[str] = []
    real = gevent.socket.getaddrinfo

    def counting(host: str, *args: Any) -> Any:
        calls.append(host)
        return real(host, *args)

    monkeypatch.setattr(gevent.socket, "getaddrinfo", counting)
    monkeypatch.setattr(ConnectionPool, "_resolve", ConnectionPool._resolve)
    resolve.forget()
    yield calls
    resolve.forget()


def test_new_connections_reuse_the_first_answer(listener: Any, counted: list[str]) -> None:
    port = listener.getsockname()[1]
    resolve.resolve_once()
    pools = [ConnectionPool("127.0.0.1", port, "127.0.0.1", port, size=8) for _ in range(2)]
    socks = [p.get_socket() for p in pools for _ in range(3)]  # six new connections
    try:
        assert all(s.getpeername() == ("127.0.0.1", port) for s in socks)
        assert counted == ["127.0.0.1"]
    finally:
        for s in socks:
            s.close()


def test_without_it_every_connection_looks_up(listener: Any, counted: list[str]) -> None:
    port = listener.getsockname()[1]
    pool = ConnectionPool("127.0.0.1", port, "127.0.0.1", port, size=8)
    socks = [pool.get_socket() for _ in range(3)]
    for s in socks:
        s.close()
    assert counted == ["127.0.0.1"] * 3


def test_a_failed_look_up_is_not_kept(
    listener: Any, counted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = listener.getsockname()[1]
    real = gevent.socket.getaddrinfo
    failures = [socket.gaierror("temporary failure")]

    def flaky(host: str, *args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(host, *args)

    monkeypatch.setattr(gevent.socket, "getaddrinfo", flaky)
    resolve.resolve_once()
    pool = ConnectionPool("127.0.0.1", port, "127.0.0.1", port, size=8)
    with pytest.raises(socket.gaierror):
        pool.get_socket()
    sock = pool.get_socket()  # asks again, and keeps this answer
    sock.close()
    assert resolve._resolved
