"""Issue 12's gates: JUnit's run validity case, exit precedence, the new limits and the
check that every name in a thresholds file can match something."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadtest.replay.finalize import EXIT_INVALID, EXIT_THRESHOLDS, Outcome, exit_code, finalize
from loadtest.replay.results import EndpointStats, FlowStats, ReplayResults, RunInfo, Validity
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.thresholds import (
    KnownNames,
    check_names,
    evaluate,
    parse_thresholds,
    write_junit,
)
from loadtest.replay.wire import Targets
from sim.errors import UserError

TASKS = "POST /api/v2/tasks"


def _agg(latency_ms: float, lag_ms: float = 1.0) -> Aggregate:
    r = Recorder()
    for i in range(50):
        r.request(TASKS, i * 0.1, latency_ms, latency_ms + 5.0, True)
        r.outcome(TASKS, True)
        r.lag(lag_ms)
    r.count("sent", 50)
    agg = Aggregate()
    agg.merge(r.drain())
    return agg


def _finalize(
    tmp_path: Path, agg: Aggregate, thresholds: str | None, cpu: float = 10.0
) -> tuple[Outcome, dict[str | None, ET.Element | None], str]:
    """Finalize the run; its outcome, junit.xml's cases (name: failure) and the output."""
    th = None
    if thresholds is not None:
        th = tmp_path / "th.toml"
        th.write_text(thresholds)
    out = io.StringIO()
    outcome = finalize(
        agg,
        RunInfo("http://127.0.0.1:1", 10.0, "r", 50),
        Targets.build("http://127.0.0.1:1", env={}),
        tmp_path / "res",
        5.0,
        cpu,
        thresholds=th,
        do_reconcile=False,
        stream=out,
    )
    cases = ET.parse(tmp_path / "res" / "junit.xml").getroot().iter("testcase")
    return outcome, {c.get("name"): c.find("failure") for c in cases}, out.getvalue()


def test_an_invalid_run_fails_the_run_validity_case_and_exit_3_beats_1(tmp_path: Path) -> None:
    outcome, cases, text = _finalize(
        tmp_path, _agg(900.0), f'[endpoints."{TASKS}"]\np99_ms = 500\n', cpu=97.0
    )
    assert not outcome.results.valid and not outcome.results.thresholds[0].passed
    assert outcome.exit_code == EXIT_INVALID  # not EXIT_THRESHOLDS
    failure = cases["run validity"]
    assert failure is not None and "load generator CPU reached 97%" in failure.get("message", "")
    assert cases[f"{TASKS} p99_ms"] is not None
    assert "exit 3, not 1" in text


def test_a_valid_run_has_a_passing_run_validity_case(tmp_path: Path) -> None:
    outcome, cases, _ = _finalize(tmp_path, _agg(900.0), f'[endpoints."{TASKS}"]\np99_ms = 500\n')
    assert outcome.results.valid and outcome.exit_code == EXIT_THRESHOLDS
    assert "run validity" in cases and cases["run validity"] is None
    # Without thresholds junit.xml is still written: an invalid run must show red in CI.
    outcome, cases, _ = _finalize(tmp_path / "b", _agg(10.0, lag_ms=400.0), None)
    assert outcome.exit_code == EXIT_INVALID and list(cases) == ["run validity"]
    assert cases["run validity"] is not None


def test_junit_counts_the_validity_case() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j.xml"
        write_junit([], path, validity=Validity.of(["lag"]))
        suite = ET.parse(path).getroot().find("testsuite")
        assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("1", "1")
        write_junit([], path)
        suite = ET.parse(path).getroot().find("testsuite")
        assert suite is not None and suite.get("tests") == "0"


@pytest.mark.parametrize(
    "valid, failed, bad, code",
    [(1, 1, 0, 1), (0, 1, 0, 3), (0, 0, 0, 3), (1, 0, 0, 0), (0, 1, 1, 2)],
)
def test_exit_code_precedence(valid: int, failed: int, bad: int, code: int) -> None:
    assert exit_code(bool(valid), bool(failed), bool(bad)) == code


@pytest.mark.parametrize(
    "metric, field, actual",
    [
        ("mean_ms", "mean_ms", 31.0),
        ("p50_ms", "p50_ms", 20.0),
        ("p95_corrected_ms", "p95_corrected_ms", 180.0),
        ("p99_corrected_ms", "p99_corrected_ms", 400.0),
    ],
)
def test_each_new_endpoint_metric_gates(metric: str, field: str, actual: float) -> None:
    row = EndpointStats(TASKS, count=10, calls=10, **{field: actual})  # type: ignore[arg-type]
    results = ReplayResults(duration_s=1.0, endpoints=(row,))
    for limit, passed in ((actual, True), (actual - 0.5, False)):
        (check,) = evaluate(results, parse_thresholds({"endpoints": {TASKS: {metric: limit}}}))
        assert (check.actual, check.passed) == (actual, passed)


@pytest.mark.parametrize("metric, field", [("mean_ms", "mean_s"), ("p50_ms", "p50_s")])
def test_mean_and_p50_gate_flows_in_ms(metric: str, field: str) -> None:
    flow = FlowStats("onfleet.batch", count=3, **{field: 2.5})  # type: ignore[arg-type]
    results = ReplayResults(duration_s=1.0, flows=(flow,))
    (check,) = evaluate(results, parse_thresholds({"flows": {"onfleet.batch": {metric: 2400}}}))
    assert check.actual == 2500.0 and not check.passed


def test_corrected_latency_is_an_endpoint_limit_only() -> None:
    with pytest.raises(UserError, match=r"flows\.'onfleet.batch'.p99_corrected_ms: unknown"):
        parse_thresholds({"flows": {"onfleet.batch": {"p99_corrected_ms": 1}}})


def test_the_aggregate_writes_the_new_statistics() -> None:
    agg = _agg(10.0)
    (row,) = agg.endpoints(5.0)
    assert (row.calls, row.failed_calls, row.count) == (50, 0, 50)
    assert row.mean_ms == 10.0 and row.p90_ms == row.p999_ms == 10.0
    assert row.p95_corrected_ms == 15.0 and row.histogram.count == 50


def test_misspelt_names_exit_2_with_the_closest_valid_name() -> None:
    limits = parse_thresholds(
        {
            "endpoints": {"POST /api/v2/task": {"p99_ms": 1}, "*": {"p99_ms": 5}},
            "flows": {"onfleet.batch-async": {"p99_ms": 1}},
        }
    )
    with pytest.raises(UserError) as exc:
        check_names(limits, KnownNames.of(), "th.toml")
    msg = str(exc.value)
    assert exc.value.exit_code == 2 and msg.startswith("th.toml: ")
    assert '[endpoints."POST /api/v2/task"]' in msg and "did you mean 'POST /api/v2/tasks'" in msg
    assert '[flows."onfleet.batch-async"]' in msg and "did you mean 'onfleet.batch_async'" in msg


def test_real_names_pass_even_when_the_trace_lacks_them() -> None:
    limits = parse_thresholds(
        {"endpoints": {"POST /api/v2/tasks/batch": {"p99_ms": 1}}, "flows": {"deftship.ship": {}}}
    )
    check_names(limits, KnownNames.of(), "th.toml")  # the registry knows both
