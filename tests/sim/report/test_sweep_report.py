"""The sweep report's charts and captions: integer ticks, a KPI caption that does not overclaim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest

from sim.report.sweep_report import _plot_against, search_chart
from sim.sweep import run_sweep
from sim.sweep.meta import read_meta
from tests.sim.sweep.test_sweep import FakeSource, _config, fake_kpis

matplotlib.use("Agg")


def test_kpi_caption_does_not_overclaim(tmp_path: Path) -> None:
    run_sweep(_config(tmp_path, sets=("fleet.workers=4,8",)), source=FakeSource(), fn=fake_kpis)
    html = (tmp_path / "sw" / "report.html").read_text()
    assert "really differ" not in html and "need more seeds" not in html
    assert "do not show there is none" in html and "paired differences" in html


def _integer_ticks(ax: Any) -> bool:
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_whole_number_parameters_get_integer_ticks() -> None:
    import matplotlib.pyplot as plt

    # Fleet sizes read back as floats (e.g. from a CSV) are still whole numbers.
    summary = pd.DataFrame(
        {
            "fleet.workers": [3.0, 4.0],
            "on_time_pct_mean": [80.0, 90.0],
            "on_time_pct_ci_low": [78.0, 88.0],
            "on_time_pct_ci_high": [82.0, 92.0],
        }
    )
    fig, ax = plt.subplots()
    _plot_against(ax, summary, "on_time_pct", "fleet.workers", [], None)
    assert _integer_ticks(ax)
    plt.close(fig)


def test_search_chart_has_integer_fleet_ticks(tmp_path: Path) -> None:
    run_sweep(
        _config(tmp_path, sets=("fleet.workers=3,4",), target="on_time_pct>=60", report=False),
        source=FakeSource(),
        fn=fake_kpis,
    )
    meta = read_meta(tmp_path / "sw")
    target = meta.target_record()
    assert target is not None
    captured: list[Any] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sim.report.figures.render", lambda fig: captured.append(fig) or b"")
        search_chart(meta, target)
    (fig,) = captured
    assert _integer_ticks(fig.axes[0])
