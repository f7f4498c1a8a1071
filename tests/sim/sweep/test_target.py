"""Targets and the fleet-size bisection, on functions with a known monotone KPI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import UserError
from sim.kpis import KPI_NAMES
from sim.sweep.stats import Interval, mean_ci
from sim.sweep.target import FleetSearch, Target, parse_target, search_fleet


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
