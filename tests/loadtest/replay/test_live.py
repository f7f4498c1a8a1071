"""Live progress, /metrics, the time series, abort-on-threshold and the saturation guard,
each on synthetic samples (no Locust, no network but a loopback /metrics scrape)."""

from __future__ import annotations

import csv
import io
import os
import pty
import select
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtest.replay.abort import AbortWatch
from loadtest.replay.finalize import validity
from loadtest.replay.metrics import METRIC_NAMES, MetricsServer
from loadtest.replay.progress import (
    LATENCY_BUCKETS_S,
    LiveSnapshot,
    LiveTracker,
    ProgressPrinter,
    read_snapshot,
    write_snapshot,
)
from loadtest.replay.results import LagStats, Measurements, RunInfo
from loadtest.replay.saturation import sustained_pct
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.thresholds import parse_thresholds
from loadtest.replay.timeseries import timeseries_rows, write_timeseries
from sim.errors import UserError

A = "POST /api/v2/tasks"
B = "GET /api/v2/tasks/{taskId}"


def _agg() -> Aggregate:
    """Three seconds: A fast then slow, B with one failure; lags per second."""
    r = Recorder()
    for t, name, ms, ok in [
        (0.1, A, 10.0, True),
        (0.2, A, 20.0, True),
        (0.5, B, 5.0, False),
        (1.1, A, 300.0, True),
        (1.9, A, 2500.0, True),  # still in flight at the end of second 1 and 2
        (2.5, B, 7.0, True),
    ]:
        r.request(name, t, ms, ms, ok)
        r.outcome(name, ok)
        r.count("sent")
    for t, lag in [(0.1, 1.0), (0.2, 3.0), (1.1, 40.0), (2.5, 2.0)]:
        r.lag(lag, t)
    r.count("rate_limited", 2)
    agg = Aggregate()
    agg.merge(r.drain())
    return agg


def test_timeseries_rows_are_exact_per_second(tmp_path: Path) -> None:
    rows = timeseries_rows(_agg())
    assert [row.t_s for row in rows] == [0, 1, 2]
    assert [row.calls_per_s for row in rows] == [3, 2, 1]
    assert [row.errors_per_s for row in rows] == [1, 0, 0]
    assert [row.lag_p99_ms for row in rows] == [3.0, 40.0, 2.0]
    # The 2.5 s request sent at 1.9 s is in flight at the ends of seconds 1, 2 and 3-.
    assert [row.in_flight for row in rows] == [0, 1, 1]
    a0 = {e.name: e for e in rows[0].endpoints}[A]
    assert (a0.calls, a0.p50_ms, a0.p99_ms) == (2, 10.0, 20.0)

    jl = write_timeseries(rows, tmp_path / "ts.jsonl")
    back = [orjson.loads(line) for line in jl.read_bytes().splitlines()]
    assert [d["calls_per_s"] for d in back] == [3, 2, 1]
    assert back[1]["endpoints"][A] == {
        "calls_per_s": 2,
        "errors_per_s": 0,
        "p50_ms": 300.0,
        "p95_ms": 2500.0,
        "p99_ms": 2500.0,
    }
    path = write_timeseries(rows, tmp_path / "ts.csv")
    table = list(csv.DictReader(io.StringIO(path.read_text())))
    totals = [r for r in table if r["endpoint"] == "*"]
    assert [int(r["calls_per_s"]) for r in totals] == [3, 2, 1]
    assert [r["lag_p99_ms"] for r in totals] == ["3.0", "40.0", "2.0"]
    b0 = next(r for r in table if r["t_s"] == "0" and r["endpoint"] == B)
    assert (b0["errors_per_s"], b0["p99_ms"]) == ("1", "5.0")
    # Same samples, same bytes.
    assert write_timeseries(timeseries_rows(_agg()), tmp_path / "again.csv").read_bytes() == (
        path.read_bytes()
    )


def test_tracker_reads_each_sample_once_and_counts_429s() -> None:
    agg = _agg()
    tracker = LiveTracker(planned=10, end_s=30.0)
    first = tracker.update(agg, 3.0)
    assert (first.sent, first.planned, first.rate_limited, first.attempt_errors) == (6, 10, 2, 1)
    assert first.eta_s == 27.0
    by = {e.name: e for e in first.endpoints}
    assert by[A].requests == 4 and sum(by[A].buckets) == 4
    assert first.lag_p99_ms == pytest.approx(40.0, rel=0.01)
    again = tracker.update(agg, 4.0)  # nothing new: the counts do not double
    assert {e.name: e.requests for e in again.endpoints} == {A: 4, B: 2}


def test_snapshot_file_round_trips(tmp_path: Path) -> None:
    snap = LiveTracker(10, 30.0).update(_agg(), 3.0)
    write_snapshot(snap, tmp_path / "live.json")
    assert read_snapshot(tmp_path / "live.json") == snap
    assert read_snapshot(tmp_path / "missing.json") is None


def test_metrics_are_prometheus_text_with_a_latency_histogram() -> None:
    server = MetricsServer(0)
    server.start()
    try:
        server.update(LiveTracker(10, 30.0).update(_agg(), 3.0))
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    finally:
        server.close()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(fams) == set(METRIC_NAMES)
    assert {name: f.type for name, f in fams.items()} == METRIC_NAMES
    lat = fams["fleetsim_replay_request_latency_seconds"]
    buckets = {
        s.labels["le"]: s.value
        for s in lat.samples
        if s.name.endswith("_bucket") and s.labels["endpoint"] == A
    }
    assert len(buckets) == len(LATENCY_BUCKETS_S) + 1
    assert buckets["0.025"] == 2.0 and buckets["0.5"] == 3.0 and buckets["+Inf"] == 4.0
    sent = fams["fleetsim_replay_calls_sent"].samples[0]
    assert sent.name == "fleetsim_replay_calls_sent_total" and sent.value == 6


def test_metrics_bind_loopback_only() -> None:
    server = MetricsServer(0)
    server.start()
    try:
        assert server._server.server_address[0] == "127.0.0.1"
    finally:
        server.close()


def _snap(t: float, sent: int, done: bool = False) -> LiveSnapshot:
    return LiveSnapshot(t_s=t, planned=100, sent=sent, calls_per_s=5.0, eta_s=50 - t, done=done)


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    try:
        printer = ProgressPrinter(stream)
        assert printer.tty
        for i in range(3):
            printer.show(_snap(float(i), 10 * i))
        printer.close()
        out = ""
        while select.select([master], [], [], 0.5)[0]:
            out += os.read(master, 65536).decode()
    finally:
        stream.close()
        os.close(master)
    frames = [f for f in out.split("\r") if f.strip()]
    assert len(frames) == 3  # every snapshot (the child writes one each second)
    assert "sent 20/100 (20%)" in frames[-1] and "ETA 00:48" in frames[-1]
    assert all(f.rstrip("\r\n").endswith("\x1b[K") for f in frames)


def test_progress_on_a_pipe_is_one_line_every_ten_seconds() -> None:
    now = [0.0]
    out = io.StringIO()
    printer = ProgressPrinter(out, clock=lambda: now[0])
    assert not printer.tty
    for t in range(0, 25):
        now[0] = float(t)
        printer.show(_snap(float(t), t))
    printer.show(_snap(25.0, 100, done=True))
    lines = out.getvalue().splitlines()
    assert [ln.split("]")[0] for ln in lines] == ["[00:00", "[00:10", "[00:20", "[00:25"]
    assert lines[-1].endswith("done") and "\r" not in out.getvalue()


# -- abort on threshold --------------------------------------------------------------------


def _measured(p99_ms: float) -> Measurements:
    agg = Aggregate()
    r = Recorder()
    for _ in range(10):
        r.request(A, 0.5, p99_ms, p99_ms, True)
    agg.merge(r.drain())
    return Measurements(10.0, agg.endpoints(10.0), (), LagStats(), ())


def test_abort_needs_the_violation_to_last_abort_after_s() -> None:
    limits = parse_thresholds(
        {"endpoints": {A: {"p99_ms": 100, "abort": True, "abort_after_s": 3}, B: {"p99_ms": 1}}}
    )
    watch = AbortWatch.of(limits)
    assert watch is not None and len(watch.limits) == 1  # B's table does not abort
    assert watch.check(_measured(500.0), 1.0) == ""
    assert watch.check(_measured(500.0), 3.0) == ""
    assert watch.check(_measured(50.0), 4.0) == ""  # it held again: the stretch restarts
    assert watch.check(_measured(500.0), 5.0) == ""
    reason = watch.check(_measured(500.0), 8.0)
    assert reason.startswith(f"{A} p99_ms = 500 against the limit 100, violated for 3.0 s")


def test_abort_keys_are_checked() -> None:
    assert AbortWatch.of(parse_thresholds({"endpoints": {A: {"p99_ms": 1}}})) is None
    with pytest.raises(UserError, match="abort = 'yes': must be true or false"):
        parse_thresholds({"endpoints": {A: {"p99_ms": 1, "abort": "yes"}}})
    with pytest.raises(UserError, match="abort_after_s needs abort = true"):
        parse_thresholds({"endpoints": {A: {"p99_ms": 1, "abort_after_s": 2}}})
    with pytest.raises(UserError, match="only endpoint, flow and schedule_lag"):
        parse_thresholds({"webhooks": {"taskCompleted": {"p99_ms": 1, "abort": True}}})
    lag = parse_thresholds({"schedule_lag": {"p99_ms": 5, "abort": True, "abort_after_s": 1.5}})
    assert lag[0].abort and lag[0].abort_after_s == 1.5


# -- the saturation guard ------------------------------------------------------------------

INFO = RunInfo("http://127.0.0.1:1", 10.0, "r", 10, max_lag_p99_ms=250.0)
COUNTS = {"sent": 10, "ok": 10}


def test_one_busy_sample_does_not_invalidate_a_run_that_kept_its_schedule() -> None:
    # The first misfire: 3,000/s, lag p99 4.7 ms, one 93% CPU peak.
    samples = [55.0, 61.0, 93.0, 58.0, 60.0, 57.0, 62.0]
    held = sustained_pct(samples)
    assert held == 57.0
    v = validity(COUNTS, LagStats(1.0, 4.7, 6.0), INFO, max(samples), None, held)
    assert v.valid and v.reasons == ()


def test_lag_catches_a_generator_behind_at_low_cpu() -> None:
    # The second: 1.3 s of lag at 41% CPU; the lag rule says why, CPU stays quiet.
    samples = [41.0] * 10
    v = validity(COUNTS, LagStats(900.0, 1300.0, 1500.0), INFO, 41.0, None, sustained_pct(samples))
    assert not v.valid
    assert v.reasons == ("schedule lag p99 1300 ms exceeds the bound 250 ms",)


def test_cpu_held_high_for_a_window_invalidates() -> None:
    samples = [40.0, 95.0, 96.0, 97.0, 92.0, 99.0, 50.0]
    assert sustained_pct(samples) == 92.0
    v = validity(COUNTS, LagStats(1.0, 4.0, 5.0), INFO, 99.0, None, sustained_pct(samples))
    assert v.reasons == ("load generator CPU stayed at or above 92% for 5 s (limit 90%)",)
    # Four high seconds are not a window of five.
    assert sustained_pct([40.0, 95.0, 96.0, 97.0, 92.0, 50.0]) < 90.0


def test_live_measurements_match_the_final_figures_that_limits_read() -> None:
    from loadtest.replay.abort import LiveColumns

    agg, cols = Aggregate(), LiveColumns()
    for part in range(3):  # checked between merges, as the monitor does
        r = Recorder()
        for i in range(400):
            k = part * 400 + i
            ok = k % 7 != 0
            r.request(A if k % 3 else B, k / 100, float(1 + (k * 37) % 101), float(k % 13), ok)
            r.outcome(A if k % 3 else B, ok)
            r.lag(float((k * 11) % 17), k / 100)
        agg.merge(r.drain())
        live = cols.measurements(agg, 12.0)
    final = agg.endpoints(12.0)
    fields = ("count", "p50_ms", "p95_ms", "p99_ms", "max_ms", "calls", "failed_calls")
    fields += ("p95_corrected_ms", "p99_corrected_ms")
    for a, b in zip(live.endpoints, final, strict=True):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
        assert a.mean_ms == pytest.approx(b.mean_ms) and a.error_ratio == b.error_ratio
    assert live.schedule_lag_ms == agg.lag()


def test_a_taken_metrics_port_is_one_clear_error() -> None:
    first = MetricsServer(0)
    first.start()
    try:
        with pytest.raises(UserError, match=f"--metrics-port {first.port}: cannot listen"):
            MetricsServer(first.port).start()
    finally:
        first.close()


@pytest.mark.parametrize("quiet", [False, True])
def test_the_parent_shows_the_childs_snapshots_unless_quiet(tmp_path: Path, quiet: bool) -> None:
    from loadtest.replay.ci import CiOptions, ParentWatch

    out = io.StringIO()
    watch = ParentWatch(CiOptions(quiet=quiet), tmp_path, out)
    watch.poll()  # no snapshot yet: nothing to show
    write_snapshot(_snap(3.0, 30), tmp_path / "live.json")
    watch.poll()
    watch.close()
    assert ("sent 30/100 (30%)" in out.getvalue()) is not quiet
    lines = out.getvalue().splitlines()
    assert lines == [] if quiet else len(lines) == 1
