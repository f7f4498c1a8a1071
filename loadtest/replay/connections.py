"""Two per-request costs of geventhttpclient's connection pool, removed for the replay.

Concepts held here: :func:`install`, called by the replay's locustfile, which changes two
methods of geventhttpclient's ``ConnectionPool`` in the replay's own process (the plain
Locust baseline is not touched):

* **Resolving once.**  The pool looks its host up (``getaddrinfo``) every time it opens a
  connection, and gevent sends each look-up to its thread pool, even for ``127.0.0.1``.
  A replay opens connections in bursts, when its calls in flight grow (a slow answer, a
  late wake-up), and each look-up then costs a thread hand-off and a fight for the GIL
  with the dispatch loop: ~5% of the replay's CPU at 1,800 creates/s (py-spy), paid when
  the loop is already behind.  A load test's target does not move during a run, so the
  first answer for a (host, port, family) is kept; a failed look-up is not kept.
* **The idle check without a yield.**  Before reusing a kept connection the pool checks
  it is not readable (a FIN, or a stray byte) with ``select.select(..., 0.0)``; under
  gevent's monkey-patching that zero-timeout select ends with ``gevent.sleep(0)``, so
  every call, after its schedule lag was taken and before its request was written, went
  to the back of the hub's queue, behind every answer that had arrived: a whole turn of
  the loop added to each send (which the recorded lag did not even show) and a greenlet
  switch and callback per call.  The same check is made with the original
  (unpatched) ``poll``, which also has no 1,024-descriptor limit.
"""

from __future__ import annotations

import select
from typing import Any

from gevent.monkey import get_original
from geventhttpclient.connectionpool import ConnectionPool

#: Resolved addresses per (host, port, IPv4 only), as ``getaddrinfo`` gave them.
_resolved: dict[tuple[str, int, bool], Any] = {}
_original_resolve = ConnectionPool._resolve
_original_alive = ConnectionPool._is_socket_alive
#: The blocking (never yielding) ``select.poll``, whatever monkey-patching did.
_poll: Any = get_original("select", "poll")
#: Readable, urgent data, or (always reported) hung up / error: not reusable.
_NOT_IDLE = select.POLLIN | select.POLLPRI


def _resolve_cached(pool: ConnectionPool) -> Any:
    key = (pool._connection_host, pool._connection_port, pool.disable_ipv6)
    info = _resolved.get(key)
    if info is None:
        info = _original_resolve(pool)  # raises on failure: nothing kept
        _resolved[key] = info
    return info


def socket_idle(pool: ConnectionPool, sock: Any) -> bool:
    """True when a kept connection can carry the next request: open, and nothing to read
    (the pool's own rule), checked without giving the hub a turn."""
    if sock is None:
        return False
    try:
        fd = sock.fileno()
        if fd < 0:
            return False
        poller = _poll()
        poller.register(fd, _NOT_IDLE)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def install() -> None:
    """Make every geventhttpclient connection pool of this process resolve its host once
    and check idle connections without yielding.  Idempotent."""
    ConnectionPool._resolve = _resolve_cached  # type: ignore[method-assign,assignment]
    ConnectionPool._is_socket_alive = socket_idle  # type: ignore[method-assign,assignment]


def forget() -> None:
    """Drop the kept answers (tests; a target that moved)."""
    _resolved.clear()
