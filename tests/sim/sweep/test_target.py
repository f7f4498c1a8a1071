"""Targets and the fleet-size bisection, on functions with a known monotone KPI."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import UserError
from sim.kpis import KPI_NAMES
from sim.sweep.stats import Interval, mean_ci
from sim.sweep.target import FleetSearch, Target, parse_target, search_fleet, seeds_to_resolve


def test_parse_target() -> None:
    assert parse_target("on_time_pct>=95") == Target("on_time_pct", ">=", 95.0)
    assert parse_target(" time_to_assign_p90_s <= 300 ") == Target(
        "time_to_assign_p90_s", "<=", 300.0
    )
    for bad in ("on_time_pct=95", ">=95", "on_time_pct>=fast", ""):
        with pytest.raises(UserError, match="--target"):
            parse_target(bad)
    with pytest.raises(UserError, match="unknown KPI"):
        parse_target("nope>=1", known_kpis=("on_time_pct",))
    # the planner's cost KPIs are in the registry the default check reads
    assert parse_target("cost_per_delivery<=4.5") == Target("cost_per_delivery", "<=", 4.5)
    assert parse_target("late_p90_min<10").higher_is_better is False


def test_met_uses_the_conservative_bound() -> None:
    ci = Interval(mean=96.0, low=94.0, high=98.0, n=10, std=1.0)
    assert not Target("on_time_pct", ">=", 95).met(ci)  # the mean meets it, the bound not
    assert Target("on_time_pct", ">=", 94).met(ci)
    assert not Target("x", "<=", 97).met(ci)
    assert Target("x", "<=", 98).met(ci) and not Target("x", "<", 98).met(ci)
    assert not Target("x", ">=", 0).met(Interval(5.0, math.nan, math.nan, 1, math.nan))


def _on_time(fleet: int, seeds: int = 10, noise: float = 1.0) -> Interval:
    """A known monotone KPI: 100·(1 − e^(−fleet/20)) plus seeded noise (CRN per seed)."""
    base = 100.0 * (1.0 - math.exp(-fleet / 20.0))
    eps = np.array([np.random.default_rng(s).normal(0, noise) for s in range(seeds)])
    return mean_ci(base + eps)


def _linear_scan(target: Target, lo: int, hi: int) -> int | None:
    return next((n for n in range(lo, hi + 1) if target.met(_on_time(n))), None)


def test_bisection_finds_the_smallest_fleet_meeting_the_target() -> None:
    target = Target("on_time_pct", ">=", 95.0)
    calls: list[int] = []

    def evaluate(n: int) -> Interval:
        calls.append(n)
        return _on_time(n)

    result = search_fleet(target, evaluate, start=20, min_fleet=1, max_fleet=1000)
    expected = _linear_scan(target, 1, 1000)
    assert expected is not None and result.fleet == expected
    # Known answer of the noiseless curve: 100(1 - e^(-n/20)) >= 95 <=> n >= 59.9.
    assert 55 <= expected <= 70
    assert result.ci is not None and result.ci.low >= 95.0
    assert not target.met(_on_time(expected - 1))
    assert len(calls) <= 2 * math.ceil(math.log2(1000)) + 2  # logarithmic, not linear
    assert [p.fleet for p in result.points] == sorted(set(calls))


@settings(max_examples=60, deadline=None)
@given(limit=st.floats(min_value=1.0, max_value=99.5), start=st.integers(1, 300))
def test_bisection_equals_a_linear_scan(limit: float, start: int) -> None:
    target = Target("on_time_pct", ">=", limit)
    result = search_fleet(target, _on_time, start=start, min_fleet=1, max_fleet=400)
    assert result.fleet == _linear_scan(target, 1, 400)


def test_lower_is_better_targets() -> None:
    target = Target("wait_s", "<=", 100.0)  # wait falls as the fleet grows: 2000 / n
    result = search_fleet(
        target, lambda n: mean_ci([2000.0 / n - 1, 2000.0 / n + 1]), start=5, max_fleet=500
    )
    # Two replications give the interval [min, max] (see test_stats), so the upper
    # bound is 2000/n + 1 <= 100 ⇔ n >= 2000 / 99.
    assert result.fleet == math.ceil(2000.0 / 99.0) == 21


def test_unreachable_target_reports_none() -> None:
    target = Target("on_time_pct", ">=", 99.9)
    result = search_fleet(target, lambda n: _on_time(n, noise=5.0), start=10, max_fleet=80)
    assert result.fleet is None and result.ci is None
    assert max(p.fleet for p in result.points) == 80
    assert "no fleet of 1..80 workers meets" in result.describe()


def test_bad_range_is_a_user_error() -> None:
    with pytest.raises(UserError, match="fleet search range"):
        FleetSearch(Target("x", ">=", 1), start=5, min_fleet=10, max_fleet=5)


def test_an_unknown_target_kpi_lists_the_registrys_names() -> None:
    with pytest.raises(UserError, match="unknown KPI 'on_time'") as err:
        parse_target("on_time>=95")
    for name in KPI_NAMES:
        assert name in str(err.value)
    assert parse_target("empty_km<10") == Target("empty_km", "<", 10.0)
    assert parse_target("anything>=1", known_kpis=None).kpi == "anything"


def _crn(fleet: int, slope: float, noise: float, seeds: int = 10) -> list[float]:
    """A KPI rising by ``slope`` per worker, plus per-seed noise shared by every fleet size
    (common random numbers) and a little noise of its own."""
    shared = np.random.default_rng(99).normal(0.0, noise, size=seeds)
    own = np.random.default_rng(fleet).normal(0.0, 0.01, size=seeds)
    return list(50.0 + slope * fleet + shared + own)


def test_paired_neighbours_are_told_apart_when_the_bands_overlap() -> None:
    target = Target("on_time_pct", ">=", 80.0)
    result = search_fleet(target, lambda n: _crn(n, 0.5, 5.0), start=10, max_fleet=200)
    assert result.fleet is not None
    below = next(p for p in result.points if p.fleet == result.fleet - 1)
    assert result.ci is not None and below.ci.high > result.ci.low  # unpaired: overlap
    d = result.neighbour
    assert d is not None and d.n == 10 and d.mean == pytest.approx(0.5, abs=0.02)
    assert d.excludes(0.0) and not result.within_noise
    assert f"{result.fleet} against {result.fleet - 1} workers" in result.describe()
    assert "within noise" not in result.describe()


def test_neighbours_within_noise_say_so_and_suggest_seeds() -> None:
    def flat_near_limit(n: int) -> list[float]:
        # Independent noise per fleet size, and the KPI barely moves with it.
        base = 90.0 + 0.01 * n
        return list(base + np.random.default_rng(n).normal(0.0, 3.0, size=4))

    target = Target("on_time_pct", ">=", 85.0)
    result = search_fleet(target, flat_near_limit, start=50, max_fleet=400)
    assert result.fleet is not None and result.within_noise
    text = result.describe()
    assert "within noise" in text and f"{result.fleet - 1} may do as well" in text
    assert re.search(r"try --seeds (\d+)", text)
    assert int(re.search(r"try --seeds (\d+)", text).group(1)) >= 8  # type: ignore[union-attr]


def test_seeds_to_resolve_follows_the_square_root_law() -> None:
    # Half-width 2 with 10 seeds; to get it under 1 takes 4× the seeds (+10% margin).
    assert seeds_to_resolve(10, 2.0, 1.0) == 44
    assert seeds_to_resolve(10, 0.1, 1.0) == 20  # never fewer than twice as many
    assert seeds_to_resolve(10, 1.0, 0.0) == 40  # nothing to resolve: quadruple


def test_a_capped_kpi_reports_the_best_value_and_the_ceiling() -> None:
    """on-time levels off at 94% (the failure probability), so >= 95 is never met."""
    target = Target("on_time_pct", ">=", 95.0)

    def capped(n: int) -> list[float]:
        return list(94.0 * (1.0 - math.exp(-n / 10.0)) + np.linspace(-0.5, 0.5, 6))

    result = search_fleet(target, capped, start=20, max_fleet=160)
    assert result.fleet is None
    best = result.best
    assert best is not None and best.fleet == 160 and best.ci.mean == pytest.approx(94.0)
    text = result.describe()
    assert "no fleet of 1..160 workers meets on_time_pct>=95" in text
    assert "best reached: on_time_pct = 94.00" in text and "at 160 workers" in text
    capped_result = replace(result, ceiling=94.0, ceiling_reason="failed tasks cap it")
    text = capped_result.describe()
    assert "unreachable: failed tasks cap it at about 94.00" in text
    assert "--seeds" not in text


def test_an_interval_too_wide_is_named_as_the_reason_with_a_seed_count() -> None:
    target = Target("on_time_pct", ">=", 95.0)
    result = search_fleet(
        target, lambda n: [96.0 + 3.0, 96.0 - 3.0, 96.0], start=5, min_fleet=5, max_fleet=10
    )
    assert result.fleet is None
    text = result.describe()
    assert "the mean meets it but the 95% lower bound (93.00) does not" in text
    # Half-width 3 around 96 against a margin of 1: 3·(3/1)²·1.1 -> 30 seeds.
    assert "the interval is the reason; try --seeds 30" in text
