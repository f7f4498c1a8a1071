"""Comparing simulation runs and sweeps (sim.compare) and the gate (sim.compare_gate)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.compare import (
    METHOD_PAIRED,
    METHOD_UNPAIRED,
    Comparison,
    Delta,
    check_kinds,
    compare_runs,
    dir_kind,
    holm,
)
from sim.compare_gate import KPI_METRICS, Vocabulary, evaluate_gate, parse_gate
from sim.compare_sweep import compare_sweeps
from sim.errors import UserError
from sim.kpis import KPI_NAMES, kpi_bounds
from sim.output import write_outputs
from sim.run import simulate
from sim.scenario_io import load_scenario
from sim.sweep import SweepConfig, run_sweep
from tests.fixtures.scenarios import SCENARIOS

TINY = SCENARIOS / "tiny.toml"


def _run(path: Path, *overrides: str, seed: int | None = None) -> Path:
    result = simulate(load_scenario(TINY, list(overrides)), seed=seed)
    return write_outputs(result, path)


def _sweep(path: Path, *sets: str, seeds: int = 4) -> Path:
    config = SweepConfig(
        scenario=TINY, sets=sets, seeds=seeds, out_dir=path, serial=True, report=False
    )
    run_sweep(config)
    return path


def test_two_runs_of_one_scenario_and_seed_do_not_differ(tmp_path: Path) -> None:
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b")
    c = compare_runs(a, b)
    assert c.kind == "run" and c.warnings == ()
    assert [d.metric for d in c.deltas] == list(KPI_NAMES)
    assert all(d.delta == 0 and d.verdict == "no change" for d in c.deltas)
    assert c.significant == ()


def test_a_what_if_run_warns_and_reports_deltas_without_intervals(tmp_path: Path) -> None:
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b", "fleet.workers=2")
    c = compare_runs(a, b)
    assert any("what-if" in w for w in c.warnings)
    workers = c.find("kpis", "", "workers")
    assert workers is not None and workers.delta == -4
    # One run each says nothing about noise: no interval, never significant.
    assert workers.verdict == "no interval" and not workers.has_interval
    assert c.significant == ()


def test_a_clearly_smaller_fleet_is_significantly_worse_on_paired_seeds(
    tmp_path: Path,
) -> None:
    base = _sweep(tmp_path / "base")
    new = _sweep(tmp_path / "new", "fleet.workers=2")
    c = compare_sweeps(base, new)
    on_time = c.find("kpis", "(scenario as written) -> fleet.workers=2", "on_time_pct")
    assert on_time is not None and on_time.method == METHOD_PAIRED
    assert on_time.n_base == on_time.n_new == 4
    assert on_time.delta < 0 and on_time.high < 0
    assert on_time.significant and on_time.verdict == "worse"
    util = c.find("kpis", "(scenario as written) -> fleet.workers=2", "utilisation_pct")
    assert util is not None and util.low > 0 and util.verdict == "better"
    created = c.find("kpis", "(scenario as written) -> fleet.workers=2", "tasks_created")
    # Common random numbers: the demand does not depend on the fleet.
    assert created is not None and created.verdict == "no change"


def test_the_same_sweep_twice_has_no_significant_difference(tmp_path: Path) -> None:
    a = _sweep(tmp_path / "a", seeds=3)
    b = _sweep(tmp_path / "b", seeds=3)
    c = compare_sweeps(a, b)
    assert c.significant == () and all(d.verdict == "no change" for d in c.deltas)


def _fake_sweep(
    path: Path, kpis: dict[str, list[float]], seeds: list[int], errors: list[str] | None = None
) -> Path:
    """A sweep directory by hand: sweep.json and the grid rows of sweep.parquet."""
    path.mkdir(parents=True)
    df = pd.DataFrame({"run_id": [f"r{s}" for s in seeds], "phase": "grid", "seed": seeds})
    for k, v in kpis.items():
        df[k] = np.asarray(v, dtype=float)
    df["error"] = errors or [""] * len(seeds)
    df["elapsed_s"] = 0.1
    df.to_parquet(path / "sweep.parquet", index=False)
    meta: dict[str, Any] = {
        "scenario": "x.toml",
        "scenario_name": "x",
        "scenario_key": "sha256:0",
        "params": {},
        "seeds": seeds,
        "target": None,
        "target_kpi": None,
        "target_op": None,
        "target_limit": None,
        "searches": [],
        "runs": len(seeds),
        "failed": 0,
        "baseline": None,
    }
    (path / "sweep.json").write_bytes(orjson.dumps(meta))
    return path


_pct = st.lists(st.floats(0.0, 100.0), min_size=3, max_size=6)


@settings(max_examples=25, deadline=None)
@given(base=_pct, new=_pct, paired=st.booleans())
def test_intervals_never_leave_the_kpi_range(
    tmp_path_factory: pytest.TempPathFactory, base: list[float], new: list[float], paired: bool
) -> None:
    root = tmp_path_factory.mktemp("range")
    n = min(len(base), len(new))
    base, new = (base[:n], new[:n]) if paired else (base, new)
    b_seeds = list(range(len(base)))
    n_seeds = b_seeds[: len(new)] if paired else list(range(100, 100 + len(new)))
    a = _fake_sweep(root / "a", {"on_time_pct": base, "tasks_open": base}, b_seeds)
    b = _fake_sweep(root / "b", {"on_time_pct": new, "tasks_open": new}, n_seeds)
    c = compare_sweeps(a, b)
    for d in c.deltas:
        lo, hi = kpi_bounds(d.metric)
        assert d.method == (METHOD_PAIRED if paired else METHOD_UNPAIRED)
        for x in (d.base_low, d.base_high, d.new_low, d.new_high, d.base, d.new):
            assert lo <= x <= hi
        assert lo - hi <= d.low <= d.delta + 1e-9 and d.delta - 1e-9 <= d.high <= hi - lo


def test_sweeps_over_different_seeds_are_compared_unpaired_with_a_warning(
    tmp_path: Path,
) -> None:
    a = _fake_sweep(tmp_path / "a", {"on_time_pct": [90, 92, 91, 93]}, [1, 2, 3, 4])
    b = _fake_sweep(tmp_path / "b", {"on_time_pct": [60, 62, 61, 59]}, [5, 6, 7, 8])
    c = compare_sweeps(a, b)
    (d,) = c.deltas
    assert d.method == METHOD_UNPAIRED and d.verdict == "worse"
    assert any("different seeds" in w for w in c.warnings)


def test_a_seed_failed_on_one_side_drops_out_of_the_pairs(tmp_path: Path) -> None:
    a = _fake_sweep(tmp_path / "a", {"on_time_pct": [90, 92, 91, 93]}, [1, 2, 3, 4])
    b = _fake_sweep(
        tmp_path / "b", {"on_time_pct": [80, 0, 81, 83]}, [1, 2, 3, 4], ["", "boom", "", ""]
    )
    (d,) = compare_sweeps(a, b).deltas
    assert d.method == METHOD_PAIRED and d.n_base == d.n_new == 3
    assert d.base == pytest.approx((90 + 91 + 93) / 3) and d.delta == pytest.approx(-10.0)


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    sweep = _fake_sweep(tmp_path / "sweep", {"on_time_pct": [1, 2]}, [1, 2])
    with pytest.raises(UserError, match="no such directory"):
        dir_kind(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a run, sweep or replay"):
        dir_kind(tmp_path / "empty")
    with pytest.raises(UserError, match="cannot compare a run"):
        check_kinds(run, sweep)
    other = tmp_path / "other"
    doc = orjson.loads((run / "kpis.json").read_bytes())
    doc["scenario"] = "lunch"
    other.mkdir()
    (other / "kpis.json").write_bytes(orjson.dumps(doc))
    with pytest.raises(UserError, match=r"different scenarios.*--what-if"):
        compare_runs(run, other)
    assert any("what-if" in w for w in compare_runs(run, other, what_if=True).warnings)


def test_holm_adjusts_a_family_and_keeps_nans() -> None:
    assert holm([0.01, 0.04, math.nan, 0.03]) == pytest.approx(
        [0.03, 0.06, math.nan, 0.06], nan_ok=True
    )
    assert holm([]) == []


# -- the gate ---------------------------------------------------------------------------

VOCAB = Vocabulary(
    {**KPI_METRICS, "endpoints": ("p99_ms", "error_ratio")},
    {"endpoints": ("POST /api/v2/tasks", "GET /x")},
)


def _cmp(*deltas: Delta) -> Comparison:
    return Comparison("replay", "a", "b", deltas)


def test_gate_fails_only_a_significant_violation() -> None:
    c = _cmp(
        Delta("endpoints", "POST /api/v2/tasks", "p99_ms", "ms", 100, 130, "lower", 10, 50),
        Delta("endpoints", "GET /x", "p99_ms", "ms", 100, 130, "lower", -5, 60),
        Delta("endpoints", "GET /y", "p99_ms", "ms", 100, 105, "lower", 1, 9),
    )
    checks = evaluate_gate(c, parse_gate({"p99_ms": {"max_increase_pct": 10}}, VOCAB))
    by_scope = {ch.scope: ch for ch in checks}
    assert not by_scope["POST /api/v2/tasks"].passed
    assert by_scope["POST /api/v2/tasks"].actual == pytest.approx(30.0)
    assert by_scope["GET /x"].passed and "within noise" in by_scope["GET /x"].reason
    assert by_scope["GET /y"].passed and by_scope["GET /y"].reason == "within the limit"


def test_gate_scoped_limit_replaces_the_general_one_and_units_may_be_spelt() -> None:
    c = _cmp(Delta("endpoints", "POST /api/v2/tasks", "p99_ms", "ms", 100, 130, "lower", 10, 50))
    limits = parse_gate(
        {
            "p99_ms": {"max_increase_pct": 10},
            "endpoints": {"POST /api/v2/tasks": {"p99_ms": {"max_increase_ms": 40}}},
        },
        VOCAB,
    )
    (check,) = [ch for ch in evaluate_gate(c, limits) if not ch.skipped]
    assert check.limit.kind == "max_increase" and check.passed


def test_gate_skips_what_it_cannot_judge() -> None:
    c = _cmp(Delta("kpis", "", "on_time_pct", "%", 90, 80, "higher"))
    checks = evaluate_gate(
        c, parse_gate({"on_time_pct": {"max_decrease": 1}, "p99_ms": {"max_increase": 1}}, VOCAB)
    )
    assert all(ch.skipped and ch.passed for ch in checks)
    assert "no interval" in checks[0].reason and "not in this comparison" in checks[1].reason


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"p99ms": {"max_increase": 1}}, "did you mean 'p99_ms'"),
        ({"p99_ms": {"max_increse_pct": 1}}, "did you mean 'max_increase_pct'"),
        ({"p99_ms": {"max_increase": -1}}, "must be a number >= 0"),
        ({"p99_ms": {"max_increase": True}}, "must be a number >= 0"),
        ({"p99_ms": 3}, "must be a table"),
        ({"endpoints": {"POST /api/v2/task": {"p99_ms": {}}}}, "did you mean 'POST /api/v2/tasks'"),
        ({"endpoints": {"GET /x": {"p98_ms": {}}}}, "unknown metric for endpoints"),
    ],
)
def test_gate_rejects_unknown_names_with_a_hint(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_gate(doc, VOCAB, "gate.toml")


def test_outputs_are_written_and_self_contained(tmp_path: Path) -> None:
    c = _cmp(
        Delta("endpoints", "<script>x</script>", "p99_ms", "ms", 100, 130, "lower", 10, 50),
        Delta("kpis", "", "on_time_pct", "%", 90, math.nan, "higher"),
    )
    js, page = c.write(tmp_path / "out")
    doc = orjson.loads(js.read_bytes())
    assert doc["deltas"][0]["significant"] is True and doc["deltas"][1]["new"] is None
    html = page.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "http://" not in html and "https://" not in html
