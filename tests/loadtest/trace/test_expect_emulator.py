"""The trace's expected webhooks against what the emulator's state actually emits when the
tiny day is replayed into it: the same events about the same server ids, none missing and
none unexpected."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loadtest.providers.webhooks import REPLAY_ARRIVAL_THRESHOLD_M, REPLAY_ETA_THRESHOLD_S
from loadtest.trace.format import REF_PREFIX, RUN_PLACEHOLDER, read_trace
from loadtest.trace.onfleet import TraceOptions, write_trace
from tests.fixtures.scenarios import SCENARIOS

THRESHOLDS = {"taskEta": REPLAY_ETA_THRESHOLD_S, "taskArrival": REPLAY_ARRIVAL_THRESHOLD_M}


class ThresholdSink:
    """Records what a receiver registered as the replay registers would get: threshold
    triggers only within the replay's thresholds, once per task; each event keyed by the
    subject a receiver reads from its content."""

    def __init__(self) -> None:
        self.got: Counter[tuple[str, str, str]] = Counter()
        self._fired: set[tuple[str, str]] = set()

    def wants(self, provider: str, name: str) -> bool:
        return True

    def emit(
        self, provider: str, name: str, subject: str, body: Any, *, measure: float | None = None
    ) -> None:
        if name in THRESHOLDS:
            if measure is None or measure > THRESHOLDS[name] or (name, subject) in self._fired:
                return
            self._fired.add((name, subject))
        if provider == "hypertrack":
            for e in body:
                self.got[provider, name, e["data"]["order_handle"]] += 1
        elif provider == "nash":
            self.got[provider, name, body["data"]["id"]] += 1
        elif name in ("workerCreated", "workerDuty"):
            self.got[provider, name, body["workerId"]] += 1
        else:
            self.got[provider, name, body["taskId"] or subject] += 1


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def sleep_until(self, t_s: float) -> None:
        time.sleep(max(0.0, t_s - self.now()))


@pytest.mark.parametrize("mode", ["single", "batch-async"])
def test_the_emulator_emits_exactly_what_the_trace_expects(tmp_path: Path, mode: str) -> None:
    from loadtest.emulator.config import fast
    from loadtest.emulator.serve import EmulatorServer
    from loadtest.replay.executor import Executor
    from loadtest.replay.partition import _phones, _teams
    from loadtest.replay.schedule import Schedule, run_open_model
    from loadtest.replay.stats import Recorder
    from loadtest.replay.transports import HttpxTransport
    from loadtest.replay.wire import Targets
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    scenario = load_scenario(SCENARIOS / "tiny.toml", [f"submission.mode={mode}"])
    path = tmp_path / "trace.jsonl"
    opts = TraceOptions(providers=("onfleet", "hypertrack", "nash"))
    write_trace(simulate(scenario, seed=7), path, opts)
    trace = read_trace(path)
    sink = ThresholdSink()
    server = EmulatorServer(fast())
    url = server.start()
    transport = HttpxTransport()
    try:
        server.config.app.state.emulator.rt.events = sink  # type: ignore[attr-defined]
        rec, clock, run = Recorder(), Clock(), f"expect{mode.replace('-', '')}"
        ex = Executor(
            transport,
            Targets.build(url, env={}),
            clock,
            time.sleep,
            rec,
            run,
            int(time.time() * 1000),
            speedup=1e6,  # as fast as it goes: ordering comes from deps and after alone
            phones=_phones(trace),
            teams=_teams(trace),
        )
        sched = Schedule(list(trace.calls), 1e6)
        run_open_model(sched, clock, lambda fn: fn(), ex.execute, 60.0, on_skip=ex.skip)
        assert rec.counters["ok"] == len(trace.calls), rec.counters
    finally:
        transport.close()
        server.stop()
    want: Counter[tuple[str, str, str]] = Counter()
    for c in trace.calls:
        for e in c.events:
            s = e.subject
            if s.startswith(REF_PREFIX):
                s = ex.ids.get(s.removeprefix(REF_PREFIX)) or s
            want[c.provider, e.event, s.replace(RUN_PLACEHOLDER, run)] += 1
    assert sum(want.values()) > 250
    assert dict(want - sink.got) == {}, "missing"
    assert dict(sink.got - want) == {}, "unexpected"
