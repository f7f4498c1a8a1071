"""The replay's connection pools: host looked up once, idle check without a yield."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import gevent.socket
import pytest
from geventhttpclient.connectionpool import ConnectionPool

from loadtest.replay import connections


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
    monkeypatch.setattr(ConnectionPool, "_is_socket_alive", ConnectionPool._is_socket_alive)
    connections.forget()
    yield calls
    connections.forget()


def test_new_connections_reuse_the_first_answer(listener: Any, counted: list[str]) -> None:
    port = listener.getsockname()[1]
    connections.install()
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
    connections.install()
    pool = ConnectionPool("127.0.0.1", port, "127.0.0.1", port, size=8)
    with pytest.raises(socket.gaierror):
        pool.get_socket()
    sock = pool.get_socket()  # asks again, and keeps this answer
    sock.close()
    assert connections._resolved


def _pair(listener: Any) -> tuple[Any, Any]:
    port = listener.getsockname()[1]
    client = gevent.socket.create_connection(("127.0.0.1", port))
    server, _ = listener.accept()
    return client, server


def test_idle_check_keeps_a_quiet_connection_without_yielding(listener: Any) -> None:
    client, server = _pair(listener)
    ran: list[int] = []
    gevent.spawn(ran.append, 1)  # would run if the check gave the hub a turn
    try:
        pool = ConnectionPool("127.0.0.1", 1, "127.0.0.1", 1)
        assert connections.socket_idle(pool, client)
        assert ran == []  # gevent's patched select.select(..., 0) would have yielded here
        gevent.sleep(0)
        assert ran == [1]
    finally:
        client.close()
        server.close()


def test_the_pools_own_check_yields_under_monkey_patching(
    listener: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the check is replaced: in a Locust process ``select`` is gevent's."""
    import gevent.select
    import geventhttpclient.connectionpool as cp

    monkeypatch.setattr(cp, "select", gevent.select)
    client, server = _pair(listener)
    ran: list[int] = []
    gevent.spawn(ran.append, 1)
    pool = ConnectionPool("127.0.0.1", 1, "127.0.0.1", 1)
    assert connections._original_alive(pool, client)
    assert ran == [1]  # the hub had a turn inside the check
    gevent.spawn(ran.append, 2)
    assert connections.socket_idle(pool, client)
    assert ran == [1]
    client.close()
    server.close()


def test_idle_check_drops_a_closed_or_dirty_connection(listener: Any) -> None:
    pool = ConnectionPool("127.0.0.1", 1, "127.0.0.1", 1)
    client, server = _pair(listener)
    server.sendall(b"x")  # a stray byte: the next answer would be misread
    gevent.sleep(0.01)
    assert not connections.socket_idle(pool, client)
    client.close()
    server.close()
    client, server = _pair(listener)
    server.close()  # the server hung up (FIN)
    gevent.sleep(0.01)
    assert not connections.socket_idle(pool, client)
    client.close()
    assert not connections.socket_idle(pool, client)  # fileno -1
    assert not connections.socket_idle(pool, None)
