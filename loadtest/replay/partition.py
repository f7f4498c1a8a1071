"""Running one partition of a trace under gevent (inside a Locust process).

Concepts held here: :class:`ReplayPlan` (what a process replays: its partition, the
shared time origin, the run id), :class:`GeventClock` and :class:`PartitionRun` (the
open-model loop of :mod:`loadtest.replay.schedule` with a greenlet per call, in
:class:`loadtest.replay.flights.Flights`, CPU sampling and a stop switch).  Imports gevent
but never Locust, and is never imported by the simulator or the emulator.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import gevent
import psutil

from loadtest.replay.executor import Executor
from loadtest.replay.flights import Flights
from loadtest.replay.retry import RetryPolicy
from loadtest.replay.saturation import SAMPLE_EVERY_S, CpuSampler
from loadtest.replay.scale import copy_run_ids, tag_task
from loadtest.replay.schedule import LoopStats, Schedule, partition, run_open_model
from loadtest.replay.stats import Recorder
from loadtest.replay.wire import Targets, Transport
from loadtest.trace import ops
from loadtest.trace.format import Trace, TraceCall, read_trace
from sim.submission import ClientLimiter

#: The replay's client-side limiter runs at this share of the trace's pacing [inf].  A
#: target's rolling window counts arrivals, and the load generator's and the network's
#: jitter bunch them: a client spaced at exactly the limit is refused whenever two calls
#: bunch.  With 15% headroom a paced trace meets a matching limit with under 1% 429s.
PACING_HEADROOM = 0.85

MAX_IN_FLIGHT = 5000


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What one process replays; every process of a run gets the same t0 and run id."""

    trace: str
    speedup: float
    run_id: str
    t0_epoch: float
    index: int = 0
    parts: int = 1
    run_time_s: float = 3600.0
    skip_ops: tuple[str, ...] = ()
    #: ``--scale``: copies of the day replayed side by side (:mod:`loadtest.replay.scale`).
    scale: int = 1


@lru_cache(maxsize=2)
def load_trace(path: str) -> Trace:
    return read_trace(Path(path))


def select_calls(trace: Trace, plan: ReplayPlan) -> list[TraceCall]:
    calls = [c for c in trace.calls if not any(fnmatch.fnmatch(c.op, pat) for pat in plan.skip_ops)]
    return partition(calls, plan.parts, plan.index)


class GeventClock:
    """Seconds since the shared origin (wall-clock t0, kept on the monotonic clock)."""

    def __init__(self, t0_epoch: float) -> None:
        self._origin = time.monotonic() + (t0_epoch - time.time())

    def now(self) -> float:
        return time.monotonic() - self._origin

    def sleep_until(self, t_s: float) -> None:
        d = t_s - self.now()
        gevent.sleep(d if d > 0 else 0)


@dataclass(slots=True)
class PartitionRun:
    """One process's share of a replay."""

    plan: ReplayPlan
    transport: Transport
    targets: Targets
    recorder: Recorder
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    pool: Flights = field(default_factory=lambda: Flights(MAX_IN_FLIGHT))
    stopping: bool = False
    finished: bool = False
    cpu_peak_pct: float = 0.0
    cpu: CpuSampler = field(default_factory=CpuSampler)
    stats: LoopStats | None = None

    def run(self) -> LoopStats:
        trace = load_trace(self.plan.trace)
        calls = select_calls(trace, self.plan)
        copies = copy_run_ids(self.plan.run_id, self.plan.scale)
        self.recorder.count("planned", len(calls) * len(copies))
        clock = GeventClock(self.plan.t0_epoch)
        phones, teams = _phones(trace), _teams(trace)
        executors = []
        for k, run_id in enumerate(copies):
            executor = Executor(
                transport=self.transport,
                targets=self.targets,
                clock=clock,
                sleep=gevent.sleep,
                recorder=self.recorder,
                run_id=run_id,
                wall_t0_ms=int(self.plan.t0_epoch * 1000),
                speedup=self.plan.speedup,
                policy=self.policy,
                lookup_remote=self.plan.parts > 1,
                phones=phones,
                teams=teams,
                task_tag=tag_task(k, 0) if len(copies) > 1 else 0,
            )
            # The trace's client-side pacing, per simulated second, shared among the
            # processes, with headroom for the jitter a rolling window sees
            # (PACING_HEADROOM); each copy is its own client with its own limiter.
            for provider, rate in trace.header.pacing.items():
                wall_rate = PACING_HEADROOM * rate * self.plan.speedup / self.plan.parts
                executor.limiters[provider] = ClientLimiter(wall_rate)
            if self.recorder.webhooks:
                executor.ids.journal = self.recorder.wh_refs
            executors.append(executor)
        schedules = [Schedule(calls, self.plan.speedup) for _ in executors]
        sampler = gevent.spawn(self._sample_cpu)

        def loop(executor: Executor, schedule: Schedule) -> LoopStats:
            return run_open_model(
                schedule,
                _StoppableClock(clock, self),
                self.pool.spawn,
                executor.execute,
                stop_at_s=self.plan.run_time_s,
                idle=lambda: len(self.pool) == 0,
                on_skip=executor.skip,
            )

        with frozen_heap():
            try:
                if len(executors) == 1:
                    self.stats = loop(executors[0], schedules[0])
                else:  # one dispatch loop per copy, side by side
                    loops = [
                        gevent.spawn(loop, e, s) for e, s in zip(executors, schedules, strict=True)
                    ]
                    gevent.joinall(loops, raise_error=True)
                    self.stats = LoopStats(
                        launched=sum(g.value.launched for g in loops),
                        skipped=sum(g.value.skipped for g in loops),
                        stopped_early=any(g.value.stopped_early for g in loops),
                    )
            finally:
                sampler.kill(block=False)
                self.pool.close()
                self.finished = True
        return self.stats

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop dispatching; give in-flight calls ``grace_s`` to finish."""
        self.stopping = True
        self.pool.join(timeout=grace_s)

    def _sample_cpu(self) -> None:
        proc = psutil.Process()
        proc.cpu_percent(None)
        gevent.sleep(2.0)  # startup (imports, reading the trace) is not the replay
        proc.cpu_percent(None)
        while True:
            gevent.sleep(SAMPLE_EVERY_S)
            pct = proc.cpu_percent(None)
            self.cpu.samples.append(pct)
            self.cpu_peak_pct = max(self.cpu_peak_pct, pct)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """While the day runs, full collections skip everything made before it.

    The trace, its schedules and Locust's own objects are hundreds of thousands of
    objects that live for the whole run (a 60,000-call trace: ~375,000), and a full
    collection walks them all: measured at ~0.5 s on a shared machine, stopping every
    greenlet, which the schedule lag's tail then shows.  ``gc.freeze()`` moves them to
    the permanent generation; the samples gathered during the day are floats, ints and
    strings, which the collector does not track.  Unfrozen at the end, so a later test in
    the same process (web UI) can collect this one's schedules; with runs side by side
    in one process (two environments), when the last one ends.
    """
    _frozen[0] += 1
    gc.freeze()
    try:
        yield
    finally:
        _frozen[0] -= 1
        if _frozen[0] == 0:
            gc.unfreeze()


#: How many runs of this process are inside :func:`frozen_heap`.
_frozen = [0]


class _StoppableClock:
    """A clock whose time jumps to the end once the run is asked to stop."""

    def __init__(self, clock: GeventClock, run: PartitionRun) -> None:
        self._clock = clock
        self._run = run

    def now(self) -> float:
        return float("inf") if self._run.stopping else self._clock.now()

    def sleep_until(self, t_s: float) -> None:
        # Wake at least every 0.25 s to notice a stop request.
        self._clock.sleep_until(min(t_s, self._clock.now() + 0.25))


def _phones(trace: Trace) -> dict[int, str]:
    return {
        c.worker: str(c.body.get("phone"))
        for c in trace.calls
        if c.op == ops.WORKER_CREATE.name and isinstance(c.body, dict)
    }


def _teams(trace: Trace) -> dict[int, str]:
    out = {}
    for c in trace.calls:
        if c.op == ops.TEAM_CREATE.name and c.defines.startswith("team:"):
            out[int(c.defines.split(":")[1])] = str(c.body.get("name"))
    return out
