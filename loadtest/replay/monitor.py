"""The collecting process's once-a-second look at a running replay (gevent, no Locust).

Concept held here: :class:`Monitor`, run by the Locust master or the lone process for the
length of a test.  Every :data:`TICK_S` it gathers the samples so far (a lone process
drains its recorder into the session's aggregate; a master's aggregate is fed by its
workers' reports), writes a :class:`~loadtest.replay.progress.LiveSnapshot` for the
``fleetsim replay`` parent (progress lines, ``/metrics``) and, when a thresholds table
says ``abort = true``, asks its :class:`~loadtest.replay.abort.AbortWatch` whether to
stop the run (each second, or less often on a long run, whose check costs more: the check
keeps to 5% of the process's time).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import gevent

from loadtest.replay.abort import AbortWatch, LiveColumns
from loadtest.replay.distributed import ReplaySession, Role
from loadtest.replay.progress import LiveTracker, write_snapshot

log = logging.getLogger("fleetsim.replay")

#: How often the monitor looks (s): progress is shown at least this often.
TICK_S = 1.0
#: The abort check waits this many times its own cost before the next one.
ABORT_COST_FACTOR = 20.0


class Monitor:
    """See the module docstring."""

    def __init__(
        self,
        session: ReplaySession,
        t0_epoch: float,
        tracker: LiveTracker,
        live_path: Path | None,
        abort: AbortWatch | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self.session = session
        self.t0_epoch = t0_epoch
        self.tracker = tracker
        self.live_path = live_path
        self.abort = abort
        self.tick_s = tick_s
        self._greenlet: gevent.Greenlet | None = None
        self._next_abort_check = 0.0
        self._columns = LiveColumns()

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._loop)

    def pause(self) -> None:
        """Stop looking (the run is being collected)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def stop(self) -> None:
        """Stop looking, and write the last snapshot (the run is over)."""
        self.pause()
        self.tick(done=True)

    def _loop(self) -> None:
        while True:
            gevent.sleep(self.tick_s)
            try:
                self.tick()
            except Exception:  # a display problem must never stop the replay
                log.exception("live progress failed")

    def tick(self, done: bool = False) -> None:
        s = self.session
        if s.role is Role.LOCAL and not done:
            s.aggregate.merge(s.recorder.drain())
        now = time.time() - self.t0_epoch
        due = time.monotonic() >= self._next_abort_check
        if self.abort is not None and not done and not s.aborted and now > 0 and due:
            started = time.monotonic()
            measured = self._columns.measurements(s.aggregate, max(now, 1e-3))
            reason = self.abort.check(measured, now)
            # A check sorts every sample so far, and while it runs this process sends
            # nothing: look again after 20 times its cost (at most 5% of the time), and
            # at least every tick.
            cost = time.monotonic() - started
            self._next_abort_check = started + max(self.tick_s, ABORT_COST_FACTOR * cost)
            if reason:
                s.abort_on_threshold(reason)
        if self.live_path is not None:
            snap = self.tracker.update(s.aggregate, now, s.aborted)
            if done:
                from dataclasses import replace

                snap = replace(snap, done=True, eta_s=0.0)
            write_snapshot(snap, self.live_path)
