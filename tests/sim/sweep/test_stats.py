"""Student-t confidence intervals against known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.sweep.stats import mean_ci


def test_ci_of_a_known_sample() -> None:
    # x = 1..5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451051977987
    ci = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert ci.n == 5
    assert ci.mean == pytest.approx(3.0)
    assert ci.std == pytest.approx(math.sqrt(2.5))
    assert ci.low == pytest.approx(3.0 - half, rel=1e-12)
    assert ci.high == pytest.approx(3.0 + half, rel=1e-12)
    assert half == pytest.approx(1.963243161, rel=1e-9)


def test_two_points_use_t_with_one_degree_of_freedom() -> None:
    ci = mean_ci([10.0, 12.0])  # t(0.975, 1) = 12.706204736174707, s = sqrt(2)
    assert ci.half_width == pytest.approx(12.706204736174707 * math.sqrt(2) / math.sqrt(2))


def test_failed_runs_nan_are_left_out_and_small_samples_have_no_interval() -> None:
    ci = mean_ci([1.0, float("nan"), 3.0])
    assert ci.n == 2 and ci.mean == 2.0
    one = mean_ci([4.0])
    assert one.mean == 4.0 and math.isnan(one.low) and math.isnan(one.high)
    none = mean_ci([])
    assert none.n == 0 and math.isnan(none.mean)
    assert one.describe() == "4.0" and none.describe() == "n/a"


def test_coverage_is_about_95_percent() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    trials = 2000
    for _ in range(trials):
        ci = mean_ci(rng.normal(10.0, 3.0, size=8))
        hits += ci.low <= 10.0 <= ci.high
    assert 0.93 <= hits / trials <= 0.97
