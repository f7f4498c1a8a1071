"""The sweep report: the answer sentence (from target searches, or the best variant without
claiming noise), varying KPIs before constant ones, charts with integer ticks and captions
that do not overclaim."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest

from sim.report.sweep_answer import _search_clause, split_kpis
from sim.report.sweep_report import _plot_against, search_chart
from sim.sweep import run_sweep
from sim.sweep.meta import SearchMeta, SearchPointMeta, read_meta
from sim.sweep.target import Target
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


def _two_policies(on_time: Any) -> Any:
    """A fake model: ``on_time(policy, workers, seed)`` is the on-time %, the fleet size a
    KPI of its own, and ``tasks_created`` the same for every variant (common demand)."""

    def fn(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
        n = int(scenario["fleet.workers"])
        policy = str(scenario.get("dispatch.policy", "a"))
        return {
            "on_time_pct": float(min(100.0, on_time(policy, n, seed))),
            "workers": float(n),
            "tasks_created": 40.0 + seed % 3,
        }

    return fn


def _answer(html: str) -> str:
    m = re.search(r'<p class="answer[^"]*">(.*?)</p>', html)
    assert m is not None
    return htmllib.unescape(re.sub(r"</?code>", "`", m.group(1)))


def test_varying_kpis_first_and_constant_ones_in_one_table(tmp_path: Path) -> None:
    fn = _two_policies(lambda p, n, seed: 5.0 * n + (seed % 3) + (10 if p == "b" else 0))
    run_sweep(
        _config(tmp_path, sets=("fleet.workers=4,8", "dispatch.policy=a,b")),
        source=FakeSource(),
        fn=fn,
    )
    html = (tmp_path / "sw" / "report.html").read_text()
    titles = re.findall(r"<h2>(.*?)</h2>", html)
    assert titles[:3] == [
        "Answer",
        "KPIs that vary across variants (2)",
        "KPIs the same for every variant (1)",
    ]
    body = html[html.index("<main>") :]
    varying = body[body.index("KPIs that vary") : body.index("KPIs the same")]
    assert "on_time_pct (%), mean [95% CI]" in varying and "workers (count)" in varying
    assert "tasks_created" not in varying
    constant = body[body.index("KPIs the same") :]
    assert '<td class="text">tasks_created</td><td class="text">41.0 [40.2, 41.8]</td>' in (
        constant
    )
    # Only the KPIs that vary get a chart (a flat line says nothing).
    assert (tmp_path / "sw" / "sweep-kpi-on_time_pct.png").is_file()
    assert not (tmp_path / "sw" / "sweep-kpi-tasks_created.png").exists()


def test_answer_sentence_from_the_target_searches(tmp_path: Path) -> None:
    # Policy b gets half the on-time % per worker, so it needs about twice the fleet.
    fn = _two_policies(lambda p, n, seed: (5.0 if p == "a" else 2.5) * n + (seed % 3))
    result = run_sweep(
        _config(
            tmp_path,
            sets=("fleet.workers=4,8", "dispatch.policy=a,b"),
            target="on_time_pct>=60",
            fleet_range=(1, 64),
        ),
        source=FakeSource(),
        fn=fn,
    )
    fleets = {v.params["dispatch.policy"]: s.fleet for v, s in result.searches}
    assert fleets == {"a": 12, "b": 24}
    html = (tmp_path / "sw" / "report.html").read_text()
    assert _answer(html) == (
        "With `a` (dispatch.policy), 12 workers meet on_time_pct ≥ 60; `b` needs 24. "
        "(A fleet meets it when the 95% lower bound does.)"
    )
    # The answer, then the target KPI's chart, come before any table.
    assert html.index('class="answer"') < html.index('id="fig-search"') < html.index("<table")


def test_answer_says_within_noise_and_claims_no_difference(tmp_path: Path) -> None:
    # b is a's values one seed along: b - a per seed is +4, +4, +4, -12, +4, so b's mean
    # is higher by 0.8 but the paired interval holds 0.
    fn = _two_policies(lambda p, n, seed: 50.0 + ((seed if p == "a" else seed + 1) % 4) * 4)
    run_sweep(
        _config(tmp_path, sets=("dispatch.policy=a,b",), seeds=5, baseline_variant="a"),
        source=FakeSource(),
        fn=fn,
    )
    html = (tmp_path / "sw" / "report.html").read_text()
    text = _answer(html)
    assert text.startswith("Best mean on_time_pct: dispatch.policy=b, 55.60 [")
    assert "not told apart" in text and "within noise" in text and "beats" not in text
    # The paired chart sits in the answer section, before the variants table.
    body = html[html.index("<main>") :]
    assert body.index('id="fig-paired"') < body.index("KPIs that vary")


def test_answer_names_a_real_difference(tmp_path: Path) -> None:
    fn = _two_policies(lambda p, n, seed: 50.0 + (seed % 3) + (6.0 if p == "b" else 0.0))
    run_sweep(_config(tmp_path, sets=("dispatch.policy=a,b",), seeds=4), source=FakeSource(), fn=fn)
    text = _answer((tmp_path / "sw" / "report.html").read_text())
    assert text.startswith("Best mean on_time_pct: dispatch.policy=b, 57.00 [")
    assert "beats the runner-up dispatch.policy=a by +6.00 [+6.00, +6.00] % per seed" in text


def test_search_clause_marks_an_answer_within_noise() -> None:
    target = Target("on_time_pct", ">=", 95.0)
    point = SearchPointMeta(90, 95.5, 95.1, 96.0, 4, True)
    s = SearchMeta({"dispatch.policy": "load"}, 90, 95.5, 95.1, 96.0, 4, "", [point])
    noisy = SearchMeta(
        {"dispatch.policy": "distance"}, 120, 95.2, 95.0, 95.4, 4, "", [point], within_noise=True
    )
    missed = SearchMeta({"dispatch.policy": "queue"}, None, None, None, None, 4, "", [point])
    assert _search_clause(s, True, target) == (
        "With `load` (dispatch.policy), 90 workers meet on_time_pct ≥ 95"
    )
    assert _search_clause(noisy, False, target) == "`distance` needs 120 (or 119: within noise)"
    assert _search_clause(missed, False, target) == "`queue` does not meet it with up to 90 workers"
    summary = pd.DataFrame(
        {
            "x_mean": [1.0, 1.0],
            "y_mean": [1.0, 2.0],
            "z_mean": [np.nan, np.nan],
            "w_mean": [1.0, 1.0],  # the same mean, but one variant is far noisier
            "w_ci_low": [0.9, 0.1],
            "w_ci_high": [1.1, 1.9],
        }
    )
    assert split_kpis(summary, ["x", "y", "z", "w"]) == (["y", "w"], ["x", "z"])
