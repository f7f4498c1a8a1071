"""Exact percentiles and the results.json parts built from raw samples."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from loadtest.replay.stats import Aggregate, Recorder, percentile


def test_nearest_rank_percentiles_are_exact() -> None:
    data = list(range(1, 101))  # 1..100
    assert percentile(data, 50) == 50
    assert percentile(data, 99) == 99
    assert percentile(data, 100) == 100
    assert percentile([3.7], 99) == 3.7
    assert percentile([], 50) == 0.0
    # Not Locust's two-significant-digit buckets: 1234.5 stays 1234.5.
    assert percentile([1234.5, 1.0], 99) == 1234.5


@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=300),
    st.floats(min_value=0.1, max_value=100),
)
def test_percentile_is_an_observed_value_with_q_percent_at_or_below(
    xs: list[float], q: float
) -> None:
    p = percentile(xs, q)
    assert p in xs
    assert np.mean(np.asarray(xs) <= p) >= q / 100 - 1e-9


def test_aggregate_merges_processes_and_summarises() -> None:
    a, b = Recorder(), Recorder()
    for i in range(100):
        a.request("GET /x", i * 0.01, float(i + 1), float(i + 11), ok=i != 0)
        a.lag(0.1 * i)
    b.request("POST /y", 1.5, 7.0, 9.0, ok=True)
    b.flow("onfleet.batch_async", 2.5, 3, 500, 2, True)
    b.count("sent", 101)
    agg = Aggregate()
    agg.merge(a.drain())
    agg.merge(b.drain())
    assert a.drain()["req_name"] == []  # drained
    x, y = agg.endpoints(duration_s=2.0)
    assert (x.name, x.count, x.errors, x.p50_ms, x.p99_ms, x.max_ms) == (
        "GET /x",
        100,
        1,
        50.0,
        99.0,
        100.0,
    )
    assert x.p99_corrected_ms == 109.0 and x.rps == 50.0
    assert y.count == 1
    (flow,) = agg.flow_stats()
    assert flow.polls_per_job == 3 and flow.tasks_errored == 2
    assert agg.lag().p99_ms == 9.8
    tp = agg.throughput()
    assert [p.rps for p in tp] == [100.0, 1.0] and tp[0].errors_per_s == 1.0
    assert agg.rec.counters["sent"] == 101


def test_a_delta_merges_the_same_after_a_trip_through_a_message() -> None:
    import copy

    import orjson

    from loadtest.replay.stats import RecorderDelta

    r = Recorder()
    r.request("GET /x", 0.5, 3.0, 4.0, ok=False, retried=True)
    r.request("GET /x", 1.5, 5.0, 6.0, ok=True)
    r.lag(0.25)
    r.flow("onfleet.batch", 1.5, 2, 10, 1, False)
    r.count("retries", 2)
    r.expected_tasks.extend([4, 5])
    delta = r.drain()
    assert set(delta) == RecorderDelta.__required_keys__
    direct, shipped = Aggregate(), Aggregate()
    direct.merge(copy.deepcopy(delta))
    shipped.merge(orjson.loads(orjson.dumps(delta)))  # tuples arrive as arrays
    assert direct.summarise(2.0) == shipped.summarise(2.0)
    assert shipped.rec.flows == [("onfleet.batch", 1.5, 2, 10, 1, False)]
    assert shipped.rec.counters == {"retries": 2, "attempts": 2}
    assert shipped.rec.expected_tasks == [4, 5]


def test_p999_is_the_nearest_rank_not_a_float_rounding() -> None:
    # ceil(99.9 / 100 * 1000) is 1000 in floating point; the 99.9th of 1..1000 is 999.
    values = list(range(1, 1001))
    assert percentile(values, 99.9) == 999.0 and percentile(values, 100) == 1000.0
    assert percentile(values[:5], 99.9) == 5.0 and percentile([3.0], 0) == 3.0


def test_throughput_points_carry_each_seconds_exact_latency_percentiles() -> None:
    rng = np.random.default_rng(3)
    agg = Aggregate()
    t = rng.uniform(0, 5, 400)
    t[(t >= 2) & (t < 3)] += 1  # second 2 sends nothing
    ms = rng.lognormal(3, 0.5, 400)
    for ti, mi in zip(t, ms, strict=True):
        agg.rec.request("POST /x", float(ti), float(mi), float(mi), True)
    points = agg.throughput()
    assert [p.t_s for p in points] == [0, 1, 2, 3, 4]
    for p in points:
        inside = ms[(t >= p.t_s) & (t < p.t_s + 1)]
        assert p.rps == len(inside)
        if len(inside) == 0:
            assert p.p50_ms is None and p.p99_ms is None
        else:
            assert p.p50_ms == round(float(np.percentile(inside, 50)), 3)
            assert p.p99_ms == round(float(np.percentile(inside, 99)), 3)
