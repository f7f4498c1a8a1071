"""The stages of the trace writer, each run alone over a small day."""

from __future__ import annotations

import dataclasses

import pytest

from loadtest.trace import ops
from loadtest.trace.build import finish
from loadtest.trace.onfleet import (
    CREATORS,
    TraceOptions,
    add_creation,
    add_day_events,
    add_deferred_dependencies,
    add_partners,
    add_setup,
    build_trace,
    day_state,
    trace_header,
)
from loadtest.trace.pacing import pacing_rates
from sim.errors import UserError
from tests.fixtures.runs import make_day


def _ops(st: object) -> list[str]:
    return [d.op for d in st.b.drafts]  # type: ignore[attr-defined]


def test_setup_makes_teams_then_workers_after_their_team() -> None:
    st = day_state(make_day(), TraceOptions())
    add_setup(st)
    assert _ops(st) == ["team.create", "worker.create", "worker.create"]
    assert all(st.b.drafts[c].deps == [0] for c in st.worker_create.values())
    assert set(st.worker_create) == {0, 1} and st.team_names


@pytest.mark.parametrize(
    ("mode", "want"),
    [
        ("single", ["task.create"] * 6),
        ("batch", ["task.batch"]),
        ("batch-async", ["task.batch_async", "task.batch_status"]),
    ],
)
def test_creation_per_submission_mode(mode: str, want: list[str]) -> None:
    st = day_state(make_day(mode), TraceOptions(poll_s=1.5))
    add_creation(st)
    assert _ops(st) == want
    assert set(st.creator) == set(range(6))
    polls = [d.poll_s for d in st.b.drafts if d.op == ops.TASK_BATCH_STATUS.name]
    assert polls == ([1.5] if mode == "batch-async" else [])
    assert set(CREATORS) == {"single", "batch", "batch-async"}


def test_unknown_submission_mode_is_a_user_error() -> None:
    day = make_day("single")
    day.submissions["mode"] = "carrier-pigeon"
    st = day_state(day, TraceOptions())
    with pytest.raises(UserError, match="unknown mode 'carrier-pigeon'"):
        add_creation(st)


def test_deferred_dependencies_wait_for_both_tasks() -> None:
    st = day_state(make_day("single"), TraceOptions())
    st.creator = {0: 10, 1: 11}
    st.task_last = {0: 10, 1: 12}
    st.b.drafts = []
    st.deferred = [(1, [0]), (5, [4])]  # task 5 was never created: nothing to set
    for _ in range(13):
        st.b.add(0.0, ops.TASK_CREATE)
    add_deferred_dependencies(st)
    last = st.b.drafts[-1]
    assert last.op == ops.TASK_SET_DEPENDENCIES.name and last.deps == [10, 12]
    assert len(st.b.drafts) == 14 and st.task_last[1] == 13


def test_day_events_need_the_created_tasks_and_respect_driver_app() -> None:
    st = day_state(make_day("batch"), TraceOptions(driver_app=False))
    add_setup(st)
    add_day_events(st)  # nothing created yet: only duty calls, and those are off
    assert _ops(st) == ["team.create", "worker.create", "worker.create"]
    add_creation(st)
    add_day_events(st)
    got = set(_ops(st))
    assert {"task.assign", "task.complete"} <= got and not any(o.startswith("driver.") for o in got)


def test_partners_and_header_alone() -> None:
    st = day_state(make_day("batch"), TraceOptions(providers=("onfleet", "nash", "deftship")))
    add_partners(st)
    assert {ops.OPS[o].provider for o in _ops(st)} == {"nash", "deftship"}
    calls = finish(st.b)
    header = trace_header(st, calls)
    assert header.counts["calls"] == len(calls) and header.providers == st.opts.providers


def test_a_large_submission_becomes_several_nash_jobs() -> None:
    from loadtest.providers import nash

    orders = nash.MAX_PACKAGES + 7  # one batch submission of 257 complete orders
    opts = TraceOptions(providers=("onfleet", "nash"))
    _, calls = build_trace(make_day("batch", orders=orders), opts)
    jobs = [c for c in calls if c.op == ops.NASH_BATCH_JOB.name]
    gets = [c for c in calls if c.op == ops.NASH_JOB_GET.name]
    assert [len(c.body["packages"]) for c in jobs] == [nash.MAX_PACKAGES, 7]  # type: ignore[index]
    # The first job keeps the one-job name, so a small day's trace is unchanged.
    assert [c.defines for c in jobs] == ["nashjob:0", "nashjob:0.1"]
    assert [c.params["jobId"] for c in gets] == [
        "$ref:nashjob:0",
        "$ref:nashjob:0.1",
    ]
    # Every task travels in exactly one job, and each poll waits for its own job.
    covered = [t for c in jobs for t in c.tasks]
    assert sorted(covered) == list(range(2 * orders))
    assert [g.deps for g in gets] == [(j.id,) for j in jobs]


def test_stages_compose_into_build_trace() -> None:
    day = make_day("batch-async")
    header, calls = build_trace(day, TraceOptions(poll_s=3.0))
    st = day_state(day, TraceOptions(poll_s=3.0))
    for stage in (add_setup, add_creation, add_deferred_dependencies, add_day_events):
        stage(st)
    add_partners(st)
    # The last stage paces the calls through each provider's client limiter.
    pacing = pacing_rates(st.opts.client_rate)
    assert finish(st.b, pacing) == calls
    assert dataclasses.replace(trace_header(st, calls), pacing=pacing) == header
