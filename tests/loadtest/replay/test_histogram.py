"""The log-bucketed latency histogram: round trips, and agreement with the exact ones."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from loadtest.replay.histogram import HIGHEST_US, LatencyHistogram
from loadtest.replay.lenient import LenientReader
from loadtest.replay.stats import percentile


def latencies(n: int = 5000, seed: int = 7) -> np.ndarray:
    # Long-tailed like real latencies: most near 20 ms, a tail into seconds.
    return np.random.default_rng(seed).lognormal(mean=3.0, sigma=0.9, size=n)


def test_round_trips_through_json_and_the_library() -> None:
    h = LatencyHistogram.of_ms(latencies())
    doc = orjson.loads(orjson.dumps(h.to_json()))
    r = LenientReader()
    assert LatencyHistogram.read(r, doc, "h") == h and r.problems == []
    assert LatencyHistogram.of_hdr(h.to_hdr()) == h
    assert h.count == 5000 and h.to_hdr().get_total_count() == 5000
    # Buckets are increasing, disjoint and under 1% wide.
    for (lo, hi, n), (nxt, _, _) in zip(h.buckets, h.buckets[1:], strict=False):
        assert lo <= hi < nxt and n > 0
        assert hi - lo + 1 <= max(1, lo / 128)


@pytest.mark.parametrize("q", [50, 90, 95, 99, 99.9, 100])
def test_percentiles_agree_with_the_exact_ones_within_a_bucket(q: float) -> None:
    ms = latencies()
    h = LatencyHistogram.of_ms(ms)
    exact = percentile(np.rint(ms * 1000) / 1000, q)  # the histogram's microseconds
    got = h.percentile_ms(q)
    assert exact <= got <= exact * (1 + 1 / 128) + 0.001
    if q > 99:
        return  # the library rounds the rank to nearest: one rank off in a sparse tail
    # ... which moves nothing by more than its precision where samples are dense.
    assert h.to_hdr().get_value_at_percentile(q) / 1000 == pytest.approx(exact, rel=0.01)


def test_empty_and_out_of_range_values() -> None:
    assert LatencyHistogram.of_ms([]).buckets == () and LatencyHistogram().percentile_ms(99) == 0
    h = LatencyHistogram.of_ms([0.0, -1.0, 1e10])  # negative is 0, beyond an hour is an hour
    assert h.count == 3 and h.buckets[0][:2] == (0, 0) and h.buckets[-1][1] >= HIGHEST_US


def test_an_unusable_bucket_is_a_problem_not_an_exception() -> None:
    r = LenientReader()
    doc = {"unit": "us", "significant_figures": 2, "buckets": [[1, 1, 2], "x", [5, 2, 1]]}
    h = LatencyHistogram.read(r, doc, "endpoints[0].histogram")
    assert h.buckets == ((1, 1, 2),) and len(r.problems) == 2
    assert "endpoints[0].histogram.buckets[1]" in r.problems[0]
    r = LenientReader()
    assert LatencyHistogram.read(r, {"unit": "ms", "buckets": [[1, 1, 1]]}, "h").buckets == ()
    assert r.problems == ["h.unit: expected 'us', got 'ms'"]


@pytest.mark.parametrize("figures", [1, 2, 3])
def test_bucketing_matches_recording_every_value_in_the_library(figures: int) -> None:
    from hdrh.histogram import HdrHistogram

    ms = np.concatenate([latencies(3000), [0.0, 0.001, 0.255, 0.256, 0.511, 0.512, 1e6]])
    ms = np.concatenate([ms, 2.0 ** np.arange(0, 31) / 1000, (2.0 ** np.arange(1, 31) - 1) / 1000])
    direct = HdrHistogram(1, HIGHEST_US, figures)
    for v in np.rint(ms * 1000).astype(int):
        direct.record_value(int(v))
    assert LatencyHistogram.of_ms(ms, figures) == LatencyHistogram.of_hdr(direct)
