"""Replication statistics: the mean of a KPI over seeds and its bootstrap interval.

Concepts held here:

* :class:`Interval` -- a mean with its confidence interval over ``n`` finite replications.
* :func:`mean_ci` -- the seeded **bootstrap percentile** interval of the mean over seeds.
  KPIs are bounded (on-time in [0, 100] %, counts and times >= 0) and often skewed (a
  p99 time across seeds), where ``mean ± t·s/√n`` reaches 101 % or negative seconds.  A
  percentile interval is made of means of resamples, so it lies inside
  ``[min(x), max(x)]`` and therefore inside the KPI's range by construction; it is also
  widened, if need be, to hold the sample mean (the point estimate it is reported with).
* :func:`paired_diff` -- the same interval for per-seed differences of two variants that
  ran the same seeds (common random numbers): the noise both share cancels.

Why not Wilson for the percentages: a variant's replications are whole runs, and the
between-seed variation (demand, failures) is what the interval must carry; treating every
task of every seed as one Bernoulli trial would ignore it and give intervals far too
narrow.  The bootstrap over seeds needs no such model.

Determinism: the resampling generator is seeded with :data:`BOOTSTRAP_SEED` on every
call, so the same values always give the same interval (byte-identical ``summary.csv``).
One replication gives no interval (NaN bounds), which the target search treats as unmet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95
BOOTSTRAP_SEED = 20_261_207  # fixed: intervals are a pure function of the values
N_RESAMPLES = 9_999
METHOD = "bootstrap percentile (9,999 resamples over seeds, seeded)"
"""How the intervals are made, as the reports and CONTRACTS name it."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean with its confidence interval over ``n`` finite replications."""

    mean: float
    low: float
    high: float
    n: int
    std: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def excludes(self, value: float) -> bool:
        """Whether the interval lies wholly on one side of ``value`` (no interval: False)."""
        if math.isnan(self.low) or math.isnan(self.high):
            return False
        return value < self.low or value > self.high

    def describe(self, digits: int = 1) -> str:
        """``97.3 [96.1, 98.5]`` (or just the mean when there is no interval)."""
        if math.isnan(self.mean):
            return "n/a"
        if math.isnan(self.low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


_EMPTY = Interval(math.nan, math.nan, math.nan, 0, math.nan)


def mean_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Interval:
    """Mean and bootstrap percentile interval of the finite values (NaNs are failed runs).

    ``bounds`` is the KPI's range: the interval never leaves it (the percentile interval
    already cannot leave ``[min(x), max(x)]``; the clip only guards rounding)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return _EMPTY
    lo_x, hi_x = float(x.min()), float(x.max())
    # A float mean can land an ulp outside the sample (three 0.2s average to
    # 0.20000000000000004); the true mean of a sample never does.
    mean = min(max(float(x.mean()), lo_x), hi_x)
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, math.nan)
    if lo_x == hi_x:  # every replication agrees: nothing to resample
        return Interval(mean, mean, mean, n, 0.0)
    std = float(x.std(ddof=1))
    res = _st.bootstrap(
        (x,),
        np.mean,
        confidence_level=confidence,
        n_resamples=N_RESAMPLES,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    lo_b, hi_b = bounds
    low = min(float(res.confidence_interval.low), mean)
    high = max(float(res.confidence_interval.high), mean)
    low = min(max(low, lo_b, lo_x), mean)
    high = max(min(high, hi_b, hi_x), mean)
    return Interval(mean, low, high, n, std)


def paired_diff(
    values: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean and interval of ``values[i] - baseline[i]`` over the seeds where both are finite.

    The two sequences are aligned by seed; a seed where either run failed is left out."""
    a = np.asarray(values, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.shape} against {b.shape}")
    return mean_ci(a - b, confidence)
