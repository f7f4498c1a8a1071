"""Resolving the target's host once per process, not once per new connection.

Concept held here: :func:`resolve_once`, installed by the replay's locustfile.
geventhttpclient's ``ConnectionPool`` looks its host up (``getaddrinfo``) every time it
opens a connection, and gevent sends each look-up to its thread pool, even for
``127.0.0.1``.  A replay opens connections in bursts, when its calls in flight grow (a slow
answer, a late wake-up), and each look-up then costs a thread hand-off and a fight for the
GIL with the dispatch loop: measured at ~5% of the replay's CPU at 1,800 creates/s, paid
exactly when the loop is already behind.  A load test's target does not move during a run,
so the first answer for a (host, port, family) is kept; a failed look-up is not kept, so
the next connection asks again.
"""

from __future__ import annotations

from typing import Any

from geventhttpclient.connectionpool import ConnectionPool

#: Resolved addresses per (host, port, IPv4 only), as ``getaddrinfo`` gave them.
_resolved: dict[tuple[str, int, bool], Any] = {}
_original = ConnectionPool._resolve


def _resolve_cached(pool: ConnectionPool) -> Any:
    key = (pool._connection_host, pool._connection_port, pool.disable_ipv6)
    info = _resolved.get(key)
    if info is None:
        info = _original(pool)  # raises on failure: nothing kept
        _resolved[key] = info
    return info


def resolve_once() -> None:
    """Make every geventhttpclient connection pool of this process resolve its host once.

    Idempotent; the process's later pools (one per user and host) share the answers."""
    ConnectionPool._resolve = _resolve_cached  # type: ignore[method-assign,assignment]


def forget() -> None:
    """Drop the kept answers (tests; a target that moved)."""
    _resolved.clear()
