"""Trace round trip, validation and the dependency rules of the writer."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest

from loadtest.trace.format import call_to_json, iter_refs, read_trace
from loadtest.trace.onfleet import TraceOptions, build_trace, write_trace
from loadtest.trace.summary import format_summary, summarize
from sim.errors import UserError
from tests.fixtures.runs import SyntheticRun, make_day


@pytest.mark.parametrize("mode", ["single", "batch", "batch-async"])
def test_round_trip_keeps_every_call(tmp_path: Path, mode: str) -> None:
    day = make_day(mode)
    header, calls = build_trace(day)
    path = tmp_path / "trace.jsonl"
    write_trace(day, path)
    back = read_trace(path)
    assert back.header == header
    assert [call_to_json(c) for c in back.calls] == [call_to_json(c) for c in calls]
    assert back.header.counts["tasks"] == 6 and back.header.counts["workers"] == 2


def test_header_first_then_one_call_per_line(tmp_path: Path, day: SyntheticRun) -> None:
    path = tmp_path / "trace.jsonl"
    write_trace(day, path)
    lines = path.read_bytes().splitlines()
    head = orjson.loads(lines[0])
    assert head["format"] == "fleetsim-trace" and head["version"] == 1
    assert head["start_epoch_ms"] == day.meta["start_epoch_ms"]
    assert len(lines) - 1 == head["counts"]["calls"]


def test_calls_are_in_time_order_and_deps_come_first(day: SyntheticRun) -> None:
    _, calls = build_trace(day)
    pos = {c.id: i for i, c in enumerate(calls)}
    assert [c.at_s for c in calls] == sorted(c.at_s for c in calls)
    for c in calls:
        for d in (*c.deps, *c.after):
            assert pos[d] < pos[c.id]
            assert calls[pos[d]].at_s <= c.at_s


def test_task_lifecycle_is_a_chain(day: SyntheticRun) -> None:
    _, calls = build_trace(day)
    by_id = {c.id: c for c in calls}
    task1 = [c for c in calls if 1 in c.tasks]
    ops = [c.op for c in task1]
    assert ops == ["task.create", "task.assign", "driver.start", "task.complete"]
    for prev, nxt in itertools.pairwise(task1):
        assert prev.id in nxt.deps
    # The dropoff (task 1) starts only after its pickup (task 0) completed.
    start1 = task1[2]
    complete0 = next(c for c in calls if c.op == "task.complete" and c.tasks == (0,))
    assert complete0.id in start1.deps
    # ...and its creation refers to the pickup's server id.
    assert "task:0" in set(iter_refs(task1[0].body))
    assert by_id[task1[0].deps[0]].tasks == (0,)


def test_failure_and_notes_travel(day: SyntheticRun) -> None:
    _, calls = build_trace(day)
    done = [c for c in calls if c.op == "task.complete"]
    failed = [c for c in done if not c.body["completionDetails"]["success"]]
    assert len(done) == 6 and len(failed) == 1
    assert "NO_ANSWER" in failed[0].body["completionDetails"]["notes"]


def test_references_travel_in_metadata(day: SyntheticRun) -> None:
    _, calls = build_trace(day)
    create = next(c for c in calls if c.op == "task.create")
    names = {m["name"]: m["value"] for m in create.body["metadata"]}
    assert names == {"fleetsim_task": create.tasks[0], "fleetsim_run": "$run"}


def test_batch_async_is_followed_by_a_status_poll(tmp_path: Path) -> None:
    _, calls = build_trace(make_day("batch-async"))
    submit = next(c for c in calls if c.op == "task.batch_async")
    status = next(c for c in calls if c.op == "task.batch_status")
    assert submit.defines == "job:0" and status.params == {"jobId": "$ref:job:0"}
    assert status.deps == (submit.id,) and status.poll_s > 0
    assert status.name == "GET /api/v2/tasks/batch/{jobId}"
    # Dependencies inside one batch cannot be ids yet: they are set afterwards.
    setdeps = [c for c in calls if c.op == "task.set_dependencies"]
    assert len(setdeps) == 3 and all(status.id in c.deps for c in setdeps)


def test_families_split_independent_orders() -> None:
    _, calls = build_trace(make_day("single", orders=4))
    fams = {c.family for c in calls if c.tasks}
    assert len(fams) == 4
    for c in calls:
        for d in c.deps:
            assert next(x for x in calls if x.id == d).family == c.family


def test_partner_providers_are_selectable_and_unknown_ones_refused() -> None:
    opts = TraceOptions(providers=("onfleet", "hypertrack", "nash", "deftship"))
    _, calls = build_trace(make_day("batch"), opts)
    assert {c.provider for c in calls} == {"onfleet", "hypertrack", "nash", "deftship"}
    ops = [c.op for c in calls if c.provider == "deftship"]
    assert ops == [
        "deftship.batch_create",
        "deftship.wait_ready",
        "deftship.ship",
        "deftship.wait_shipped",
    ]
    (job,) = [c for c in calls if c.op == "nash.batch_job"]
    assert len(job.body["packages"]) == 3  # one per order with a pickup and a dropoff
    assert "$run" in job.body["externalIdentifier"]  # idempotent per replay
    ht = [c.op for c in calls if c.provider == "hypertrack"]
    assert ht.count("order.track") == 3 and ht.count("order.complete") == 2
    with pytest.raises(UserError, match="providers"):
        TraceOptions(providers=("doordash",))
    with pytest.raises(UserError, match="providers"):
        TraceOptions(providers=("nash",))


def test_reader_names_file_and_line(tmp_path: Path, day: SyntheticRun) -> None:
    path = tmp_path / "trace.jsonl"
    write_trace(day, path)
    lines = path.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], lines[2], lines[1]]) + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:2: call 1 depends on \[0\]"):
        read_trace(bad)
    head = orjson.loads(lines[0])
    head["version"] = 99
    bad.write_text(orjson.dumps(head).decode() + "\n")
    with pytest.raises(UserError, match="version 99 is not supported"):
        read_trace(bad)
    bad.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(UserError, match=r"bad.jsonl:2: invalid JSON"):
        read_trace(bad)


def test_summary_counts_ops_and_batches(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    write_trace(make_day("batch"), path)
    trace = read_trace(path)
    s = summarize(trace)
    assert s.by_op["task.batch"] == 1 and s.batch_sizes == [6]
    assert s.peak_calls_per_s >= 1
    text = format_summary(trace, s)
    assert "task.complete" in text and "batches: 1" in text


def test_writes_a_trace_for_the_real_tiny_scenario(tmp_path: Path) -> None:
    run = pytest.importorskip("sim.run")
    from sim.scenario_io import load_scenario

    scenario = load_scenario(Path("scenarios/tiny.toml"), ["submission.mode=batch"])
    result = run.simulate(scenario, seed=7)
    write_trace(result, tmp_path / "trace.jsonl")
    trace = read_trace(tmp_path / "trace.jsonl")
    created = {t for c in trace.calls if c.op == "task.batch" for t in c.tasks}
    assert created == set(result.tasks["task_id"])
    assert all(len(c.tasks) <= 500 for c in trace.calls if c.op == "task.batch")
