"""Open-model scheduling of trace calls, independent of Locust, gevent and HTTP.

Concepts held here: :func:`partition` (dependency families spread over replay
processes), :class:`Schedule` (which calls are due, which wait on dependencies, which are
skipped because a dependency failed) and :func:`run_open_model` (the dispatch loop, written
against a :class:`Clock` so tests drive it with a fake clock).

Times here are seconds relative to the replay's time origin (``t0``).  A call is *due* at
``at_s / speedup``; it is *eligible* once due and every dependency has finished.  Its
intended send time is the moment it became eligible; schedule lag is the actual send
minus that, so waiting on a slow dependency is the server's time, not the generator's.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from loadtest.trace.format import TraceCall


def partition(calls: Sequence[TraceCall], parts: int, index: int) -> list[TraceCall]:
    """The calls of partition ``index`` of ``parts``: whole families, greedily balanced.

    Deterministic, so every process computes the same split without talking.
    """
    if parts <= 1:
        return list(calls)
    sizes: dict[int, int] = {}
    for c in calls:
        sizes[c.family] = sizes.get(c.family, 0) + 1
    load = [(0, p) for p in range(parts)]
    owner: dict[int, int] = {}
    for fam, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        used, p = heapq.heappop(load)
        owner[fam] = p
        heapq.heappush(load, (used + n, p))
    return [c for c in calls if owner[c.family] == index]


class Ready(NamedTuple):
    """A call that may be sent now; ``intended_s`` is when it became eligible.

    A named tuple rather than a frozen dataclass: one is made per call, and a frozen
    dataclass's ``__init__`` (a ``object.__setattr__`` per field) cost more than the rest
    of the schedule's bookkeeping for it."""

    call: TraceCall
    intended_s: float
    skipped: bool = False


class Schedule:
    """Due times and dependency bookkeeping for one partition's calls.

    ``after`` references to calls in the same partition are waited for like ``deps``, but
    their failure does not skip the call; those in other partitions are left to the id
    resolver.
    """

    def __init__(self, calls: Sequence[TraceCall], speedup: float) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be > 0")
        self.speedup = speedup
        self._calls = sorted(calls, key=lambda c: (c.at_s, c.id))
        local = {c.id for c in self._calls}
        self._waiting_on: dict[int, int] = {}
        # (dependent, hard): only a failed hard dependency (``deps``) skips the dependent;
        # ``after`` only orders.
        self._dependents: dict[int, list[tuple[int, bool]]] = {}
        self._by_id = {c.id: c for c in self._calls}
        for c in self._calls:
            hard = {d for d in c.deps if d in local}
            soft = {d for d in c.after if d in local} - hard
            self._waiting_on[c.id] = len(hard) + len(soft)
            for d in hard:
                self._dependents.setdefault(d, []).append((c.id, True))
            for d in soft:
                self._dependents.setdefault(d, []).append((c.id, False))
        self._cursor = 0
        self._released: set[int] = set()
        self._failed_dep: set[int] = set()
        self._done: set[int] = set()
        self.total = len(self._calls)

    def due_s(self, call: TraceCall) -> float:
        return call.at_s / self.speedup

    def next_due_s(self) -> float | None:
        """When the next not-yet-released call falls due (None when all are released)."""
        if self._cursor >= len(self._calls):
            return None
        return self.due_s(self._calls[self._cursor])

    def pop_due(self, now_s: float) -> list[Ready]:
        """Release every call due by ``now_s``; return those now eligible."""
        out: list[Ready] = []
        while self._cursor < len(self._calls):
            c = self._calls[self._cursor]
            due = self.due_s(c)
            if due > now_s:
                break
            self._cursor += 1
            self._released.add(c.id)
            if self._waiting_on[c.id] == 0:
                out.append(Ready(c, due, c.id in self._failed_dep))
        return out

    def finish(self, call_id: int, now_s: float, ok: bool) -> list[Ready]:
        """Record a finished (or skipped) call; return dependents that became eligible."""
        if call_id in self._done:
            raise ValueError(f"call {call_id} finished twice")
        self._done.add(call_id)
        out: list[Ready] = []
        for d, hard in self._dependents.get(call_id, ()):
            if not ok and hard:
                self._failed_dep.add(d)
            self._waiting_on[d] -= 1
            if self._waiting_on[d] == 0 and d in self._released:
                c = self._by_id[d]
                out.append(Ready(c, max(self.due_s(c), now_s), d in self._failed_dep))
        return out

    @property
    def finished(self) -> int:
        return len(self._done)


class Clock(Protocol):
    """Relative time since the replay origin, and a way to wait."""

    def now(self) -> float: ...

    def sleep_until(self, t_s: float) -> None: ...


#: Sends one call; returns True when it succeeded (after any retries).
Execute = Callable[[Ready], bool]
#: Runs a function concurrently (gevent.spawn in a replay, a direct call in tests).
Spawn = Callable[[Callable[[], None]], object]


@dataclass(slots=True)
class LoopStats:
    """What the dispatch loop itself observed."""

    launched: int = 0
    skipped: int = 0
    stopped_early: bool = False


def run_open_model(
    schedule: Schedule,
    clock: Clock,
    spawn: Spawn,
    execute: Execute,
    stop_at_s: float,
    idle: Callable[[], bool] = lambda: True,
    on_skip: Callable[[Ready], None] = lambda r: None,
) -> LoopStats:
    """Send every call at its due time (open model) until all finished or ``stop_at_s``.

    Each eligible call is spawned at once, whatever others are doing; a finished call
    spawns its newly eligible dependents directly.  A call whose dependency failed is
    skipped, and its own dependents in turn.  ``idle`` says whether nothing is in flight.
    """
    stats = LoopStats()

    def launch(r: Ready) -> None:
        if clock.now() >= stop_at_s:
            return  # the run is over: what was not sent stays unsent
        if r.skipped:
            stats.skipped += 1
            on_skip(r)
            for nxt in schedule.finish(r.call.id, clock.now(), False):
                launch(nxt)
            return
        stats.launched += 1

        def job() -> None:
            ok = False
            try:
                ok = execute(r)
            finally:
                for nxt in schedule.finish(r.call.id, clock.now(), ok):
                    launch(nxt)

        spawn(job)

    while True:
        now = clock.now()
        if now >= stop_at_s:
            stats.stopped_early = schedule.finished < schedule.total
            break
        for r in schedule.pop_due(now):
            launch(r)
        nxt = schedule.next_due_s()
        if nxt is None:
            if schedule.finished >= schedule.total or idle():
                stats.stopped_early = schedule.finished < schedule.total
                break
            # Everything is released; wait for what is in flight.
            clock.sleep_until(min(now + 0.05, stop_at_s))
        else:
            clock.sleep_until(min(nxt, stop_at_s))
    return stats
