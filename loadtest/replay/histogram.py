"""A log-bucketed latency histogram beside the exact percentiles of ``results.json``.

Concept held here: :class:`LatencyHistogram`, the non-empty buckets of an HdrHistogram
(the ``hdrhistogram`` package) over one endpoint's latencies or one flow's durations, in
whole microseconds at :data:`SIGNIFICANT_FIGURES` significant figures: each bucket is
``[low_us, high_us, count]`` and spans at most 1/128 of its value (under 1%), so a
percentile read from it is within that of the exact one.  The exact percentiles stay in
:mod:`loadtest.replay.stats`; the histogram is what a reader merges across runs or plots
without every sample.  :meth:`LatencyHistogram.to_hdr` and :meth:`LatencyHistogram.of_hdr`
convert to and from the library's own object (its merge, iteration and encoding).
:func:`nearest_rank` is the percentile rule both use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from loadtest.replay.lenient import LenientReader

#: 2 figures: 256 sub-buckets per power of two, so a bucket is at most 1/128 of its value.
SIGNIFICANT_FIGURES = 2
#: Longer values (a stuck flow) are recorded as one hour rather than dropped.
HIGHEST_US = 3_600_000_000


def nearest_rank(q: float, n: int) -> int:
    """The 1-based rank of the ``q``-th percentile of ``n`` samples: the smallest rank with
    at least ``q``% of the samples at or below it.  In integers (``q`` to a thousandth),
    because ``ceil(99.9 / 100 * 1000)`` is 1000 in floating point, not 999."""
    return min(n, max(1, -(-round(q * 1000) * n // 100_000)))


def _new_hdr(significant_figures: int) -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_US, significant_figures)


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Non-empty buckets ``(low_us, high_us, count)`` in increasing order; a value ``v``
    was counted in the bucket with ``low_us <= v <= high_us``."""

    buckets: tuple[tuple[int, int, int], ...] = ()
    significant_figures: int = SIGNIFICANT_FIGURES

    @classmethod
    def of_ms(
        cls, values_ms: Sequence[float] | np.ndarray, significant_figures: int = SIGNIFICANT_FIGURES
    ) -> LatencyHistogram:
        """The histogram of latencies given in ms (rounded to whole microseconds)."""
        us = np.clip(np.rint(np.asarray(values_ms, dtype=float) * 1000.0), 0, HIGHEST_US)
        us = us.astype(np.int64)
        h = _new_hdr(significant_figures)
        # The library records one value per Python call (5x the cost of the exact
        # percentiles on 200k samples), so each value is first mapped, vectorised, to its
        # bucket's lowest value, HdrHistogram's layout: values below 2 * half are exact,
        # above that the low bits beyond ``half``'s magnitude are dropped.  Then one record
        # per bucket; the tests check the counts against recording every value.
        half_mag = int(h.sub_bucket_half_count_magnitude)
        top = np.floor(np.log2(np.maximum(us, 1))).astype(np.int64)
        shift = np.maximum(0, top - half_mag)
        lows = (us >> shift) << shift
        for v, n in zip(*np.unique(lows, return_counts=True), strict=True):
            h.record_value(int(v), int(n))
        return cls.of_hdr(h)

    @classmethod
    def of_hdr(cls, h: HdrHistogram) -> LatencyHistogram:
        buckets = tuple(
            (
                int(h.get_lowest_equivalent_value(it.value_iterated_to)),
                int(it.value_iterated_to),
                int(it.count_at_value_iterated_to),
            )
            for it in h.get_recorded_iterator()
        )
        return cls(buckets, int(h.significant_figures))

    def to_hdr(self) -> HdrHistogram:
        """The library's histogram with the same counts (for merging or its encoding)."""
        h = _new_hdr(self.significant_figures)
        for low, _high, n in self.buckets:
            h.record_value(low, n)
        return h

    @property
    def count(self) -> int:
        return sum(b[2] for b in self.buckets)

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile read from the buckets (the rule of the exact ones in
        :func:`loadtest.replay.stats.percentile`): the top of the bucket holding the rank,
        so never below the exact value and at most one bucket width above it."""
        n = self.count
        if n == 0:
            return 0.0
        rank = nearest_rank(q, n)
        seen = 0
        for _low, high, c in self.buckets:
            seen += c
            if seen >= rank:
                return high / 1000.0
        return self.buckets[-1][1] / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": "us",
            "significant_figures": self.significant_figures,
            "buckets": [list(b) for b in self.buckets],
        }

    @classmethod
    def read(cls, r: LenientReader, value: object, where: str) -> LatencyHistogram:
        """Read leniently: an unusable bucket is noted in ``r.problems`` and left out."""
        if value is None:
            return cls()
        d = r.obj(value, where)
        if d is None:
            return cls()
        figures = r.int_(
            d, "significant_figures", f"{where}.significant_figures", SIGNIFICANT_FIGURES
        )
        if not 1 <= figures <= 5:
            r.problems.append(f"{where}.significant_figures: expected 1 to 5, got {figures}")
            figures = SIGNIFICANT_FIGURES
        unit = d.get("unit", "us")
        if unit != "us":
            r.problems.append(f"{where}.unit: expected 'us', got {unit!r}")
            return cls(significant_figures=figures)
        buckets = []
        for i, b in r.list_(d, "buckets"):
            ok = (
                isinstance(b, list)
                and len(b) == 3
                and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in b)
                and b[0] <= b[1] <= HIGHEST_US * 2
            )
            if not ok:
                r.problems.append(f"{where}.buckets[{i}]: expected [low_us, high_us, count]")
                continue
            buckets.append((b[0], b[1], b[2]))
        return cls(tuple(buckets), figures)
