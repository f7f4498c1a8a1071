"""The replay's sections of the run report, as the command line writes the page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from fleetsim.run_page import write_run_report
from loadtest.replay.report import replay_sections

RUN_CHARTS = {
    "tasks_by_state",
    "workers_utilisation",
    "time_distributions",
    "hourly",
    "map",
    "submissions",
}
REPLAY_CHARTS = {
    "replay_throughput",
    "replay_endpoints",
    "replay_schedule_lag",
    "replay_flows",
    "replay_reconciliation",
}


def _images(html: str) -> list[str]:
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)


def test_no_results_json_means_no_replay_sections(synthetic_run_dir: Path) -> None:
    assert replay_sections(synthetic_run_dir) == ([], [])
    html = write_run_report(synthetic_run_dir).read_text()
    assert "Load-test replay" not in html
    assert len(_images(html)) == len(RUN_CHARTS)


def test_replay_sections_when_results_json_present(
    synthetic_run_dir: Path, results_json: dict[str, Any]
) -> None:
    (synthetic_run_dir / "results.json").write_bytes(orjson.dumps(results_json))
    html = write_run_report(synthetic_run_dir).read_text()
    assert len(_images(html)) == len(RUN_CHARTS) + len(REPLAY_CHARTS)
    for name in REPLAY_CHARTS:
        assert (synthetic_run_dir / f"report-{name}.png").is_file()
    for title in ("Load-test replay", "Latency per endpoint", "Reconciliation", "Thresholds"):
        assert title in html
    # Text from the file is escaped, never markup.
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "1 threshold(s) failed." in html
    assert html.count('class="badge fail">FAIL<') == 1
    assert html.count('class="badge pass">pass<') == 1


def test_malformed_results_json_is_reported_not_fatal(
    synthetic_run_dir: Path, results_json: dict[str, Any]
) -> None:
    (synthetic_run_dir / "results.json").write_text("{not json")
    html = write_run_report(synthetic_run_dir).read_text()
    assert "results.json: cannot read" in html
    results_json["endpoints"] = [{"name": "GET /x", "p50_ms": "fast"}, 7]
    results_json["reconciliation"] = "none"
    del results_json["throughput"]
    (synthetic_run_dir / "results.json").write_bytes(orjson.dumps(results_json))
    html = write_run_report(synthetic_run_dir).read_text()
    assert "endpoints[1]: expected an object" in html
    assert "reconciliation: expected an object" in html
    assert "GET /x" in html


def test_overview_lists_every_counter_and_counts_print_as_whole_numbers(
    synthetic_run_dir: Path, results_json: dict[str, Any]
) -> None:
    from dataclasses import fields

    from loadtest.replay.results import CallCounts

    results_json["calls"] = {"planned": 1200, "sent": 1200, "ok": 1198, "failed": 2.0}
    (synthetic_run_dir / "results.json").write_bytes(orjson.dumps(results_json))
    sections, _ = replay_sections(synthetic_run_dir)
    overview = "".join(sections[0].blocks)
    for f in fields(CallCounts):
        assert f'<td class="text">calls {f.name.replace("_", " ")}</td>' in overview
    assert "<td>1,200</td>" in overview and "<td>2</td>" in overview  # 2.0 is a count
    assert '<td class="text">calls ordering retries</td><td>0</td>' in overview
    latency = "".join(sections[1].blocks)
    # Counts are whole numbers, rates and times keep their decimals.  This older file has
    # no calls or failed_calls (read as 0); its 100 attempts stay visible.
    assert "<td>0</td><td>0</td><td>100</td><td>2.40</td><td>12.00</td>" in latency
