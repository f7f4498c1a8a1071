"""The replay results record: byte-compatible writing, lenient reading, the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.replay.results import build_results, validity, write_results
from loadtest.replay.thresholds import evaluate
from tests.loadtest.replay.golden_results import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_writer_matches_the_golden_bytes(case: Case, tmp_path: Path) -> None:
    agg = case.aggregate()
    reasons = validity(agg, case.info, case.cpu_peak_pct, case.recon)
    results = build_results(
        agg, case.info, reasons, case.recon, [], case.duration_s, case.cpu_peak_pct
    )
    results["thresholds"] = [c.to_json() for c in evaluate(results, case.limits())]
    path = write_results(results, tmp_path)
    assert path.read_bytes() == case.golden.read_bytes()
