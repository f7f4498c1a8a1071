"""Paired comparisons against a baseline variant: parsing, the table, and a whole sweep."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.errors import UserError
from sim.report.sweep_report import build_sweep_report
from sim.sweep import SweepConfig, run_sweep
from sim.sweep.grid import Param, Variant, expand_grid, parse_sets
from sim.sweep.paired import paired_table, parse_baseline
from tests.sim.sweep.test_sweep import FakeSource, fake_kpis


def _grid(*sets: str) -> tuple[list[Param], list[Variant]]:
    params = parse_sets(sets)
    return params, expand_grid(params)


def test_the_baseline_names_one_variant_of_the_grid() -> None:
    params, variants = _grid("fleet.workers=60,80", "dispatch.policy=distance,load")
    v = parse_baseline("dispatch.policy=load, fleet.workers=80", params, variants)
    assert v.params == {"fleet.workers": 80, "dispatch.policy": "load"}
    one_params, one_variants = _grid("fleet.workers=60,80")
    assert parse_baseline("60", one_params, one_variants).params == {"fleet.workers": 60}
    assert parse_baseline("fleet.workers=60.0", one_params, one_variants).params == {
        "fleet.workers": 60
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("fleet.workers=70,dispatch.policy=load", "not a variant of this grid; choose one of"),
        ("fleet.workers=60", "give a value for dispatch.policy too"),
        ("fleet.speed=3,fleet.workers=60", "'fleet.speed' is not swept"),
        ("60", "expected path=value for every swept parameter"),
    ],
)
def test_a_bad_baseline_names_the_value_and_the_fix(text: str, needle: str) -> None:
    params, variants = _grid("fleet.workers=60,80", "dispatch.policy=distance,load")
    with pytest.raises(UserError, match="--baseline-variant") as err:
        parse_baseline(text, params, variants)
    assert needle in str(err.value) and repr(text) in str(err.value)


def test_a_baseline_needs_something_to_compare() -> None:
    params, variants = _grid()
    with pytest.raises(UserError, match="at least two variants"):
        parse_baseline("60", params, variants)


def _runs(values: dict[int, list[float]], seeds: list[int]) -> pd.DataFrame:
    rows = [
        {
            "run_id": f"{fleet}-{s}",
            "phase": "grid",
            "fleet.workers": fleet,
            "seed": s,
            "on_time_pct": v,
            "error": "" if not math.isnan(v) else "boom",
        }
        for fleet, vs in values.items()
        for s, v in zip(seeds, vs, strict=True)
    ]
    return pd.DataFrame(rows)


def test_paired_differences_by_seed() -> None:
    seeds = [1, 2, 3, 4]
    df = _runs(
        {
            60: [80.0, 90.0, 70.0, 85.0],
            80: [82.0, 92.0, 72.0, 87.0],  # exactly +2 on every seed
            100: [81.0, 89.0, 71.0, math.nan],  # +1, -1, +1; seed 4 failed
        },
        seeds,
    )
    t = paired_table(df, ["fleet.workers"], ["on_time_pct"], {"fleet.workers": 60})
    assert t["fleet.workers"].tolist() == [80, 100]
    r80, r100 = (t.iloc[i] for i in range(2))
    assert (r80["diff_mean"], r80["diff_ci_low"], r80["diff_ci_high"]) == (2.0, 2.0, 2.0)
    assert r80["n_pairs"] == 4 and bool(r80["differs"])
    assert r100["n_pairs"] == 3 and r100["diff_mean"] == pytest.approx(1.0 / 3.0)
    assert r100["diff_ci_low"] == -1.0 and r100["diff_ci_high"] == 1.0
    assert not bool(r100["differs"])
    # A variant that ran other seeds is not paired: a broken sweep, not a result.
    other = pd.concat([df, _runs({120: [1.0, 2.0]}, [1, 9])])
    with pytest.raises(ValueError, match="not paired"):
        paired_table(other, ["fleet.workers"], ["on_time_pct"], {"fleet.workers": 60})


def test_a_sweep_writes_paired_csv_and_every_variant_ran_the_same_seeds(
    tmp_path: Path,
) -> None:
    cfg = SweepConfig(
        scenario=Path("fake.toml"),
        sets=("fleet.workers=4,8", "dispatch.policy=a,b"),
        seeds=4,
        out_dir=tmp_path / "sw",
        serial=True,
        progress=False,
        baseline_variant="fleet.workers=4,dispatch.policy=a",
    )
    result = run_sweep(cfg, source=FakeSource(), fn=fake_kpis)
    runs = pd.read_parquet(result.out_dir / "sweep.parquet")
    seeds = runs.groupby(["fleet.workers", "dispatch.policy"])["seed"].apply(sorted)
    assert all(s == [100, 101, 102, 103] for s in seeds)  # common random numbers
    paired = pd.read_csv(result.out_dir / "paired.csv")
    assert len(paired) == 3 * 2  # three variants × two KPIs
    on_time = paired[paired["kpi"] == "on_time_pct"].set_index(["fleet.workers", "dispatch.policy"])
    # on_time_pct = 5n + (seed % 3): the seed term cancels in every pair, so the difference
    # is exactly 5·(8 − 4) = 20 with a zero-width interval, and 0 across policies.
    assert on_time.loc[(8, "a"), ["diff_mean", "diff_ci_low", "diff_ci_high"]].tolist() == [
        20.0,
        20.0,
        20.0,
    ]
    assert bool(on_time.loc[(8, "b"), "differs"])
    assert on_time.loc[(4, "b"), "diff_mean"] == 0.0 and not on_time.loc[(4, "b"), "differs"]
    assert np.isfinite(paired["diff_mean"]).all()
    page, _ = build_sweep_report(result.out_dir)
    assert "Paired differences against fleet.workers=4, dispatch.policy=a" in page
    assert "+20.00 [+20.00, +20.00]" in page


def test_the_same_sweep_writes_byte_identical_summary_and_paired_files(tmp_path: Path) -> None:
    """The bootstrap is seeded: intervals are a pure function of the runs' values."""

    def noisy(scenario: dict[str, object], seed: int) -> dict[str, float]:
        n = int(str(scenario["fleet.workers"]))
        return {"on_time_pct": min(100.0, 10.0 * n + np.random.default_rng(seed).normal(0, 3))}

    out: list[dict[str, bytes]] = []
    for name in ("a", "b"):
        cfg = SweepConfig(
            scenario=Path("fake.toml"),
            sets=("fleet.workers=4,8,10",),
            seeds=6,
            out_dir=tmp_path / name,
            serial=True,
            progress=False,
            report=False,
            baseline_variant="8",
        )
        result = run_sweep(cfg, source=FakeSource(), fn=noisy)  # type: ignore[arg-type]
        out.append({f: (result.out_dir / f).read_bytes() for f in ("summary.csv", "paired.csv")})
    assert out[0] == out[1]
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    assert (summary["on_time_pct_ci_high"] <= 100.0).all()  # 10 workers sit at the cap
