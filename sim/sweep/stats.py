"""Replication statistics: the mean and a Student-t confidence interval, per variant.

Replications of one variant are independent runs (different seeds), so the interval is
``mean ± t(1-α/2, n-1) · s / √n`` with the sample standard deviation ``s``.  One
replication gives no interval (NaN bounds), which the target search treats as unmet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95


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

    def describe(self, digits: int = 1) -> str:
        """``97.3 [96.1, 98.5]`` (or just the mean when there is no interval)."""
        if math.isnan(self.mean):
            return "n/a"
        if math.isnan(self.low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """Mean and two-sided Student-t interval of the finite values (NaNs are failed runs)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, math.nan)
    std = float(x.std(ddof=1))
    t = float(_st.t.ppf(0.5 + confidence / 2.0, df=n - 1))
    half = t * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, std)
