"""Bootstrap percentile intervals: closed-form cases, ranges, pairing and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.kpis import KPIS, KpiSpec
from sim.sweep.stats import mean_ci, paired_diff


def test_two_replications_give_their_range() -> None:
    # Resampled means of {a, b} are a (1/4), (a+b)/2 (1/2) and b (1/4): the 2.5th and
    # 97.5th percentiles are exactly a and b.
    ci = mean_ci([10.0, 12.0])
    assert (ci.mean, ci.low, ci.high, ci.n) == (11.0, 10.0, 12.0, 2)
    assert ci.std == pytest.approx(math.sqrt(2.0))


def test_the_interval_is_about_the_normal_one_for_a_symmetric_sample() -> None:
    x = np.random.default_rng(3).normal(50.0, 5.0, size=40)
    ci = mean_ci(x)
    z_half = 1.959964 * x.std(ddof=1) / math.sqrt(x.size) * math.sqrt((x.size - 1) / x.size)
    assert ci.half_width == pytest.approx(z_half, rel=0.08)
    assert ci.low < x.mean() < ci.high


def test_the_same_values_give_the_same_interval() -> None:
    x = [3.0, 9.0, 4.0, 1.0, 7.0]
    assert mean_ci(x) == mean_ci(list(x))


def test_a_near_ceiling_percentage_stays_at_or_below_100() -> None:
    """Student t gave 98.4 ± 2.2, i.e. up to 100.6 %, for these on-time values."""
    ci = mean_ci([100.0, 100.0, 100.0, 100.0, 92.0], bounds=(0.0, 100.0))
    assert ci.high <= 100.0 and ci.low >= 92.0 and ci.low < ci.mean < ci.high


def test_failed_runs_nan_are_left_out_and_small_samples_have_no_interval() -> None:
    ci = mean_ci([1.0, float("nan"), 3.0])
    assert ci.n == 2 and ci.mean == 2.0
    one = mean_ci([4.0])
    assert one.mean == 4.0 and math.isnan(one.low) and math.isnan(one.high)
    none = mean_ci([])
    assert none.n == 0 and math.isnan(none.mean)
    assert one.describe() == "4.0" and none.describe() == "n/a"
    same = mean_ci([5.0, 5.0, 5.0])
    assert (same.low, same.high) == (5.0, 5.0)


@settings(max_examples=60, deadline=None)
@given(
    spec=st.sampled_from(KPIS),
    unit=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
    extreme=st.booleans(),
)
def test_intervals_stay_in_the_kpi_range_and_hold_the_mean(
    spec: KpiSpec, unit: list[float], extreme: bool
) -> None:
    lo, hi = spec.bounds
    span = (hi - lo) if math.isfinite(hi) else 1e6
    # Pile samples at the bounds too: that is where t intervals leave the range.
    x = [lo + (round(u) if extreme else u) * span for u in unit]
    ci = mean_ci(x, bounds=spec.bounds)
    assert ci.n == len(x) and ci.mean == pytest.approx(float(np.mean(x)))
    if len(x) == 1:
        assert math.isnan(ci.low) and math.isnan(ci.high)
        return
    assert lo <= ci.low <= ci.mean <= ci.high <= hi
    assert min(x) <= ci.low and ci.high <= max(x)


def test_identical_replications_give_their_value_exactly() -> None:
    # np.mean of three 0.2s is 0.20000000000000004, an ulp above every sample.
    ci = mean_ci([0.2, 0.2, 0.2], bounds=(0.0, 100.0))
    assert ci.mean == ci.low == ci.high == 0.2 and ci.std == 0.0


def test_paired_differences_cancel_the_shared_noise() -> None:
    rng = np.random.default_rng(5)
    seed_effect = rng.normal(0.0, 10.0, size=12)  # the same demand for both variants
    base = 50.0 + seed_effect
    better = 51.0 + seed_effect + rng.normal(0.0, 0.2, size=12)
    d = paired_diff(better, base)
    assert d.low > 0.0 and d.excludes(0.0) and d.mean == pytest.approx(1.0, abs=0.2)
    # Unpaired, the two means' intervals overlap: the seed noise hides the difference.
    assert mean_ci(better).low < mean_ci(base).high
    # A seed where either run failed drops out of the pairs.
    assert paired_diff([1.0, math.nan, 3.0], [0.0, 0.0, math.nan]).n == 1
    with pytest.raises(ValueError, match="length"):
        paired_diff([1.0], [1.0, 2.0])


def test_coverage_is_near_95_percent() -> None:
    rng = np.random.default_rng(1)
    trials = 300
    hits = sum(
        ci.low <= 10.0 <= ci.high
        for ci in (mean_ci(rng.exponential(10.0, size=25)) for _ in range(trials))
    )
    # Percentile intervals run a little narrow on small skewed samples.
    assert 0.88 <= hits / trials <= 0.98
