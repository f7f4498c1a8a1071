"""``--metrics-port``: the replay's live state as Prometheus text on ``/metrics``.

Concepts held here: :data:`METRIC_NAMES` (every series this exports, which the Grafana
dashboard in ``loadtest/grafana/`` may use), :class:`SnapshotCollector` (a
``prometheus_client`` collector over the latest
:class:`~loadtest.replay.progress.LiveSnapshot`: counters, gauges, and the latency and
schedule-lag histograms) and :class:`MetricsServer` (``prometheus_client``'s own HTTP
server on 127.0.0.1 in the ``fleetsim replay`` process, which reads the snapshots the Locust
child writes; the child itself serves nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from loadtest.replay.progress import LATENCY_BUCKETS_S, LiveSnapshot
from sim.errors import UserError

PREFIX = "fleetsim_replay"
#: name -> type of every series exported (counters without their ``_total``).
METRIC_NAMES: dict[str, str] = {
    f"{PREFIX}_calls_planned": "gauge",
    f"{PREFIX}_calls_sent": "counter",
    f"{PREFIX}_calls_ok": "counter",
    f"{PREFIX}_calls_failed": "counter",
    f"{PREFIX}_calls_skipped": "counter",
    f"{PREFIX}_calls_in_flight": "gauge",
    f"{PREFIX}_requests": "counter",
    f"{PREFIX}_request_errors": "counter",
    f"{PREFIX}_rate_limited": "counter",
    f"{PREFIX}_calls_per_second": "gauge",
    f"{PREFIX}_schedule_lag_p99_seconds": "gauge",
    f"{PREFIX}_eta_seconds": "gauge",
    f"{PREFIX}_elapsed_seconds": "gauge",
    f"{PREFIX}_aborted": "gauge",
    f"{PREFIX}_request_latency_seconds": "histogram",
    f"{PREFIX}_schedule_lag_seconds": "histogram",
}


def _histogram_buckets(counts: Sequence[int]) -> list[tuple[str, float]]:
    """Per-bucket counts to Prometheus's cumulative ``le`` buckets, ending at +Inf."""
    out: list[tuple[str, float]] = []
    total = 0
    bounds = [*(repr(b) for b in LATENCY_BUCKETS_S), "+Inf"]
    padded = list(counts) + [0] * (len(bounds) - len(counts))
    for le, n in zip(bounds, padded, strict=True):
        total += n
        out.append((le, float(total)))
    return out


class SnapshotCollector(Collector):
    """The latest snapshot as metric families (nothing before the first one)."""

    def __init__(self) -> None:
        self._snap: LiveSnapshot | None = None
        self._lock = threading.Lock()

    def update(self, snap: LiveSnapshot) -> None:
        with self._lock:
            self._snap = snap

    def collect(self) -> Iterator[Any]:
        with self._lock:
            s = self._snap
        if s is None:
            return
        p = PREFIX
        yield GaugeMetricFamily(f"{p}_calls_planned", "Trace calls planned", value=s.planned)
        for name, doc, v in (
            ("calls_sent", "Trace calls sent (first attempt made)", s.sent),
            ("calls_ok", "Calls that did what the trace says", s.ok),
            ("calls_failed", "Calls that failed for good", s.failed),
            ("calls_skipped", "Calls skipped because a dependency failed", s.skipped),
            ("rate_limited", "Attempts answered 429", s.rate_limited),
        ):
            yield CounterMetricFamily(f"{p}_{name}", doc, value=v)
        yield GaugeMetricFamily(
            f"{p}_calls_in_flight", "Calls sent and not finished", value=s.in_flight
        )
        yield GaugeMetricFamily(
            f"{p}_calls_per_second", "Attempts per second (last 5 s)", value=s.calls_per_s
        )
        yield GaugeMetricFamily(
            f"{p}_schedule_lag_p99_seconds",
            "Schedule lag p99 so far",
            value=s.lag_p99_ms / 1000.0,
        )
        yield GaugeMetricFamily(f"{p}_eta_seconds", "Until the last call is due", value=s.eta_s)
        yield GaugeMetricFamily(
            f"{p}_elapsed_seconds", "Since the day's origin", value=max(0.0, s.t_s)
        )
        yield GaugeMetricFamily(
            f"{p}_aborted", "1 when an abort threshold stopped the run", value=int(bool(s.aborted))
        )
        requests = CounterMetricFamily(
            f"{p}_requests", "HTTP attempts by endpoint", labels=["endpoint"]
        )
        errors = CounterMetricFamily(
            f"{p}_request_errors", "Failed HTTP attempts by endpoint", labels=["endpoint"]
        )
        latency = HistogramMetricFamily(
            f"{p}_request_latency_seconds", "HTTP attempt latency by endpoint", labels=["endpoint"]
        )
        for e in s.endpoints:
            requests.add_metric([e.name], e.requests)
            errors.add_metric([e.name], e.errors)
            latency.add_metric([e.name], _histogram_buckets(e.buckets), e.latency_sum_s)
        yield requests
        yield errors
        yield latency
        lag = HistogramMetricFamily(
            f"{p}_schedule_lag_seconds", "Schedule lag of each call's first send"
        )
        lag.add_metric([], _histogram_buckets(s.lag_buckets), s.lag_sum_s)
        yield lag


class MetricsServer:
    """``/metrics`` on 127.0.0.1:``port`` (0: a free port, see :attr:`port`)."""

    def __init__(self, port: int) -> None:
        self.requested_port = port
        self.port = port
        self.collector = SnapshotCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._server, self._thread = start_http_server(
                self.requested_port, addr="127.0.0.1", registry=self.registry
            )
        except OSError as exc:
            raise UserError(
                f"--metrics-port {self.requested_port}: cannot listen on 127.0.0.1 "
                f"({exc.strerror or exc}); pick another port, or 0 for a free one"
            ) from None
        self.port = int(self._server.server_address[1])

    def update(self, snap: LiveSnapshot) -> None:
        self.collector.update(snap)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
