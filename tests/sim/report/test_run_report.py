"""The single-run report: every chart, escaping, determinism, the CLI (replay sections:
tests/loadtest/replay/test_report.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from fleetsim.cli import main
from sim.report import write_report
from sim.report.run_charts import duty_series, state_series
from sim.report.run_report import run_charts
from tests.fixtures.runs import synthetic_frames, write_run_dir

RUN_CHARTS = {
    "tasks_by_state",
    "workers_utilisation",
    "time_distributions",
    "hourly",
    "map",
    "submissions",
}


def _images(html: str) -> list[str]:
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)


def test_report_has_every_chart_embedded_and_pngs_beside(synthetic_run_dir: Path) -> None:
    path = write_report(synthetic_run_dir)
    assert path == synthetic_run_dir / "report.html"
    html = path.read_text()
    assert len(_images(html)) == len(RUN_CHARTS)
    for name in RUN_CHARTS:
        assert (synthetic_run_dir / f"report-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Self-contained: no external resources and no scripts.
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "Key figures" in html and "on_time_pct" in html
    assert "Load-test replay" not in html  # no results.json here
    # The effective scenario is shown, escaped.
    assert "a &lt;b&gt;tag&lt;/b&gt; &amp; co" in html


def test_every_chart_has_title_caption_and_labelled_axes() -> None:
    from sim.report import figures

    seen: list[Any] = []
    original = figures.render

    def spy(fig: Any) -> bytes:
        seen.append(fig)
        return original(fig)

    figures.render = spy  # type: ignore[assignment]
    try:
        charts = run_charts(synthetic_frames())
    finally:
        figures.render = original  # type: ignore[assignment]
    assert {c.name for c in charts} == RUN_CHARTS
    for c in charts:
        assert c.title and len(c.caption) > 40, c.name
    for fig in seen:
        for ax in fig.axes:
            if not ax.axison:
                continue
            # A panel sharing an axis with a labelled sibling may leave its own label off.
            xs = ax.get_shared_x_axes().get_siblings(ax)
            ys = ax.get_shared_y_axes().get_siblings(ax)
            assert any(a.get_xlabel() for a in xs), ax.get_title()
            assert any(a.get_ylabel() for a in ys), ax.get_title()
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                assert not label or re.search(r"\(.+\)", label), label  # every label has units
        assert fig.get_suptitle() or any(ax.get_title() for ax in fig.axes)


def test_same_run_gives_same_bytes(synthetic_run_dir: Path, tmp_path: Path) -> None:
    first = write_report(synthetic_run_dir).read_bytes()
    pngs = {p.name: p.read_bytes() for p in synthetic_run_dir.glob("report-*.png")}
    second = write_report(synthetic_run_dir).read_bytes()
    assert first == second
    assert pngs == {p.name: p.read_bytes() for p in synthetic_run_dir.glob("report-*.png")}
    assert b"Software" not in pngs["report-map.png"][:200]


def test_state_series_counts_every_task_once() -> None:
    run = synthetic_frames()
    grid = np.linspace(0, 6000, 50)
    s = state_series(run.events, grid)
    created = np.searchsorted(np.sort(run.tasks["created_s"].to_numpy()), grid, "right")
    total = sum(s.values())
    assert np.array_equal(total, created)
    assert all((v >= 0).all() for v in s.values())
    end = {k: int(v[-1]) for k, v in s.items()}
    t = run.tasks
    assert end["completed"] == int(t["success"].sum())
    assert end["failed"] == int(((t["state"] == 3) & ~t["success"]).sum())
    assert end["active"] == int((t["state"] == 2).sum())


def test_duty_series_busy_never_exceeds_on_duty() -> None:
    grid = np.linspace(0, 7000, 200)
    on, busy = duty_series(synthetic_frames().events, grid)
    assert on[0] == 5 and on[-1] == 0
    assert (busy <= 5).all() and (busy >= 0).all() and busy.max() > 0


def test_sim_report_ignores_results_json_without_a_section_provider(
    synthetic_run_dir: Path, results_json: dict[str, Any]
) -> None:
    # sim.report knows nothing of the replay: its sections come only from the caller.
    (synthetic_run_dir / "results.json").write_bytes(orjson.dumps(results_json))
    html = write_report(synthetic_run_dir).read_text()
    assert "Load-test replay" not in html
    assert len(_images(html)) == len(RUN_CHARTS)


def test_report_of_a_real_run_via_cli(tiny_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tiny_copy)]) == 0
    assert "report.html" in capsys.readouterr().out
    html = (tiny_copy / "report.html").read_text()
    assert len(_images(html)) == len(RUN_CHARTS)
    kpis = orjson.loads((tiny_copy / "kpis.json").read_bytes())["kpis"]
    assert f"{kpis['tasks_created']:,}" in html


def test_cli_report_bad_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and "Traceback" not in err
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err.replace("neither a run", "not a run")


def test_empty_run_still_renders(tmp_path: Path) -> None:
    frames = synthetic_frames()
    for name in ("tasks", "events", "workers", "submissions"):
        setattr(frames, name, getattr(frames, name).iloc[0:0])
    run = write_run_dir(tmp_path / "empty", frames)
    html = write_report(run).read_text()
    assert len(_images(html)) == len(RUN_CHARTS)
