"""Expected webhooks: each call carries the events its success causes, checked against the
simulator's own tables for the tiny scenario, and the predictor's rules one by one."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.providers.webhooks import EVENTS_BY_OP
from loadtest.trace.expect import Predictor, count_events
from loadtest.trace.format import ExpectedEvent, TraceCall, read_trace
from loadtest.trace.onfleet import KNOWN_PROVIDERS, TraceOptions, build_trace, write_trace
from loadtest.trace.summary import format_summary, summarize
from sim.errors import UserError
from tests.fixtures.runs import make_day
from tests.fixtures.scenarios import SCENARIOS

ALL = TraceOptions(providers=KNOWN_PROVIDERS)


@pytest.fixture(scope="module")
def tiny() -> dict[str, tuple[Any, list[TraceCall]]]:
    """The tiny scenario's result and its trace (every provider) in each submission mode."""
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    out = {}
    for mode in ("single", "batch", "batch-async"):
        result = simulate(load_scenario(SCENARIOS / "tiny.toml", [f"submission.mode={mode}"]), 7)
        out[mode] = (result, build_trace(result, ALL)[1])
    return out


def _by_event(calls: list[TraceCall], provider: str = "onfleet") -> dict[str, list[str]]:
    """Event name -> subjects, in send order."""
    out: dict[str, list[str]] = {}
    for c in calls:
        if c.provider == provider:
            for e in c.events:
                out.setdefault(e.event, []).append(e.subject)
    return out


def _refs(ids: Any, kind: str = "task") -> list[str]:
    return sorted(f"$ref:{kind}:{int(i)}" for i in ids)


def test_single_mode_task_events_match_the_simulator(tiny: Any) -> None:
    result, calls = tiny["single"]
    tasks, ev = result.tasks, _by_event(calls)
    assert sorted(ev["taskCreated"]) == _refs(tasks.task_id)  # exactly one per task
    done = tasks[tasks.state == 3]
    assert sorted(ev["taskCompleted"]) == _refs(done.task_id[done.success])
    assert sorted(ev["taskFailed"]) == _refs(done.task_id[~done.success])
    started = tasks.task_id[tasks.started_s.notna()]
    arrived = tasks.task_id[tasks.arrived_s.notna()]
    assert sorted(ev["taskStarted"]) == sorted(ev["taskEta"]) == _refs(started)
    assert sorted(ev["taskArrival"]) == _refs(arrived)
    assert sorted(ev["workerCreated"]) == _refs(result.workers.worker_id, "worker")
    duty = result.events[result.events.kind == "workerDuty"]
    assert sorted(ev["workerDuty"]) == _refs(duty.worker_id, "worker")
    sim_kinds = Counter(result.events.kind)
    assert len(ev["taskAssigned"]) == sim_kinds["taskAssigned"]
    assert len(ev.get("taskUnassigned", [])) == sim_kinds["taskUnassigned"]
    assert "taskUpdated" not in ev and "taskBatchCreateJobCompleted" not in ev


def test_one_task_s_events_fire_in_its_life_s_order(tiny: Any) -> None:
    _, calls = tiny["single"]
    per_task: dict[str, list[str]] = {}
    for c in calls:
        for e in c.events:
            if c.provider == "onfleet" and e.subject.startswith("$ref:task:"):
                per_task.setdefault(e.subject, []).append(e.event)
    life = ["taskCreated", "taskAssigned", "taskStarted", "taskEta", "taskArrival"]
    complete = [seq for seq in per_task.values() if seq[-1] in ("taskCompleted", "taskFailed")]
    assert complete and all(seq[:-1] == life for seq in complete)


def test_batch_modes_fire_no_task_created_and_one_job_event_per_async_job(tiny: Any) -> None:
    for mode in ("batch", "batch-async"):
        result, calls = tiny[mode]
        ev = _by_event(calls)
        assert "taskCreated" not in ev
        assert sorted(ev["taskCompleted"] + ev["taskFailed"]) == _refs(
            result.tasks.task_id[result.tasks.state == 3]
        )
        setdeps = [c for c in calls if c.op == "task.set_dependencies"]
        assert [e.event for c in setdeps for e in c.events] == ["taskUpdated"] * len(setdeps)
    _, calls = tiny["batch-async"]
    jobs = [c for c in calls if c.op == "task.batch_async"]
    assert jobs and all(
        c.events == (ExpectedEvent("taskBatchCreateJobCompleted", "$ref:" + c.defines),)
        for c in jobs
    )
    assert not any(c.events for c in calls if c.op in ("task.batch", "task.batch_status"))
    assert "taskBatchCreateJobCompleted" not in _by_event(tiny["batch"][1])


def test_hypertrack_and_nash_expectations(tiny: Any) -> None:
    _, calls = tiny["batch"]
    for c in calls:
        if c.op == "order.track":
            handles = [o["order_handle"] for o in c.body["orders"]]
            assert handles and all("$run" in h for h in handles)
            assert c.events == tuple(
                ExpectedEvent(v, h) for v in ("assigned", "started") for h in handles
            )
        elif c.op in ("order.complete", "order.cancel"):
            value = "completed" if c.op == "order.complete" else "cancelled"
            assert c.events == (ExpectedEvent(value, c.params["orderHandle"]),)
        elif c.op == "nash.batch_job":
            assert c.events == (ExpectedEvent("delivery.created", f"$ref:{c.defines}"),)
        elif c.provider == "deftship" or c.op == "nash.job_get":
            assert c.events == ()
    ht = _by_event(calls, "hypertrack")
    assert len(ht["completed"]) + len(ht["cancelled"]) == len(ht["assigned"])


def test_split_nash_jobs_each_expect_their_own_event() -> None:
    from loadtest.providers import nash

    opts = TraceOptions(providers=("onfleet", "nash"))
    _, calls = build_trace(make_day("batch", orders=nash.MAX_PACKAGES + 3), opts)
    subjects = [e.subject for c in calls if c.op == "nash.batch_job" for e in c.events]
    assert subjects == ["$ref:nashjob:0", "$ref:nashjob:0.1"]


def test_every_subject_refers_to_an_object_an_earlier_call_created(tiny: Any) -> None:
    for _, calls in tiny.values():
        known: set[str] = set()
        for c in calls:
            if c.defines:
                known.add(c.defines)
            if c.op in ("task.batch", "task.batch_async") or c.op == "task.create":
                known.update(f"task:{t}" for t in c.tasks)
            for e in c.events:
                if e.subject.startswith("$ref:"):
                    assert e.subject.removeprefix("$ref:") in known, (c.id, e)


def test_ops_outside_the_table_cause_nothing(tiny: Any) -> None:
    for _, calls in tiny.values():
        for c in calls:
            if c.op not in EVENTS_BY_OP or not EVENTS_BY_OP[c.op]:
                assert c.events == (), c


def test_without_the_driver_app_the_driver_events_go_with_their_calls() -> None:
    _, calls = build_trace(make_day("single"), TraceOptions(driver_app=False))
    ev = _by_event(calls)
    assert not {"taskStarted", "taskEta", "taskArrival", "workerDuty"} & set(ev)
    assert len(ev["taskCreated"]) == 6 and len(ev["taskCompleted"]) == 5


def test_round_trip_keeps_events_and_header_totals(tmp_path: Path) -> None:
    day = make_day("batch-async")
    header, calls = build_trace(day, ALL)
    path = tmp_path / "trace.jsonl"
    write_trace(day, path, ALL)
    back = read_trace(path)
    assert [c.events for c in back.calls] == [c.events for c in calls]
    assert back.header.events == header.events == count_events(calls)
    assert header.events["onfleet"]["taskBatchCreateJobCompleted"] == 1
    assert set(header.events) == {"onfleet", "nash", "hypertrack"}  # never Deftship
    lines = path.read_bytes().splitlines()
    creates = [orjson.loads(x) for x in lines[1:] if b'"team.create"' in x]
    assert creates and all("events" not in c for c in creates)  # nothing caused: no field


def test_old_traces_without_events_still_read(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    write_trace(make_day("single"), path)
    old = []
    for line in path.read_bytes().splitlines():
        obj = orjson.loads(line)
        obj.pop("events", None)
        old.append(orjson.dumps(obj))
    path.write_bytes(b"\n".join(old) + b"\n")
    trace = read_trace(path)
    assert trace.header.events == {} and all(c.events == () for c in trace.calls)
    assert "expected webhooks: none" in format_summary(trace, summarize(trace))


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ("taskCompleted", "field 'events' must be a list"),
        ([{"event": "taskCompleted"}], r"events\[0\] = .* must be"),
        ([{"event": "taskCompleted", "subject": 7}], r"events\[0\] = .* must be"),
        ([{"event": "taskCompleted", "subject": ""}], r"events\[0\] = .* must be"),
        (
            [{"event": "taskCompleted", "subject": "$ref:task:1", "x": 1}],
            r"events\[0\] = .* must be",
        ),
        (
            [{"event": "delivered", "subject": "$ref:task:1"}],
            r"events\[0\]: 'delivered' is not a webhook event of provider 'onfleet'",
        ),
    ],
)
def test_a_malformed_events_entry_is_refused_naming_the_line(
    tmp_path: Path, events: Any, message: str
) -> None:
    path = tmp_path / "trace.jsonl"
    write_trace(make_day("single"), path)
    lines = path.read_bytes().splitlines()
    no = next(i for i, x in enumerate(lines) if b'"task.complete"' in x)
    obj = orjson.loads(lines[no])
    obj["events"] = events
    lines[no] = orjson.dumps(obj)
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(UserError, match=rf"trace.jsonl:{no + 1}: {message}"):
        read_trace(path)


def test_events_on_a_provider_without_webhooks_or_a_bad_header_total_are_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trace.jsonl"
    write_trace(make_day("batch"), path, TraceOptions(providers=("onfleet", "deftship")))
    lines = path.read_bytes().splitlines()
    no = next(i for i, x in enumerate(lines) if b'"deftship.ship"' in x)
    obj = orjson.loads(lines[no])
    obj["events"] = [{"event": "shipped", "subject": "$ref:deftbatch:0"}]
    bad = [*lines[:no], orjson.dumps(obj), *lines[no + 1 :]]
    path.write_bytes(b"\n".join(bad) + b"\n")
    with pytest.raises(UserError, match=rf":{no + 1}: .*'shipped'.*provider 'deftship'"):
        read_trace(path)
    head = orjson.loads(lines[0])
    head["events"] = {"onfleet": {"taskCompleted": -1}}
    path.write_bytes(b"\n".join([orjson.dumps(head), *lines[1:]]) + b"\n")
    with pytest.raises(UserError, match=r"trace.jsonl:1: field 'events'"):
        read_trace(path)


def test_the_same_run_writes_the_same_bytes(tmp_path: Path) -> None:
    day = make_day("batch-async")
    write_trace(day, tmp_path / "a.jsonl", ALL)
    write_trace(day, tmp_path / "b.jsonl", ALL)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_summary_prints_expected_webhooks_per_provider_and_event(tiny: Any) -> None:
    from loadtest.trace.format import Trace, TraceHeader

    _, calls = tiny["batch-async"]
    trace = Trace(TraceHeader("tiny", 7, 0, 1.0, KNOWN_PROVIDERS, "batch-async", {}), tuple(calls))
    s = summarize(trace)
    text = format_summary(trace, s)
    n = s.events["onfleet"]["taskBatchCreateJobCompleted"]
    assert n == sum(c.op == "task.batch_async" for c in calls)
    assert "expected webhooks:" in text and "  nash (1):" in text
    assert any(
        line.split() == ["taskBatchCreateJobCompleted", str(n)] for line in text.splitlines()
    )


# -- the predictor's rules, one at a time ----------------------------------------------


def _ev(p: Predictor, op: str, **kw: Any) -> list[str]:
    call = {"params": {}, "body": None, "tasks": (), "worker": -1, "defines": ""} | kw
    return [e.event for e in p.events(op, **call)]


def _started(p: Predictor, location: list[float] | None) -> list[str]:
    body: dict[str, Any] = {"onDuty": True}
    if location is not None:
        body["location"] = location
    _ev(p, "worker.create", worker=0, defines="worker:0")
    _ev(p, "task.create", tasks=(5,), defines="task:5", body={"destination": DEST})
    _ev(p, "driver.duty", worker=0, body=body, params={"workerId": "$ref:worker:0"})
    _ev(p, "task.assign", tasks=(5,), body={"container": {"type": "WORKER", "worker": "w0"}})
    return _ev(p, "driver.start", tasks=(5,), worker=0, params={"taskId": "$ref:task:5"})


DEST = {"location": [-73.98, 40.75]}


def test_duty_fires_only_when_it_changes() -> None:
    p = Predictor()
    _ev(p, "worker.create", worker=3, defines="worker:3")
    duty = {"worker": 3, "params": {"workerId": "$ref:worker:3"}}
    assert _ev(p, "driver.duty", body={"onDuty": False}, **duty) == []  # created off duty
    assert _ev(p, "driver.duty", body={"onDuty": True}, **duty) == ["workerDuty"]
    assert _ev(p, "driver.duty", body={"onDuty": True}, **duty) == []
    assert _ev(p, "driver.duty", body={"onDuty": False}, **duty) == ["workerDuty"]


def test_eta_at_start_needs_a_known_location_else_it_comes_with_the_next_move() -> None:
    p = Predictor()
    assert _started(p, [-73.99, 40.74]) == ["taskStarted", "taskEta"]
    q = Predictor()
    assert _started(q, None) == ["taskStarted"]
    near = {"location": [-73.9801, 40.7501]}  # about 14 m from the destination
    assert _ev(q, "driver.move", worker=0, body=near) == ["taskEta", "taskArrival"]


def test_arrival_only_within_the_threshold_once_and_for_the_active_task() -> None:
    p = Predictor()
    _started(p, [-73.99, 40.74])
    far = {"location": [-73.99, 40.74]}  # about 1.4 km away
    assert _ev(p, "driver.move", worker=0, body=far) == []
    at = {"location": [-73.98, 40.75]}
    assert _ev(p, "driver.move", worker=0, body=at) == ["taskArrival"]
    assert _ev(p, "driver.move", worker=0, body=at) == []  # once per task
    done = {"completionDetails": {"success": True}}
    assert _ev(p, "task.complete", tasks=(5,), body=done) == ["taskCompleted"]
    assert _ev(p, "driver.move", worker=0, body=at) == []  # no active task any more
    assert _ev(p, "driver.move", worker=1, body=at) == []  # a worker with none
    failed = {"completionDetails": {"success": False, "notes": "x"}}
    assert _ev(p, "task.complete", tasks=(5,), body=failed) == ["taskFailed"]
    assert math.isclose(p.dest[5][0], 40.75)


def test_container_changes_fire_assigned_and_unassigned_only_when_they_change() -> None:
    p = Predictor()
    to = {"container": {"type": "WORKER", "worker": "$ref:worker:1"}}
    org = {"container": {"type": "ORGANIZATION"}}
    assert _ev(p, "task.unassign", tasks=(1,), body=org) == []  # never assigned
    assert _ev(p, "task.assign", tasks=(1,), body=to) == ["taskAssigned"]
    assert _ev(p, "task.assign", tasks=(1,), body=to) == []  # same worker
    other = {"container": {"type": "WORKER", "worker": "$ref:worker:2"}}
    assert _ev(p, "task.assign", tasks=(1,), body=other) == ["taskAssigned"]
    assert _ev(p, "task.unassign", tasks=(1,), body=org) == ["taskUnassigned"]
    # Created in a worker's container: taskCreated only, and assigning it there again is
    # no change.
    body = {"destination": DEST, **to}
    assert _ev(p, "task.create", tasks=(2,), defines="task:2", body=body) == ["taskCreated"]
    assert _ev(p, "task.assign", tasks=(2,), body=to) == []
    auto = {"destination": DEST, "autoAssign": {"mode": "distance"}}
    assert _ev(p, "task.create", tasks=(3,), defines="task:3", body=auto) == ["taskCreated"]


def test_the_writer_never_creates_tasks_already_assigned(tiny: Any) -> None:
    """So every traced ``task.assign`` of a new task is a change, and predicts taskAssigned."""
    for _, calls in tiny.values():
        for c in calls:
            if c.op == "task.create":
                assert "container" not in c.body and "autoAssign" not in c.body
            elif c.op in ("task.batch", "task.batch_async"):
                assert not any("container" in t or "autoAssign" in t for t in c.body["tasks"])


def test_the_rules_cover_exactly_the_shared_table(tiny: Any) -> None:
    from loadtest.trace.expect import _RULES

    assert {op for op, names in EVENTS_BY_OP.items() if names} <= set(_RULES) <= set(EVENTS_BY_OP)
    # Each call fires only what the table allows it (the complete's alternative, and the
    # taskEta a move carries for a start made before the worker's location was known).
    extra = {"task.complete": {"taskFailed"}, "driver.move": {"taskEta"}}
    for _, calls in tiny.values():
        for c in calls:
            names = {e.event for e in c.events}
            assert names <= set(EVENTS_BY_OP.get(c.op, ())) | extra.get(c.op, set()), c


def test_an_arrival_comes_between_its_task_s_start_and_completion(tiny: Any) -> None:
    """Else a fast replay completes the task first and the arrival finds none active."""
    _, calls = tiny["single"]
    by_id = {c.id: c for c in calls}
    arrivals = {
        int(e.subject.rsplit(":", 1)[1]): c
        for c in calls
        if c.op == "driver.move"
        for e in c.events
        if e.event == "taskArrival"
    }
    assert arrivals
    for c in calls:
        if c.op == "task.complete" and c.tasks[0] in arrivals:
            move = arrivals[c.tasks[0]]
            assert move.id in c.after
            starts = [by_id[a] for a in move.after if by_id[a].op == "driver.start"]
            assert [s.tasks for s in starts] == [c.tasks]
