"""The replay results record: byte-compatible writing, lenient reading, the summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.replay.reconcile import Reconciliation
from loadtest.replay.results import (
    COUNTER_NAMES,
    CallCounts,
    EndpointStats,
    FlowStats,
    LagStats,
    ReplayResults,
    ThresholdCheck,
    ThroughputPoint,
    Validity,
    read_results,
    summary_lines,
    write_results,
)
from sim.errors import UserError
from tests.loadtest.replay.golden_results import CASES, Case

each_case = pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)


@each_case
def test_writer_matches_the_golden_bytes(case: Case, tmp_path: Path) -> None:
    path = write_results(case.results(), tmp_path)
    assert path.read_bytes() == case.golden.read_bytes()


@each_case
def test_golden_reads_back_to_the_same_record(case: Case) -> None:
    assert read_results(case.golden) == case.results()


@each_case
def test_round_trip(case: Case) -> None:
    r = case.results()
    assert ReplayResults.from_json(r.to_json()) == r
    assert ReplayResults.from_json(orjson.loads(orjson.dumps(r.to_json()))) == r


_text = st.text(max_size=12)
_count = st.integers(min_value=0, max_value=10**9)
_num = st.floats(allow_nan=False, allow_infinity=False, width=64)
_results = st.builds(
    ReplayResults,
    target=_text,
    validity=st.builds(Validity, st.booleans(), st.lists(_text, max_size=3).map(tuple)),
    speedup=_num,
    duration_s=_num,
    run_id=_text,
    processes=_count,
    calls=st.builds(CallCounts, *[_count] * len(dataclasses.fields(CallCounts))),
    endpoints=st.lists(
        st.builds(EndpointStats, _text, _count, _count, _count, *[_num] * 7), max_size=3
    ).map(tuple),
    flows=st.lists(
        st.builds(FlowStats, _text, _count, *[_num] * 5, _count, _count, _count), max_size=3
    ).map(tuple),
    schedule_lag_ms=st.builds(LagStats, _num, _num, _num),
    throughput=st.lists(st.builds(ThroughputPoint, _count, _num, _num), max_size=3).map(tuple),
    reconciliation=st.none()
    | st.builds(
        Reconciliation,
        _count,
        st.none() | _count,
        st.none() | _count,
        st.none() | _count,
        _count,
        _text,
    ),
    thresholds=st.lists(
        st.builds(
            ThresholdCheck, _text, _text, _num, st.none() | _num, st.booleans(), st.booleans()
        ),
        max_size=3,
    ).map(tuple),
    cpu_peak_pct=_num,
)


@given(_results)
def test_any_record_round_trips_through_json_bytes(r: ReplayResults) -> None:
    back = ReplayResults.from_json(orjson.loads(orjson.dumps(r.to_json())))
    assert back == r and back.problems == ()


CONTRACT_EXAMPLE = {  # the example in docs/CONTRACTS.md, older than several fields
    "version": 1,
    "target": "http://127.0.0.1:8080",
    "valid": True,
    "invalid_reasons": [],
    "speedup": 60.0,
    "duration_s": 42.0,
    "calls": {"planned": 3, "sent": 2, "ok": 1, "failed": 1},
    "endpoints": [
        {
            "name": "POST /api/v2/tasks/batch",
            "count": 2,
            "errors": 1,
            "rps": 0.5,
            "p50_ms": 1.0,
            "p95_ms": 2.0,
            "p99_ms": 3.0,
            "max_ms": 4.0,
            "p50_corrected_ms": 1.5,
            "p99_corrected_ms": 3.5,
        }
    ],
    "flows": [
        {
            "name": "onfleet.batch",
            "count": 1,
            "p50_s": 0.5,
            "p95_s": 0.5,
            "p99_s": 0.5,
            "max_s": 0.5,
            "polls_per_job": 0.0,
            "tasks_created": 20,
            "tasks_errored": 0,
        }
    ],
    "schedule_lag_ms": {"p50": 0.5, "p99": 1.0, "max": 2.0},
    "throughput": [{"t_s": 0, "rps": 2.0, "errors_per_s": 1.0}],
    "reconciliation": {"expected": 20, "created": 20, "missing": 0, "duplicated": 0},
    "thresholds": [
        {
            "scope": "POST /api/v2/tasks",
            "metric": "p99_ms",
            "limit": 250.0,
            "actual": 12.0,
            "passed": True,
        }
    ],
}


def test_an_older_file_reads_with_defaults_and_no_problems() -> None:
    r = ReplayResults.from_json(CONTRACT_EXAMPLE)
    assert r.problems == ()
    assert r.valid and r.run_id == "" and r.processes == 1 and r.cpu_peak_pct == 0.0
    assert r.calls == CallCounts(planned=3, sent=2, ok=1, failed=1)
    (e,) = r.endpoints
    assert (e.count, e.errors, e.retried, e.p99_corrected_ms) == (2, 1, 0, 3.5)
    assert r.flows == (FlowStats("onfleet.batch", 1, 0.5, 0.5, 0.5, 0.5, 0.0, 20),)
    assert r.schedule_lag_ms == LagStats(0.5, 1.0, 2.0)
    assert r.reconciliation == Reconciliation(20, 20, 0, 0)
    assert r.thresholds == (ThresholdCheck("POST /api/v2/tasks", "p99_ms", 250.0, 12.0, True),)


def test_a_partial_file_reads_and_names_what_it_could_not_use() -> None:
    doc: dict[str, Any] = {
        "invalid_reasons": ["lag"],
        "calls": {"sent": "many", "ok": 2.0, "failed": 1.5},
        "endpoints": [{"name": "GET /x", "p50_ms": "fast", "count": True}, 7],
        "flows": "none",
        "schedule_lag_ms": None,
        "reconciliation": "none",
        "thresholds": [{"scope": "s", "metric": "p99_ms", "actual": "n/a"}],
        "version": 2,
    }
    r = ReplayResults.from_json(doc)
    assert r.validity == Validity(False, ("lag",))  # no "valid": the reasons decide
    assert r.calls == CallCounts(ok=2)
    assert r.endpoints == (EndpointStats("GET /x"),)
    assert r.flows == () and r.reconciliation is None
    assert r.schedule_lag_ms == LagStats()
    assert r.thresholds == (ThresholdCheck("s", "p99_ms", 0.0, None, False),)
    for why in (
        "calls.sent: expected a whole number, got 'many'",
        "calls.failed: expected a whole number, got 1.5",
        "endpoints[0].p50_ms: expected a number, got 'fast'",
        "endpoints[0].count: expected a whole number, got True",
        "endpoints[1]: expected an object",
        "flows: expected a list",
        "schedule_lag_ms: expected an object",
        "reconciliation: expected an object",
        "thresholds[0].actual: expected a number or null, got 'n/a'",
        "version 2: this reader knows version 1",
    ):
        assert why in r.problems


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _num | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "valid",
        "calls",
        "endpoints",
        "flows",
        "schedule_lag_ms",
        "throughput",
        "thresholds",
        "reconciliation",
        "load_generator",
        "invalid_reasons",
        "processes",
        "version",
        "target",
    ]
)


@given(_json | st.dictionaries(_keys, _json))
def test_reading_never_raises(doc: object) -> None:
    r = ReplayResults.from_json(doc)
    assert isinstance(r, ReplayResults)
    ReplayResults.from_json(r.to_json())  # and what it read can be written again


def test_a_file_that_is_not_json_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text("{not json")
    with pytest.raises(UserError, match=r"results.json: cannot read"):
        read_results(p)
    with pytest.raises(UserError, match=r"cannot read"):
        read_results(tmp_path / "absent.json")


def test_call_counts_take_every_written_counter_by_name() -> None:
    names = [f.name for f in dataclasses.fields(CallCounts)]
    assert set(names[1:]) <= set(COUNTER_NAMES)  # each written counter is one the replay keeps
    counters = {n: i + 10 for i, n in enumerate(COUNTER_NAMES)}
    calls = CallCounts.from_counters(7, counters)
    assert calls.planned == 7
    assert all(v == counters[n] for n, v in calls.items()[1:])


def test_summary_prints_every_counter() -> None:
    calls = CallCounts(*range(101, 101 + len(dataclasses.fields(CallCounts))))
    text = "\n".join(summary_lines(ReplayResults(calls=calls, duration_s=2.0)))
    for name, value in calls.items():
        assert f"{name.replace('_', ' ')} {value}" in text
    assert "batch flows: none" in text and "RUN INVALID" not in text


def test_summary_of_an_invalid_run_with_flows_and_reconciliation() -> None:
    r = dataclasses.replace(CASES[0].results(), validity=Validity.of(["lag"]))
    text = "\n".join(summary_lines(r))
    assert "RUN INVALID" in text and "  - lag" in text
    assert "flow onfleet.batch_async: 3 jobs" in text
    assert "reconciliation: expected 45, created 44, missing 1, duplicated 2" in text
    peak = max(r.throughput, key=lambda p: p.rps)
    assert f"peak {peak.rps:.0f} req/s at t={peak.t_s} s" in text
    text = "\n".join(summary_lines(CASES[1].results()))
    assert "created/missing/duplicated unknown  (error: target unreachable" in text


def _shape(v: object) -> object:
    """Keys in order, recursively (first item of each list); values dropped."""
    if isinstance(v, dict):
        return [(k, _shape(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [_shape(v[0])] if v else []
    return None


def test_the_contract_example_is_what_the_record_writes(repo: Path) -> None:
    text = (repo / "docs" / "CONTRACTS.md").read_text()
    section = text.split("## Load-test results", 1)[1]
    example = orjson.loads(section.split("```json", 1)[1].split("```", 1)[0])
    r = ReplayResults.from_json(example)
    assert r.problems == ()
    assert _shape(r.to_json()) == _shape(example)
    assert _shape(CASES[0].results().to_json()) == _shape(example)


def test_saturation_and_abort_fields_round_trip_and_stay_optional() -> None:
    r = ReplayResults(
        cpu_peak_pct=93.0, cpu_sustained_pct=41.5, cpu_window_s=5.0, aborted="p99_ms over"
    )
    doc = r.to_json()
    assert doc["load_generator"] == {
        "cpu_peak_pct": 93.0,
        "cpu_sustained_pct": 41.5,
        "cpu_window_s": 5.0,
    }
    assert doc["aborted"] == "p99_ms over"
    back = ReplayResults.from_json(orjson.loads(orjson.dumps(doc)))
    assert back == r and back.problems == ()
    # A run that measured no window, or was not aborted, writes the file as before.
    plain = ReplayResults(cpu_peak_pct=12.0).to_json()
    assert plain["load_generator"] == {"cpu_peak_pct": 12.0} and "aborted" not in plain
