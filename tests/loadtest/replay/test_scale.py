"""``fleetsim replay --scale N``: copies side by side, each reconciled by its own run id."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loadtest.replay.launch import ReplayOptions, locust_command
from loadtest.replay.partition import ReplayPlan
from loadtest.replay.protocol import plan_from_message, plan_to_message
from loadtest.replay.results import read_results
from loadtest.replay.scale import (
    TASK_STRIDE,
    copy_run_ids,
    reconcile_copies,
    split_tasks,
    tag_task,
)
from loadtest.replay.webhooks.options import WebhookOptions
from loadtest.replay.wire import HttpResult
from loadtest.trace.format import read_trace
from sim.errors import UserError


def test_copy_run_ids_are_distinct_and_one_copy_keeps_the_run_id() -> None:
    assert copy_run_ids("tiny-ab", 1) == ["tiny-ab"]
    ids = copy_run_ids("tiny-ab", 3)
    assert ids == ["tiny-ab-x1", "tiny-ab-x2", "tiny-ab-x3"]


def test_tagged_tasks_split_back_by_copy() -> None:
    tagged = [tag_task(0, 5), tag_task(2, 5), tag_task(2, 7), tag_task(1, 0)]
    assert split_tasks(tagged) == {0: {5}, 1: {0}, 2: {5, 7}}
    assert tag_task(1, 3) == TASK_STRIDE + 3


def _task(run: str, n: int) -> dict[str, object]:
    return {
        "id": f"{run}-{n}",
        "metadata": [
            {"name": "fleetsim_run", "type": "string", "value": run},
            {"name": "fleetsim_task", "type": "number", "value": n},
        ],
    }


def _getter(tasks: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    def get(provider: str, path: str, name: str) -> HttpResult:
        return HttpResult(200, {}, orjson.dumps({"tasks": tasks}))

    return get


def test_reconcile_copies_counts_each_copy_by_its_run_id() -> None:
    ids = copy_run_ids("r", 3)
    # copy 1 has task 1 twice, copy 2 lacks task 2, another run's task 1 is not counted
    listed = [_task(ids[0], 1), _task(ids[0], 2), _task(ids[1], 1), _task(ids[1], 1)]
    listed += [_task(ids[1], 2), _task(ids[2], 1), _task("other", 2)]
    expected = [tag_task(k, t) for k in range(3) for t in (1, 2)]
    rec = reconcile_copies(_getter(listed), "r", 3, expected, [], 0)
    assert (rec.expected, rec.created, rec.missing, rec.duplicated) == (6, 5, 1, 1)
    assert rec.copies == tuple(ids) and rec.listed == 7
    # a deleted task of copy 2 is no longer looked for
    rec = reconcile_copies(_getter(listed), "r", 3, expected, [tag_task(2, 2)], 0)
    assert (rec.expected, rec.missing) == (5, 0)
    assert rec.to_json()["copies"] == list(ids)


def test_reconcile_copies_reports_an_unreadable_target() -> None:
    def get(provider: str, path: str, name: str) -> HttpResult:
        return HttpResult(401, {}, b"{}")

    rec = reconcile_copies(get, "r", 2, [tag_task(0, 1), tag_task(1, 1)], [], 0)
    assert rec.created is None and rec.expected == 2 and "unauthorised" in rec.error


def test_plan_carries_the_scale_over_the_wire() -> None:
    plan = ReplayPlan("t.jsonl", 2.0, "r", 1.0, scale=4)
    assert plan_from_message(plan_to_message(plan)).scale == 4


def test_bad_scale_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--scale 0"):
        ReplayOptions(trace=tmp_path / "t", host="http://127.0.0.1:1", scale=0)
    with pytest.raises(UserError, match="--webhooks"):
        ReplayOptions(
            trace=tmp_path / "t",
            host="http://127.0.0.1:1",
            scale=2,
            webhooks=WebhookOptions(enabled=True),
        )
    cmd = locust_command(ReplayOptions(trace=tmp_path / "t", host="http://x:1", scale=3), 10.0)
    assert cmd[cmd.index("--scale") + 1] == "3"


@pytest.mark.slow
def test_scale_three_reconciles_every_copy(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path]
) -> None:
    trace = tiny_traces["batch"]
    out = tmp_path / "out"
    args = ("--speedup", "1000", "--scale", "3", "--out", str(out))
    proc = subprocess.run(
        [sys.executable, "-m", "fleetsim.cli", "replay", str(trace), "--host", emulator, *args],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = read_results(out / "results.json")
    head = read_trace(trace).header
    recon = res.reconciliation
    assert recon is not None and recon.error == ""
    assert recon.expected == 3 * head.counts["tasks"]
    assert recon.created == recon.expected
    assert recon.missing == 0 and recon.duplicated == 0
    assert len(recon.copies) == 3 and len(set(recon.copies)) == 3
    assert all(c.startswith(res.run_id + "-x") for c in recon.copies)
    assert res.calls.planned == 3 * head.counts["calls"]
    assert res.calls.sent == res.calls.planned and res.calls.failed == 0
    assert res.valid
