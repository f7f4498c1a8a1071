"""A day with merchant cancellations, end to end: the simulator deletes the orders, the
trace sends DELETEs, the emulator fires taskDeleted, and reconciliation does not count the
deleted tasks as missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.replay.results import read_results
from loadtest.trace.format import read_trace
from loadtest.trace.onfleet import write_trace
from sim.run import simulate
from sim.scenario_io import load_scenario
from tests.fixtures.scenarios import REPO
from tests.loadtest.replay.test_end_to_end import fleetsim
from tests.loadtest.replay.test_webhook_end_to_end import require_webhooks

pytestmark = pytest.mark.slow

CANCELS = ["demand.cancel.probability=0.3", "demand.cancel.delay.mean_s=300"]


def test_cancelled_orders_are_deleted_on_the_target_and_not_missed(
    tmp_path: Path, emulator: str
) -> None:
    require_webhooks(emulator)
    sc = load_scenario(REPO / "scenarios" / "tiny.toml", CANCELS)
    run = simulate(sc, seed=7)
    deleted = int((run.events["kind"] == "taskDeleted").sum())
    assert deleted == run.kpis["tasks_cancelled"] > 0
    trace = tmp_path / "trace.jsonl"
    write_trace(run, trace)
    calls = read_trace(trace).calls
    deletes = [c for c in calls if c.op == "task.delete"]
    assert len(deletes) == deleted
    assert all(c.method == "DELETE" and "taskDeleted" in str(c.events) for c in deletes)

    out = tmp_path / "out"
    proc = fleetsim(
        "replay",
        str(trace),
        "--host",
        emulator,
        "--speedup",
        "1000",
        "--out",
        str(out),
        "--webhooks",
        "--webhook-grace",
        "15",
    )
    text = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, text
    res = read_results(out / "results.json")
    recon = res.reconciliation
    assert recon is not None and res.valid is True, text
    # every created task is accounted for: the deleted ones are not looked for
    assert recon.expected == read_trace(trace).header.counts["tasks"] - deleted
    assert recon.missing == 0 and recon.duplicated == 0
    w = res.webhooks
    assert w is not None and w.total("missing") == 0 and w.total("unexpected") == 0, text
    gone = next(e for e in w.events if e.name == "taskDeleted")
    assert gone.received == gone.expected == deleted
