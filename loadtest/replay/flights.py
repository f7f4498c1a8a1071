"""The replay's calls in flight: run by a reused set of bare greenlets, counted and bounded.

Concepts held here: :class:`Flights`, what :class:`loadtest.replay.partition.PartitionRun`
runs each call in.  It replaces a ``gevent.pool.Pool``, whose ``spawn`` made a new
``gevent.Greenlet`` per call (recording its spawning stack and tree, keeping links and a
value): at 1,000 calls/s that creation was the largest single cost of the dispatch loop,
and even a bare new greenlet (``gevent.spawn_raw``) cost a quarter of the replay's own
per-call CPU.  A call needs none of it (the executor catches its own errors and reports
through the recorder), so a finished call's greenlet parks in the hub and takes the next
call: a new greenlet is made only when every one is busy, up to the bound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent
from gevent import get_hub, getcurrent
from gevent.event import Event
from gevent.lock import Semaphore

log = logging.getLogger("fleetsim.replay")

#: What :meth:`Flights.close` hands a parked greenlet: return, do not wait for more.
_STOP: Any = object()


class Flights:
    """At most ``limit`` functions running at once, each in a greenlet of its own.

    :meth:`spawn` waits while ``limit`` are running (the bound a pool gave); ``len()`` is
    how many are running; :meth:`join` waits until none is.  A greenlet whose function
    returned parks on the hub (in ``_idle``) until :meth:`spawn` hands it the next one.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._slots = Semaphore(limit)
        self._running = 0
        self._empty = Event()
        self._empty.set()
        self._idle: list[Any] = []  # parked greenlets (greenlet has no type stubs)
        #: How many greenlets were made (at most the peak of calls in flight).
        self.made = 0
        #: Errors that escaped a function (a bug: the executor catches its own), kept so
        #: a test can see them; they are logged, never raised into the hub.
        self.errors: list[BaseException] = []
        self._closed = False

    def __len__(self) -> int:
        return self._running

    def spawn(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in a greenlet of its own, at the hub's next turn."""
        self._slots.acquire()
        self._running += 1
        self._empty.clear()
        if self._idle:
            # Resumed by the hub, like a new greenlet's first switch, so this caller
            # goes on dispatching first.
            get_hub().loop.run_callback(self._idle.pop().switch, fn)
        else:
            self.made += 1
            gevent.spawn_raw(self._work, fn)

    def _work(self, fn: Callable[[], None]) -> None:
        me = getcurrent()
        hub = get_hub()
        while True:
            self._call(fn)
            # A parked greenlet holds nothing of its last call (its closure keeps the
            # executor, the recorder and the id maps of the run alive).
            del fn
            if self._closed:
                return
            self._idle.append(me)
            got = hub.switch()  # parked until spawn switches back with the next function
            while got is not _STOP and not callable(got):  # a stray wake-up parks again
                got = hub.switch()
            if got is _STOP:
                return
            fn = got

    def _call(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # never into the hub, which would print and go on anyway
            log.exception("a replay call failed outside the executor")
            self.errors.append(exc)
        finally:
            self._running -= 1
            self._slots.release()
            if self._running == 0:
                self._empty.set()

    def close(self) -> None:
        """The run is over: parked greenlets return, and those still running a call
        return after it (none is left waiting in the hub for a call that never comes)."""
        self._closed = True
        idle, self._idle = self._idle, []
        loop = get_hub().loop
        for g in idle:
            loop.run_callback(g.switch, _STOP)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until nothing is running (at most ``timeout`` s); True when nothing is."""
        return bool(self._empty.wait(timeout))
