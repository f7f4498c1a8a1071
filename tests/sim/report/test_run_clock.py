"""The run report's clock time, hour-of-day table, units and density map: the scenario's
time zone (validated, display only), the hours' numbers on a hand-made run, one duration
unit for tables and charts, and hexagonal cells past the density threshold."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from sim.errors import ScenarioError, UserError
from sim.report import write_report
from sim.report.clock import ClockScale, local_hours, report_zone
from sim.report.figures import TimeScale
from sim.report.hourly import hourly_rows, hourly_table
from sim.report.run_charts import (
    DENSITY_THRESHOLD,
    DurationUnits,
    destinations_map,
    report_units,
    time_distributions,
)
from sim.report.run_report import kpi_table
from tests.fixtures.runs import synthetic_frames, write_run_dir
from tests.fixtures.scenarios import make_scenario

# 2026-01-05 11:00 UTC = 12:00 in Berlin (CET, UTC+01:00).
START_MS = 1_767_610_800_000
MIN = TimeScale(60.0, "min")


def _capture(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    monkeypatch.setattr("sim.report.figures.render", lambda fig: seen.append(fig) or b"")
    return seen


def test_scenario_timezone_defaults_to_utc_and_is_validated() -> None:
    assert make_scenario().scenario.timezone == "UTC"
    berlin = make_scenario(scenario={"name": "t", "timezone": "Europe/Berlin"})
    assert berlin.scenario.timezone == "Europe/Berlin"
    # Display only: the zone does not change what the run is, so not the hash either.
    assert berlin.content_hash() == make_scenario(scenario={"name": "t"}).content_hash()
    for bad in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(ScenarioError) as info:
            make_scenario(scenario={"name": "t", "timezone": bad})
        msg = str(info.value)
        assert "scenario.timezone" in msg and "IANA" in msg and "\n" not in msg


def test_report_zone_reads_the_run_directory(tmp_path: Path) -> None:
    assert report_zone(tmp_path)[0] == ZoneInfo("UTC")  # no scenario.toml: UTC, said so
    assert "UTC" in report_zone(tmp_path)[1]
    (tmp_path / "scenario.toml").write_text('[scenario]\ntimezone = "Asia/Kolkata"\n')
    assert report_zone(tmp_path) == (ZoneInfo("Asia/Kolkata"), "")
    (tmp_path / "scenario.toml").write_text('[scenario]\ntimezone = "Nowhere/Land"\n')
    with pytest.raises(UserError, match=r"scenario.timezone: got 'Nowhere/Land'"):
        report_zone(tmp_path)


def test_local_hours_follow_daylight_saving() -> None:
    # 2026-03-29 00:30 UTC; Berlin springs from 02:00 CET to 03:00 CEST at 01:00 UTC.
    start = 1_774_744_200_000
    hours = local_hours(start, [0.0, 1800.0, 3600.0, math.nan], ZoneInfo("Europe/Berlin"))
    assert hours.tolist() == [1, 3, 3, -1]


def _hand_made_tasks() -> pd.DataFrame:
    """Six tasks: three created 12:xx Berlin, three 13:xx; windows end 30 min after."""
    created = np.array([0.0, 600.0, 1200.0, 3600.0, 4200.0, 4800.0])
    completed = np.array([900.0, 3000.0, 2000.0, np.nan, 6600.0, 5400.0])
    success = np.array([True, True, False, False, True, True])
    before = created + 1800.0
    on_time = success & (completed <= before)
    return pd.DataFrame(
        {
            "created_s": created,
            "completed_s": completed,
            "complete_before_s": before,
            "success": success,
            "on_time": on_time,
            "state": np.array([3, 3, 3, 2, 3, 3], dtype=np.int8),
        }
    )


@pytest.mark.parametrize("nullable", [False, True])
def test_hour_of_day_rows_have_the_right_numbers(nullable: bool) -> None:
    tasks = _hand_made_tasks()
    if nullable:  # the newer table layout: real nulls in nullable columns
        tasks = tasks.convert_dtypes()
        assert tasks["completed_s"].isna().sum() == 1
    rows = hourly_rows(tasks, START_MS, ZoneInfo("Europe/Berlin"), MIN)
    assert [r.hour for r in rows] == [12, 13]
    noon, one = rows
    # 12:xx: on time (900 <= 1800), late by 3000 - 2400 = 600 s, failed.
    assert (noon.created, noon.on_time, noon.late, noon.failed, noon.open) == (3, 1, 1, 1, 0)
    assert noon.lateness_p50 == pytest.approx(10.0) and noon.on_time_pct == pytest.approx(100 / 3)
    # 13:xx: open, late by 6600 - 6000 = 600 s, on time.
    assert (one.created, one.on_time, one.late, one.failed, one.open) == (3, 1, 1, 0, 1)
    html = hourly_table(rows, MIN, "Europe/Berlin, UTC+01:00")
    assert "12:00–13:00" in html and "13:00–14:00" in html and "all hours" in html
    assert "hour created (Europe/Berlin, UTC+01:00)" in html and "lateness p50 (min)" in html
    assert "<td>33.33</td>" in html and "<td>10.00</td>" in html
    # In UTC the same tasks fall in 11:xx and 12:xx.
    assert [r.hour for r in hourly_rows(_hand_made_tasks(), START_MS, ZoneInfo("UTC"), MIN)] == [
        11,
        12,
    ]


def test_report_shows_clock_times_in_the_scenario_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = synthetic_frames()
    run_dir = write_run_dir(tmp_path / "run", run)
    (run_dir / "scenario.toml").write_text('[scenario]\nname = "s"\ntimezone = "America/Chicago"\n')
    html = write_report(run_dir).read_text()
    assert "America/Chicago, UTC-06:00" in html
    assert "starts 2025-11-23 02:00 CST" in html  # the fixture starts 08:00 UTC
    assert "By hour of day" in html and "hour created (America/Chicago, UTC-06:00)" in html
    # The total row's on-time % is the run's KPI.
    t = run.tasks
    total = re.search(r"<td class=\"text\">all hours</td><td>([\d,]+)</td><td>([\d,]+)</td>", html)
    assert total is not None
    assert int(total.group(1)) == len(t) and int(total.group(2)) == int(t["on_time"].sum())
    seen = _capture(monkeypatch)
    write_report(run_dir)
    xlabels = {ax.get_xlabel() for fig in seen for ax in fig.axes}
    assert "clock time (America/Chicago, UTC-06:00)" in xlabels
    assert "hour of day the task was created (America/Chicago, UTC-06:00)" in xlabels
    clock = ClockScale(int(run.meta.start_epoch_ms), ZoneInfo("America/Chicago"))
    assert clock.label == "clock time (America/Chicago, UTC-06:00)"


def test_each_duration_has_one_unit_in_tables_and_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = synthetic_frames()
    tasks = run.tasks
    tasks["assigned_s"] = tasks["created_s"] + 5.0
    units = report_units(tasks)
    # Assignment takes seconds here, completion about a quarter of an hour.
    assert units == DurationUnits(TimeScale(1.0, "s"), MIN)
    kpis = {
        "tasks_created": 10,
        "time_to_assign_p50_s": 30.0,
        "time_to_complete_p90_s": 1800.0,
        "on_time_pct": 90.0,
    }
    html = kpi_table(kpis, units)
    assert '<td>30.00</td><td class="text">s</td>' in html  # time to assign: seconds
    assert '<td>30.00</td><td class="text">min</td>' in html  # 1800 s to complete: 30 min
    assert '<td>90.00</td><td class="text">%</td>' in html
    seen = _capture(monkeypatch)
    time_distributions(tasks, units)
    (fig,) = seen
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert "(s)" in labels[0] and "(min)" in labels[1] and "(min)" in labels[2], labels
    monkeypatch.undo()
    html = write_report(write_run_dir(tmp_path / "run", run)).read_text()
    assert "time to assign is in s, time to complete and lateness in min" in html
    assert "lateness p50 (min)" in html


def test_density_map_past_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture(monkeypatch)
    for n in (DENSITY_THRESHOLD, DENSITY_THRESHOLD + 1):
        run = synthetic_frames(n_tasks=n, n_workers=10)
        c = destinations_map(run.tasks, run.events, run.workers)
        cells = [p for p in seen[-1].axes[0].collections if isinstance(p, PolyCollection)]
        if n <= DENSITY_THRESHOLD:
            assert cells == [] and "hexagonal" not in c.caption
        else:
            (hexbin,) = cells
            assert float(np.sum(hexbin.get_array())) == n  # every task in one cell
            assert "hexagonal cell" in c.caption
            assert seen[-1].axes[0].get_title().startswith("Destination density")


def test_cli_report_with_an_unknown_zone_exits_2(
    synthetic_run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleetsim.cli import main

    (synthetic_run_dir / "scenario.toml").write_text('[scenario]\ntimezone = "Mars/Base"\n')
    assert main(["report", str(synthetic_run_dir)]) == 2
    err = capsys.readouterr().err
    assert "scenario.timezone: got 'Mars/Base'" in err and "Traceback" not in err
    assert not (synthetic_run_dir / "report.html").exists()  # nothing half-written
