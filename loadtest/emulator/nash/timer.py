"""One timer for many timed transitions: :class:`DueTimer`.

A provider's state keeps, per subject (a Nash job, a HyperTrack order), the simulated
time its next transition is due and asks the timer to call it back then.  One asyncio
task serves every subject: it sleeps until the earliest due time (converted to wall
seconds by the emulator's :class:`~loadtest.emulator.clock.Clock`), calls ``fire`` for
each subject that is due, and sleeps again; a new earlier due time wakes it.  So a
thousand live jobs cost one heap entry each and one sleeping task, never a task or a
poll per job.  Reads evaluate the same transitions lazily (``fire`` is idempotent: it
applies what is due by the clock and reschedules the next one), so an answer is never
behind the clock even when the loop is busy and the timer late.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable

from loadtest.emulator.clock import Clock

log = logging.getLogger(__name__)


class DueTimer:
    """Calls ``fire(subject)`` once the clock reaches the time ``subject`` is due."""

    def __init__(self, clock: Clock, fire: Callable[[str], None]) -> None:
        self.clock = clock
        self.fire = fire
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()  # ties fire in the order they were scheduled
        self._due: dict[str, float] = {}  # subject -> the due time its live entry holds
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._due)

    def due(self, subject: str) -> float | None:
        return self._due.get(subject)

    def schedule(self, subject: str, due_s: float) -> None:
        """Call back ``subject`` at simulated epoch second ``due_s`` (replacing any
        earlier schedule of it: the stale heap entry is skipped when it surfaces)."""
        if self._due.get(subject) == due_s:
            return
        self._due[subject] = due_s
        heapq.heappush(self._heap, (due_s, next(self._seq), subject))
        self._ensure()
        if self._wake is not None and self._heap[0][2] == subject:
            self._wake.set()

    def cancel(self, subject: str) -> None:
        self._due.pop(subject, None)

    def run_due(self) -> None:
        """Fire now every subject whose time has come: a read's lazy evaluation, so an
        answer is never behind the clock however late the timer task runs."""
        now_s = self.clock.now_s()
        while self._heap and self._heap[0][0] <= now_s:
            due_s, _, subject = heapq.heappop(self._heap)
            if self._due.get(subject) != due_s:
                continue
            del self._due[subject]
            self.fire(subject)

    def _ensure(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop yet (state loading): start() runs it later
            return
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run())

    def start(self) -> None:
        """Run the timer for what was scheduled before the loop ran (a restart)."""
        if self._due:
            self._ensure()

    async def _run(self) -> None:
        assert self._wake is not None
        while self._heap:
            due_s, _, subject = self._heap[0]
            if self._due.get(subject) != due_s:
                heapq.heappop(self._heap)  # stale: rescheduled or cancelled since
                continue
            wait = self.clock.wall(due_s - self.clock.now_s())
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            heapq.heappop(self._heap)
            del self._due[subject]
            try:
                self.fire(subject)
            except Exception:  # one subject's bug must not stop every other's clock
                log.exception("timed transition of %s failed", subject)

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
