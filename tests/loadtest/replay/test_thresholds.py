"""Threshold files, pass/fail, the table, JUnit XML and exit codes."""

from __future__ import annotations

import dataclasses
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadtest.replay.finalize import EXIT_INVALID, EXIT_THRESHOLDS, finalize
from loadtest.replay.results import EndpointStats, FlowStats, LagStats, ReplayResults, RunInfo
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.thresholds import evaluate, format_table, load_thresholds, parse_thresholds
from loadtest.replay.wire import Targets
from sim.errors import UserError
from tests.fixtures.scenarios import REPO

EXAMPLE = REPO / "loadtest" / "thresholds.example.toml"


def results(p99: float = 120.0, errors: int = 0, flow_s: float = 2.0) -> ReplayResults:
    return ReplayResults(
        duration_s=10.0,
        endpoints=(
            EndpointStats(
                "POST /api/v2/tasks",
                count=100,
                errors=errors,
                calls=100,
                failed_calls=errors,
                rps=10.0,
                p50_ms=20.0,
                p95_ms=80.0,
                p99_ms=p99,
                max_ms=300.0,
            ),
        ),
        flows=(FlowStats("onfleet.batch", 4, 1.0, flow_s, flow_s, flow_s),),
        schedule_lag_ms=LagStats(0.5, 4.0, 20.0),
    )


def test_example_file_parses_and_a_good_run_passes() -> None:
    limits = load_thresholds(EXAMPLE)
    checks = evaluate(
        results(),
        [
            lim
            for lim in limits
            if lim.scope in ("*", "POST /api/v2/tasks", "onfleet.batch", "schedule_lag")
        ],
    )
    assert checks and all(c.passed for c in checks)


def test_violations_are_reported_per_metric() -> None:
    limits = parse_thresholds(
        {
            "endpoints": {
                "POST /api/v2/tasks": {"p99_ms": 100, "max_error_ratio": 0.01, "min_rps": 20}
            },
            "flows": {"onfleet.batch": {"p95_ms": 1500}},
            "schedule_lag": {"p99_ms": 1},
        }
    )
    checks = {(c.scope, c.metric): c for c in evaluate(results(errors=5), limits)}
    assert not checks[("POST /api/v2/tasks", "p99_ms")].passed
    assert checks[("POST /api/v2/tasks", "max_error_ratio")].actual == 0.05
    assert not checks[("POST /api/v2/tasks", "min_rps")].passed
    assert not checks[("onfleet.batch", "p95_ms")].passed  # 2 s = 2000 ms > 1500
    assert not checks[("schedule_lag", "p99_ms")].passed


def test_no_samples_is_a_skip_unless_required() -> None:
    limits = parse_thresholds({"endpoints": {"GET /nothing": {"p99_ms": 10}}})
    (check,) = evaluate(results(), limits)
    assert check.passed and check.skipped and check.actual is None
    assert "skipped (no samples)" in format_table([check])
    limits = parse_thresholds({"flows": {"x": {"p99_ms": 10, "required": True}}})
    (check,) = evaluate(results(), limits)
    assert not check.passed and not check.skipped


def test_example_passes_a_healthy_run_of_one_submission_mode() -> None:
    # A trace uses one submission mode: the other modes' endpoints and flows are absent.
    data = dataclasses.replace(results(), flows=())
    checks = evaluate(data, load_thresholds(EXAMPLE))
    assert checks and all(c.passed for c in checks)
    assert any(c.skipped for c in checks)


@pytest.mark.parametrize(
    "text, match",
    [('[endpoints."*"]\nmax_error = 1\n', "unknown limit"), ("[schedule_lag\n", "invalid TOML")],
)
def test_bad_thresholds_exit_2_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, match: str
) -> None:
    from fleetsim.cli import main
    from loadtest.trace.onfleet import write_trace
    from tests.fixtures.runs import make_day

    th = tmp_path / "th.toml"
    th.write_text(text)
    write_trace(make_day(), tmp_path / "trace.jsonl")
    # Nothing listens on port 9; a replay that started would fail differently.
    code = main(["replay", str(tmp_path), "--host", "http://127.0.0.1:9", "--thresholds", str(th)])
    err = capsys.readouterr().err
    assert code == 2 and match in err and "Traceback" not in err
    assert not (tmp_path / "results" / "replay").exists()


def test_finalize_reports_a_bad_thresholds_file_and_keeps_results(tmp_path: Path) -> None:
    th = tmp_path / "th.toml"
    th.write_text('[endpoints."*"]\nmax_error = 1\n')
    out = io.StringIO()
    outcome = finalize(
        _agg(10.0),
        RunInfo("http://127.0.0.1:1", 10.0, "r", 50),
        Targets.build("http://127.0.0.1:1", env={}),
        tmp_path / "res",
        5.0,
        10.0,
        thresholds=th,
        do_reconcile=False,
        stream=out,
    )
    assert outcome.exit_code == 2 and "unknown limit" in out.getvalue()
    assert (tmp_path / "res" / "results.json").is_file()


def test_unreachable_target_is_an_invalid_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loadtest.replay.finalize as fin

    monkeypatch.setattr(fin, "RECONCILE_BUDGET_S", 0.5)
    r = Recorder()
    r.count("sent", 5)
    r.count("failed", 5)
    r.count("no_response", 5)
    r.expected_tasks.extend([1, 2])
    agg = Aggregate()
    agg.merge(r.drain())
    out = io.StringIO()
    outcome = finalize(
        agg,
        RunInfo("http://127.0.0.1:9", 10.0, "r", 5),
        Targets.build("http://127.0.0.1:9", env={}),
        tmp_path,
        5.0,
        10.0,
        stream=out,
    )
    assert outcome.exit_code == EXIT_INVALID and outcome.results.valid is False
    rec = outcome.results.reconciliation
    assert rec is not None and rec.missing is None and rec.duplicated is None
    assert rec.error.startswith("target unreachable")
    assert any(w.startswith("target unreachable") for w in outcome.results.validity.reasons)
    assert "unknown" in out.getvalue()


def test_unauthorised_reconciliation_is_one_line() -> None:
    from loadtest.replay.reconcile import reconcile
    from loadtest.replay.wire import HttpResult

    rec = reconcile(lambda p, path, n: HttpResult(401, {}, b"{}"), "r", {1}, 0)
    assert rec.missing is None and rec.error.startswith("unauthorised: check ONFLEET_API_KEY")


@pytest.mark.parametrize(
    "data, match",
    [
        ({"endpoint": {}}, "unknown table"),
        ({"endpoints": {"X": {"p90_ms": 1}}}, "unknown limit"),
        ({"endpoints": {"X": {"p99_ms": "fast"}}}, "must be a number"),
        ({"schedule_lag": {"min_rps": 1}}, "unknown limit"),
    ],
)
def test_bad_files_name_the_field(data: dict[str, object], match: str) -> None:
    with pytest.raises(UserError, match=match):
        parse_thresholds(data)


def _agg(latency_ms: float, lag_ms: float = 1.0) -> Aggregate:
    r = Recorder()
    for i in range(50):
        r.request("POST /api/v2/tasks", i * 0.1, latency_ms, latency_ms, True)
        r.lag(lag_ms)
    r.count("sent", 50)
    r.count("ok", 50)
    agg = Aggregate()
    agg.merge(r.drain())
    return agg


@pytest.mark.parametrize("latency, code", [(10.0, 0), (900.0, EXIT_THRESHOLDS)])
def test_finalize_exit_codes_table_and_junit(tmp_path: Path, latency: float, code: int) -> None:
    th = tmp_path / "th.toml"
    th.write_text('[endpoints."POST /api/v2/tasks"]\np99_ms = 500\n')
    out = io.StringIO()
    outcome = finalize(
        _agg(latency),
        RunInfo("http://127.0.0.1:1", 10.0, "r", 50),
        Targets.build("http://127.0.0.1:1", env={}),
        tmp_path / "res",
        5.0,
        10.0,
        thresholds=th,
        do_reconcile=False,
        stream=out,
    )
    assert outcome.exit_code == code
    assert outcome.results.thresholds[0].passed is (code == 0)
    text = out.getvalue()
    assert ("THRESHOLDS VIOLATED" in text) is (code != 0)
    suite = ET.parse(tmp_path / "res" / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == ("0" if code == 0 else "1")
    assert (tmp_path / "res" / "results.json").is_file()


def test_saturated_generator_marks_the_run_invalid(tmp_path: Path) -> None:
    out = io.StringIO()
    outcome = finalize(
        _agg(10.0, lag_ms=400.0),
        RunInfo("http://127.0.0.1:1", 10.0, "r", 50),
        Targets.build("http://127.0.0.1:1", env={}),
        tmp_path,
        5.0,
        cpu_peak_pct=97.0,
        do_reconcile=False,
        stream=out,
    )
    assert outcome.exit_code == EXIT_INVALID
    assert outcome.results.valid is False
    assert len(outcome.results.validity.reasons) == 2
    assert "RUN INVALID" in out.getvalue()


@pytest.mark.parametrize(
    "table, metric, actual",
    [
        ("endpoints", "p95_ms", 80.0),
        ("endpoints", "p99_ms", 120.0),
        ("endpoints", "max_error_ratio", 0.03),
        ("endpoints", "min_rps", 10.0),
        ("flows", "p95_ms", 2000.0),  # recorded in seconds, limited in ms
        ("flows", "p99_ms", 2500.0),
        ("flows", "max_error_ratio", 0.25),
        ("flows", "min_rps", 0.4),  # 4 jobs over 10 s
        ("schedule_lag", "p50_ms", 0.5),
        ("schedule_lag", "p99_ms", 4.0),
        ("schedule_lag", "max_ms", 20.0),
    ],
)
def test_each_metric_reads_its_typed_field(table: str, metric: str, actual: float) -> None:
    data = dataclasses.replace(
        results(errors=3),
        flows=(FlowStats("onfleet.batch", 4, 1.0, 2.0, 2.5, 3.0, failed=1),),
    )
    scope = {"endpoints": "POST /api/v2/tasks", "flows": "onfleet.batch"}.get(table)
    spec = {metric: 1e9} if scope is None else {scope: {metric: 1e9}}
    (check,) = evaluate(data, parse_thresholds({table: spec}))
    assert check.actual == actual
    floor = metric == "min_rps"
    assert check.passed is not floor  # a huge ceiling passes, a huge floor fails
    assert check.scope == (scope or "schedule_lag") and not check.skipped


def test_metric_table_names_every_limit_with_its_unit() -> None:
    from loadtest.replay.thresholds import LAG_METRICS, METRICS

    assert {m: METRICS[m].unit for m in METRICS} == {
        "mean_ms": "ms",
        "p50_ms": "ms",
        "p95_ms": "ms",
        "p99_ms": "ms",
        "p95_corrected_ms": "ms",
        "p99_corrected_ms": "ms",
        "max_error_ratio": "ratio",
        "min_rps": "1/s",
        "max_retry_ratio": "ratio",
    }
    assert set(LAG_METRICS) == {"p50_ms", "p99_ms", "max_ms"}


def test_a_missing_scope_and_a_star_over_nothing() -> None:
    empty = ReplayResults(duration_s=10.0)
    assert evaluate(empty, parse_thresholds({"endpoints": {"*": {"p99_ms": 1}}})) == []
    limits = parse_thresholds({"flows": {"gone": {"p99_ms": 1, "min_rps": 2, "required": True}}})
    checks = evaluate(results(), limits)
    assert [(c.scope, c.metric, c.actual, c.passed) for c in checks] == [
        ("gone", "p99_ms", None, False),
        ("gone", "min_rps", None, False),
    ]
    # A row that exists but saw no calls counts as missing too.
    zero = dataclasses.replace(results(), endpoints=(EndpointStats("POST /api/v2/tasks"),))
    limits = parse_thresholds({"endpoints": {"POST /api/v2/tasks": {"p99_ms": 1}}})
    (check,) = evaluate(zero, limits)
    assert check.skipped and check.passed and check.actual is None
