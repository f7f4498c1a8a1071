"""Sweeps end to end: failures recorded, resume, common random numbers, Dask = serial, the
target search on a real scenario, and the command line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fleetsim.cli import main
from sim.errors import UserError
from sim.report.sweep_report import build_sweep_report
from sim.run import simulate
from sim.sweep import FileScenarios, SweepConfig, run_sweep
from sim.sweep.grid import Variant, expand_grid, parse_sets, replication_seeds
from tests.fixtures.runs import TINY


class FakeSource:
    """Variants as plain dicts; the 'simulation' is a formula of the fleet size."""

    name = "fake"
    key = "fake-v1"
    base_seed = 100

    def load(self, variant: Variant) -> dict[str, Any]:
        return {"fleet.workers": 10, **variant.params}

    def fleet_size(self, scenario: Any) -> int | None:
        return int(scenario["fleet.workers"])


def fake_kpis(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
    n = int(scenario["fleet.workers"])
    if scenario.get("dispatch.policy") == "broken" and seed % 2 == 0:
        raise RuntimeError(f"boom at seed {seed}")
    return {"on_time_pct": min(100.0, 5.0 * n + (seed % 3)), "workers": float(n)}


def _config(tmp_path: Path, **kw: Any) -> SweepConfig:
    base: dict[str, Any] = {
        "scenario": Path("fake.toml"),
        "seeds": 4,
        "out_dir": tmp_path / "sw",
        "serial": True,
        "progress": False,
    }
    base.update(kw)
    return SweepConfig(**base)


def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    cfg = _config(tmp_path, sets=("fleet.workers=5,10", "dispatch.policy=ok,broken"))
    result = run_sweep(cfg, source=FakeSource(), fn=fake_kpis)
    assert len(result.rows) == 2 * 2 * 4
    failed = result.failed
    assert len(failed) == 2 * 2  # broken policy, even seeds 100 and 102, both fleets
    assert all("RuntimeError: boom at seed" in r.error for r in failed)
    df = pd.read_parquet(tmp_path / "sw" / "sweep.parquet")
    assert list(df.columns[:4]) == ["run_id", "phase", "fleet.workers", "dispatch.policy"]
    assert {"seed", "on_time_pct", "workers", "error", "elapsed_s"} <= set(df.columns)
    bad = df[df["error"] != ""]
    assert len(bad) == 4 and bad["on_time_pct"].isna().all()
    assert df[df["error"] == ""]["on_time_pct"].notna().all()
    summary = pd.read_csv(tmp_path / "sw" / "summary.csv")
    failed_by_policy = summary.groupby("dispatch.policy")["n_failed"].apply(list).to_dict()
    assert failed_by_policy == {"broken": [2, 2], "ok": [0, 0]}
    assert summary["fleet.workers"].tolist() == [5, 5, 10, 10]  # sorted by the parameters
    assert summary["n_runs"].tolist() == [4, 4, 4, 4]
    html = (tmp_path / "sw" / "report.html").read_text()
    assert "Failed runs (4)" in html and "boom at seed 100" in html


def test_resume_skips_finished_runs(tmp_path: Path) -> None:
    calls: list[int] = []

    def interrupted(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(seed)
        return fake_kpis(scenario, seed)

    cfg = _config(tmp_path, sets=("fleet.workers=5,10,15",))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, source=FakeSource(), fn=interrupted)
    journal = (tmp_path / "sw" / "runs.jsonl").read_text().splitlines()
    assert len(journal) == 5
    with open(tmp_path / "sw" / "runs.jsonl", "a") as fh:
        fh.write('{"run_id": "torn')  # a crash mid-line must not break the resume

    resumed: list[int] = []

    def counting(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
        resumed.append(seed)
        return fake_kpis(scenario, seed)

    result = run_sweep(
        _config(tmp_path, sets=("fleet.workers=5,10,15",), resume=True),
        source=FakeSource(),
        fn=counting,
    )
    assert len(resumed) == 12 - 5
    assert len(result.rows) == 12 and not result.failed
    fresh = run_sweep(
        _config(tmp_path, sets=("fleet.workers=5,10,15",), out_dir=tmp_path / "fresh"),
        source=FakeSource(),
        fn=fake_kpis,
    )
    cols = ["run_id", "fleet.workers", "seed", "on_time_pct", "error"]
    a = pd.read_parquet(tmp_path / "sw" / "sweep.parquet")[cols]
    b = pd.read_parquet(fresh.out_dir / "sweep.parquet")[cols]
    pd.testing.assert_frame_equal(a, b)
    # Without --resume, the journal starts afresh.
    run_sweep(_config(tmp_path, sets=("fleet.workers=5",)), source=FakeSource(), fn=counting)
    assert len((tmp_path / "sw" / "runs.jsonl").read_text().splitlines()) == 4


def test_target_search_with_fake_kpi(tmp_path: Path) -> None:
    cfg = _config(tmp_path, sets=("fleet.workers=4,8",), target="on_time_pct>=60")
    result = run_sweep(cfg, source=FakeSource(), fn=fake_kpis)
    ((_, search),) = result.searches
    # seeds 100..103 add 1, 2, 0, 1: the bootstrap lower bound of the mean of
    # {0, 1, 1, 2} is 0.25 (of the 256 equally likely resamples one averages 0 and nine
    # at most 0.25, so the 2.5th percentile falls at 0.25), hence 5n + 0.25 >= 60 at n = 12.
    assert search.fleet == 12
    assert search.ci is not None and search.ci.low == pytest.approx(60.25)
    assert search.ci is not None and search.ci.low >= 60
    summary = pd.read_csv(result.out_dir / "summary.csv")
    assert {"fleet.workers", "meets_target", "on_time_pct_ci_low"} <= set(summary.columns)
    html = (result.out_dir / "report.html").read_text()
    assert "smallest fleet meeting on_time_pct&gt;=60: 12 workers" in html


def test_target_with_unknown_kpi_is_a_user_error(tmp_path: Path) -> None:
    cfg = _config(tmp_path, sets=("fleet.workers=4,8",), target="on_tme_pct>=60")
    with pytest.raises(UserError, match="unknown KPI 'on_tme_pct'; known: tasks_created"):
        run_sweep(cfg, source=FakeSource(), fn=fake_kpis)
    assert not (tmp_path / "sw").exists()  # caught before any run (and any file)


def test_common_random_numbers_same_demand_across_variants() -> None:
    source = FileScenarios(TINY)
    seeds = replication_seeds(source.base_seed, 2)
    variants = expand_grid(parse_sets(["fleet.workers=2,6", "dispatch.policy=distance,load"]))
    cols = ["ordered_s", "lat", "lon"]
    for seed in seeds:
        demands = [simulate(source.load(v), seed).tasks[cols] for v in variants]
        for d in demands[1:]:
            pd.testing.assert_frame_equal(d, demands[0])
    other = simulate(source.load(variants[0]), seeds[0] + 100).tasks[cols]
    assert not other.equals(simulate(source.load(variants[0]), seeds[0]).tasks[cols])


def test_bisection_on_a_real_scenario_with_a_known_monotone_kpi(tmp_path: Path) -> None:
    # The 'workers' KPI is the fleet size itself: exactly monotone, so the answer is known.
    cfg = SweepConfig(
        scenario=TINY,
        seeds=2,
        out_dir=tmp_path / "sw",
        serial=True,
        progress=False,
        target="workers>=7",
        report=False,
    )
    result = run_sweep(cfg)
    ((_, search),) = result.searches
    assert search.fleet == 7
    assert search.ci is not None and search.ci.low == search.ci.high == 7.0
    assert {p.fleet for p in search.points if not p.met} >= {6}


def _tiny_grid(**kw: Any) -> dict[str, Any]:
    sets = (
        "fleet.workers=3,6",
        "dispatch.policy=distance,load",
        "demand.source=generate,csv",
        'demand.csv="missing.csv"',
    )
    return {"scenario": TINY, "sets": sets, "seeds": 2, "progress": False, "report": False, **kw}


def _table(result: Any) -> pd.DataFrame:
    return pd.read_parquet(result.out_dir / "sweep.parquet").drop(columns="elapsed_s")


@pytest.mark.slow
def test_local_cluster_gives_the_same_rows_as_a_serial_run(tmp_path: Path) -> None:
    serial = run_sweep(SweepConfig(out_dir=tmp_path / "serial", serial=True, **_tiny_grid()))
    # The default path of `fleetsim sweep --workers 2`: a LocalCluster of 2 processes.
    dask = run_sweep(SweepConfig(out_dir=tmp_path / "dask", workers=2, **_tiny_grid()))
    a, b = _table(serial), _table(dask)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 16
    # The csv variants fail on the workers (no such file) and are recorded, not fatal.
    assert (a[a["demand.source"] == "csv"]["error"].str.contains("missing.csv")).all()
    assert (a[a["demand.source"] == "generate"]["error"] == "").all()


@pytest.mark.slow
def test_existing_cluster_via_scheduler_address(tmp_path: Path) -> None:
    import logging

    from distributed import LocalCluster

    serial = run_sweep(SweepConfig(out_dir=tmp_path / "serial", serial=True, **_tiny_grid()))
    # The scheduler's HTTP server on a free loopback port, as local_cluster does: Dask's
    # default 8787 collides with any other cluster on the machine.
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    ) as cluster:
        remote = run_sweep(
            SweepConfig(
                out_dir=tmp_path / "remote", scheduler=cluster.scheduler_address, **_tiny_grid()
            )
        )
    pd.testing.assert_frame_equal(_table(serial), _table(remote))


def test_cli_sweep_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "o")
    cases = [
        (["sweep", str(TINY), "--set", "fleet.workers", "--serial", "--out", out], "--set"),
        (["sweep", str(tmp_path / "none.toml"), "--serial", "--out", out], "no such"),
        (
            [
                "sweep",
                str(TINY),
                "--seeds",
                "1",
                "--target",
                "on_time_pct>=90",
                "--serial",
                "--out",
                out,
            ],
            "--seeds 1",
        ),
        (
            ["sweep", str(TINY), "--set", "fleet.workers=0", "--serial", "--out", out],
            "fleet.workers",
        ),
        (["sweep", str(TINY), "--fleet-range", "x", "--serial", "--out", out], "--fleet-range"),
        (
            [
                "sweep",
                str(TINY),
                "--set",
                "fleet.workers=3,5",
                "--baseline-variant",
                "fleet.workers=4",
                "--serial",
                "--out",
                out,
            ],
            "--baseline-variant 'fleet.workers=4': not a variant of this grid; choose one of: "
            "fleet.workers=3; fleet.workers=5",
        ),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, err


def test_cli_sweep_serial_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    argv = [
        "sweep",
        str(TINY),
        "--set",
        "fleet.workers=3,5",
        "--seeds",
        "2",
        "--serial",
        "--baseline-variant",
        "3",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "4 runs, 0 failed" in capsys.readouterr().out
    paired = pd.read_csv(out / "paired.csv")
    assert paired["fleet.workers"].unique().tolist() == [5]
    assert paired["n_pairs"].eq(2).all()
    assert "Paired differences against fleet.workers=3" in (out / "report.html").read_text()
    for name in (
        "sweep.parquet",
        "summary.csv",
        "paired.csv",
        "sweep.json",
        "report.html",
        "runs.jsonl",
        "sweep-kpi-on_time_pct.png",
    ):
        assert (out / name).is_file(), name
    assert main(["report", str(out)]) == 0


def test_bad_scenario_override_fails_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"dispatch\.policy"):
        run_sweep(
            SweepConfig(
                scenario=TINY,
                sets=("dispatch.policy=distance,teleport",),
                seeds=2,
                out_dir=tmp_path / "x",
                serial=True,
                progress=False,
            )
        )
    assert not (tmp_path / "x" / "sweep.parquet").exists()


OUTPUTS = ("sweep.parquet", "summary.csv", "sweep.json", "report.html")


def _never(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
    raise AssertionError("no run may start")


@pytest.mark.parametrize("resume", [True, False])
def test_target_typo_fails_before_any_run_and_keeps_the_previous_sweep(
    tmp_path: Path, resume: bool
) -> None:
    sets = ("fleet.workers=4,8",)
    run_sweep(_config(tmp_path, sets=sets), source=FakeSource(), fn=fake_kpis)
    out = tmp_path / "sw"
    before = {name: (out / name).read_bytes() for name in (*OUTPUTS, "runs.jsonl")}
    cfg = _config(tmp_path, sets=sets, target="on_tme_pct>=90", resume=resume)
    with pytest.raises(UserError, match=r"unknown KPI 'on_tme_pct'; known: .*on_time_pct"):
        run_sweep(cfg, source=FakeSource(), fn=_never)
    assert {name: (out / name).read_bytes() for name in before} == before


def test_resumed_rows_take_this_sweeps_phase(tmp_path: Path) -> None:
    # A target search evaluates fleet 12 (see test_target_search_with_fake_kpi) ...
    first = run_sweep(
        _config(tmp_path, sets=("fleet.workers=4,8",), target="on_time_pct>=60"),
        source=FakeSource(),
        fn=fake_kpis,
    )
    ((_, search),) = first.searches
    assert search.fleet == 12
    # ... then a grid asks for fleet 12: its rows are reused, and they are grid rows now.
    second = run_sweep(
        _config(tmp_path, sets=("fleet.workers=8,12",), resume=True),
        source=FakeSource(),
        fn=_never,
    )
    assert {r.phase for r in second.rows} == {"grid"}
    df = pd.read_parquet(second.out_dir / "sweep.parquet")
    assert (df["phase"] == "grid").all() and sorted(set(df["fleet.workers"])) == [8, 12]
    summary = pd.read_csv(second.out_dir / "summary.csv")
    assert summary["fleet.workers"].tolist() == [8, 12]
    page, _ = build_sweep_report(second.out_dir)
    assert "fleet.workers=12" in page or ">12<" in page


def capped_kpis(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
    """6 of 100 tasks fail whatever the fleet, so on-time levels off at 94%."""
    n = int(scenario["fleet.workers"])
    on_time = 94.0 * (1.0 - 0.5 ** (n / 2.0)) - 0.1 * (seed % 2)
    return {"tasks_created": 100.0, "tasks_failed": 6.0, "on_time_pct": on_time}


def test_an_unreachable_target_names_its_ceiling(tmp_path: Path) -> None:
    cfg = _config(tmp_path, sets=("fleet.workers=4",), target="on_time_pct>=95")
    result = run_sweep(cfg, source=FakeSource(), fn=capped_kpis)
    ((_, search),) = result.searches
    assert search.fleet is None and search.ceiling == pytest.approx(94.0)
    text = search.describe()
    assert "no fleet of 1..32 workers meets on_time_pct>=95" in text
    assert "best reached: on_time_pct = 93.9" in text and "at 32 workers" in text
    assert "unreachable: failed tasks (6.0% of those created) are never on time" in text
    meta = (result.out_dir / "sweep.json").read_text()
    assert '"ceiling": 94.0' in meta and "unreachable" in meta


def cancelled_kpis(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
    """4 of 100 fail (1 of them a no-show) and 3 are cancelled: on-time levels off at 93%."""
    n = int(scenario["fleet.workers"])
    return {
        "tasks_created": 100.0,
        "tasks_failed": 4.0,
        "tasks_no_show": 1.0,
        "tasks_cancelled": 3.0,
        "on_time_pct": 93.0 * (1.0 - 0.5 ** (n / 2.0)),
    }


def test_the_ceiling_counts_cancellations_and_no_shows(tmp_path: Path) -> None:
    cfg = _config(tmp_path, sets=("fleet.workers=4",), target="on_time_pct>=95")
    ((_, search),) = run_sweep(cfg, source=FakeSource(), fn=cancelled_kpis).searches
    assert search.fleet is None and search.ceiling == pytest.approx(93.0)
    assert (
        "unreachable: failed tasks (4.0% of those created, 1.0% no-shows) and "
        "cancelled tasks (3.0%) are never on time" in search.describe()
    )


def test_the_search_answer_is_compared_with_its_neighbour(tmp_path: Path) -> None:
    result = run_sweep(
        _config(tmp_path, sets=("fleet.workers=4,8",), target="on_time_pct>=60"),
        source=FakeSource(),
        fn=fake_kpis,
    )
    ((_, search),) = result.searches
    # 5n + (seed % 3): the same offsets at every fleet, so 12 - 11 workers is exactly +5.
    d = search.neighbour
    assert d is not None and (d.mean, d.low, d.high, d.n) == (5.0, 5.0, 5.0, 4)
    assert "12 against 11 workers, paired over 4 seeds: +5.00 [+5.00, +5.00]" in (search.describe())
