"""Checks that were not judged read as skipped (grey), never as a green pass."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson

from fleetsim.run_page import write_run_report
from sim.report.html import Badge, table_html, verdict, verdict_summary
from tests.fixtures.runs import RESULTS_JSON


def test_verdict_badges_and_summary() -> None:
    assert verdict(True) == Badge("pass", "pass")
    assert verdict(False) == Badge("FAIL", "fail")
    assert verdict(True, skipped=True) == Badge("skipped", "skip")
    assert 'class="badge skip">skipped<' in table_html(("r",), [[verdict(True, True)]])
    assert verdict_summary(2, 0, 0) == ("All thresholds passed.", "answer")
    text, cls = verdict_summary(1, 0, 2)
    assert cls == "answer" and "All judged thresholds passed (1)" in text
    assert "2 skipped (no samples, not judged)" in text
    assert verdict_summary(1, 1, 1)[1] == "answer miss"


def test_skipped_threshold_shows_grey_in_the_run_report(synthetic_run_dir: Path) -> None:
    doc = copy.deepcopy(RESULTS_JSON)
    doc["thresholds"].append(
        {
            "scope": "GET /api/v2/tasks/all",
            "metric": "p95_ms",
            "limit": 300.0,
            "actual": None,
            "passed": True,
            "skipped": True,
        }
    )
    (synthetic_run_dir / "results.json").write_bytes(orjson.dumps(doc))
    html = write_run_report(synthetic_run_dir).read_text()
    assert html.count('class="badge skip">skipped<') == 1
    assert html.count('class="badge pass">pass<') == 1  # the skipped one is not a pass
    assert "1 threshold(s) failed. 1 skipped (no samples, not judged)." in html
    assert ".skip { background: #9e9e9e; }" in html
