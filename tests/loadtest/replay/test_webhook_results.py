"""The ``webhooks`` section: results round trip, summary, thresholds and JUnit."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loadtest.replay.finalize import judge
from loadtest.replay.results import (
    ReplayResults,
    RunInfo,
    read_results,
    summary_lines,
    write_results,
)
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.thresholds import (
    KnownNames,
    check_names,
    evaluate,
    parse_thresholds,
    write_junit,
)
from loadtest.replay.webhooks.model import Arrival, Expected
from loadtest.replay.webhooks.records import WebhookEventStats, WebhookReport
from sim.errors import UserError

INFO = RunInfo(target="http://127.0.0.1:1", speedup=10.0, run_id="r", planned=3, webhooks=True)


def aggregate() -> Aggregate:
    rec = Recorder(webhooks=True)
    rec.request("POST /api/v2/tasks", 0.5, 10.0, 10.0, True)
    rec.outcome("POST /api/v2/tasks", True)
    rec.count("sent")
    rec.wh_expected += [
        Expected("onfleet", "taskCreated", "T1", 0.51, 1.0, 1, 0),
        Expected("onfleet", "taskCompleted", "T1", 2.0, 9.0, 2, 0),
        Expected("onfleet", "taskCompleted", "T2", 2.0, 9.0, 3, 0),
    ]
    rec.wh_arrivals += [
        list(Arrival(0.53, "onfleet", "taskCreated", "T1", "a", True, 200)),
        list(Arrival(2.1, "onfleet", "taskCompleted", "T1", "b", True, 500)),
        list(Arrival(2.4, "onfleet", "taskCompleted", "T1", "b", True, 200)),
        list(Arrival(2.5, "onfleet", "taskCompleted", "T1", "c", True, 200)),
        list(Arrival(2.6, "onfleet", "taskUpdated", "T1", "d", True, 200)),
        list(Arrival(2.7, "onfleet", "taskCompleted", "T2", "e", False, 401)),
    ]
    agg = Aggregate()
    agg.merge(rec.drain())
    return agg


def test_the_section_round_trips_through_results_json(tmp_path: Path) -> None:
    res = judge(aggregate(), INFO, None, 3.0, 10.0)
    w = res.webhooks
    assert w is not None and w.arrivals == 6 and w.bad_signatures == 1
    done = next(e for e in w.events if e.name == "taskCompleted")
    assert (done.expected, done.received, done.missing, done.duplicated) == (2, 1, 1, 1)
    assert (done.retries, done.retried_deliveries, done.bad_signatures) == (1, 1, 1)
    # Delivery "b" was refused (500) at 2.1 s and accepted at 2.4 s: received then.
    assert done.p50_ms == pytest.approx(400.0)
    path = write_results(res, tmp_path)
    doc = orjson.loads(path.read_bytes())
    assert list(doc)[-1] == "webhooks"
    assert doc["webhooks"]["missing"] == 1 and doc["webhooks"]["unexpected"] == 1
    back = read_results(path)
    assert back.problems == () and back.webhooks == w
    assert back == res


def test_a_run_without_webhooks_has_no_section() -> None:
    res = judge(aggregate(), RunInfo("t", 1.0, "r", 1), None, 3.0, 10.0)
    assert res.webhooks is None and "webhooks" not in res.to_json()
    assert not any(line.startswith("webhooks:") for line in summary_lines(res))


def test_a_damaged_section_reads_with_problems_named() -> None:
    doc = judge(aggregate(), INFO, None, 3.0, 10.0).to_json()
    doc["webhooks"]["events"][0]["expected"] = "many"
    doc["webhooks"]["arrivals"] = None
    back = ReplayResults.from_json(doc)
    assert back.webhooks is not None and back.webhooks.events[0].expected == 0
    assert any("expected" in p for p in back.problems)
    assert ReplayResults.from_json({**doc, "webhooks": 7}).webhooks is None


def test_the_summary_prints_the_webhook_section() -> None:
    lines = summary_lines(judge(aggregate(), INFO, None, 3.0, 10.0))
    (total,) = [line for line in lines if line.startswith("webhooks:")]
    assert "expected 3" in total and "missing 1" in total and "bad signatures 1" in total
    assert any("onfleet:taskCompleted" in line for line in lines)


REPORT = WebhookReport(
    (
        WebhookEventStats("taskCompleted", "onfleet", 10, 9, 1, 1, 0, 0, 0, 0, 2, 0, 5, 40, 90, 95),
        WebhookEventStats("completed", "hypertrack", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ),
    arrivals=12,
    bad_signatures=2,
)


def test_webhook_limits_are_checked_and_written_to_junit(tmp_path: Path) -> None:
    limits = parse_thresholds(
        {
            "webhooks": {
                "taskCompleted": {
                    "p95_ms": 50,
                    "p99_ms": 80,
                    "max_missing": 0,
                    "max_duplicated_ratio": 0.2,
                    "max_bad_signatures": 0,
                },
                "completed": {"p99_ms": 100},
                "taskFailed": {"max_missing": 0, "required": True},
            }
        }
    )
    checks = {(c.scope, c.metric): c for c in evaluate(REPORT_RESULTS, limits, REPORT)}
    assert checks[("webhook.taskCompleted", "p95_ms")].passed
    assert not checks[("webhook.taskCompleted", "p99_ms")].passed
    assert not checks[("webhook.taskCompleted", "max_missing")].passed
    assert checks[("webhook.taskCompleted", "max_duplicated_ratio")].actual == pytest.approx(0.1111)
    assert not checks[("webhook.taskCompleted", "max_bad_signatures")].passed
    assert checks[("webhook.completed", "p99_ms")].skipped  # nothing received
    assert not checks[("webhook.taskFailed", "max_missing")].passed  # required, absent
    junit = tmp_path / "junit.xml"
    write_junit(list(checks.values()), junit)
    text = junit.read_text()
    assert 'name="webhook.taskCompleted p99_ms"' in text
    assert "p99_ms = 90, limit 80" in text


def test_without_webhooks_their_limits_are_skipped() -> None:
    limits = parse_thresholds({"webhooks": {"*": {"max_missing": 0}}})
    (check,) = evaluate(REPORT_RESULTS, limits, None)
    assert check.skipped and check.scope == "webhook.*"


def test_webhook_tables_are_validated() -> None:
    with pytest.raises(UserError, match=r"webhooks.'taskCompleted'.p97_ms: unknown limit"):
        parse_thresholds({"webhooks": {"taskCompleted": {"p97_ms": 1}}})
    with pytest.raises(UserError, match="must be a number >= 0"):
        parse_thresholds({"webhooks": {"taskCompleted": {"max_missing": -1}}})


def test_an_unknown_event_name_is_refused_with_a_suggestion() -> None:
    limits = parse_thresholds({"webhooks": {"taskComplete": {"max_missing": 0}}})
    with pytest.raises(UserError, match="did you mean 'taskCompleted'"):
        check_names(limits, KnownNames.of())
    ok = parse_thresholds(
        {
            "webhooks": {
                n: {"max_missing": 0}
                for n in ("taskEta", "completed", "delivery.dropoff_complete", "*")
            }
        }
    )
    check_names(ok, KnownNames.of())


REPORT_RESULTS = judge(Aggregate(), RunInfo("t", 1.0, "r", 0), None, 1.0, 0.0)


def test_the_report_has_a_webhooks_section_only_for_webhook_runs(tmp_path: Path) -> None:
    from loadtest.replay.report import replay_sections

    write_results(judge(aggregate(), INFO, None, 3.0, 10.0), tmp_path)
    sections, _ = replay_sections(tmp_path)
    (hooks,) = [s for s in sections if s.title == "Webhooks"]
    html = "".join(hooks.blocks)
    assert "1 missing, 1 unexpected, 1 bad signature(s)." in html
    assert "onfleet:taskCompleted" in html and "6 arrivals in all" in html
    assert [s.title for s in sections][-2:] == ["Webhooks", "Thresholds"]
    write_results(judge(aggregate(), RunInfo("t", 1.0, "r", 1), None, 3.0, 10.0), tmp_path)
    sections, _ = replay_sections(tmp_path)
    assert "Webhooks" not in [s.title for s in sections]


def test_a_thresholds_file_is_checked_against_the_traces_events(tmp_path: Path) -> None:
    from loadtest.replay.thresholds import check_file
    from tests.loadtest.replay.fake_sender import trace_with_events

    trace = trace_with_events(tmp_path / "trace.jsonl", tasks=2)
    th = tmp_path / "th.toml"
    th.write_text(
        '[webhooks."taskCreated"]\np99_ms = 50\n[webhooks."taskCompleted"]\nmax_missing = 0\n'
    )
    checked = check_file(th, trace)
    assert checked.unexercised == ("taskCompleted",)  # real, but this trace expects none
    th.write_text('[webhooks."taskCreatd"]\np99_ms = 50\n')
    with pytest.raises(UserError, match="did you mean 'taskCreated'"):
        check_file(th, trace)
