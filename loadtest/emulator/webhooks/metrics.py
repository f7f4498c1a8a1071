"""The delivery engine's Prometheus series (text format 0.0.4, appended to ``/metrics``).

* ``fleetsim_emulator_webhook_deliveries_total{provider,trigger,outcome}`` (counter):
  ``delivered``; ``retried`` (an attempt that failed and was scheduled again);
  ``failed`` (the schedule ran out, or the receiver's answer ends it, as Nash's 400);
  ``dropped`` (never attempted: the outbox was full, or its endpoint was removed);
  ``refused`` (the URL stopped resolving to loopback; not retried).
* ``fleetsim_emulator_webhook_outbox_depth`` (gauge): deliveries held, in flight or
  waiting for a retry.
* ``fleetsim_emulator_webhook_delivery_seconds{provider}`` (histogram): from the commit of
  the write that emitted the event to the receiver's successful answer, retries included.
"""

from __future__ import annotations

import bisect
from collections import Counter

#: Histogram bucket upper bounds (seconds): fine below 100 ms, where a healthy loopback
#: receiver answers, then up to a day of Onfleet retries.
BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
    3600.0,
    86400.0,
)

_N_BUCKETS = len(BUCKETS)


class _Histogram:
    __slots__ = ("counts", "sum_s", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)  # per bucket (not cumulative); +Inf is total
        self.sum_s = 0.0
        self.total = 0


class WebhookMetrics:
    """Counters and the latency histogram (see the module docstring)."""

    def __init__(self) -> None:
        self.deliveries: Counter[tuple[str, str, str]] = Counter()
        self.latency: dict[str, _Histogram] = {}

    def count(self, provider: str, trigger: str, outcome: str, n: int = 1) -> None:
        self.deliveries[(provider, trigger, outcome)] += n

    def observe(self, provider: str, seconds: float) -> None:
        # Once per delivery: the histogram's update is inlined (one call, not three).
        h = self.latency.get(provider)
        if h is None:
            h = self.latency[provider] = _Histogram()
        if seconds < 0.0:
            seconds = 0.0
        i = bisect.bisect_left(BUCKETS, seconds)
        if i < _N_BUCKETS:
            h.counts[i] += 1
        h.sum_s += seconds
        h.total += 1

    def lines(self, depth: int) -> list[str]:
        out = [
            "# HELP fleetsim_emulator_webhook_deliveries_total Webhook deliveries by "
            "provider, trigger and outcome.",
            "# TYPE fleetsim_emulator_webhook_deliveries_total counter",
        ]
        for (provider, trigger, outcome), n in sorted(self.deliveries.items()):
            out.append(
                "fleetsim_emulator_webhook_deliveries_total"
                f'{{provider="{provider}",trigger="{_escape(trigger)}",outcome="{outcome}"}} {n}'
            )
        out += [
            "# HELP fleetsim_emulator_webhook_outbox_depth Deliveries held (in flight or "
            "waiting for a retry).",
            "# TYPE fleetsim_emulator_webhook_outbox_depth gauge",
            f"fleetsim_emulator_webhook_outbox_depth {depth}",
            "# HELP fleetsim_emulator_webhook_delivery_seconds From the emitting commit to "
            "the successful answer, retries included.",
            "# TYPE fleetsim_emulator_webhook_delivery_seconds histogram",
        ]
        name = "fleetsim_emulator_webhook_delivery_seconds"
        for provider, h in sorted(self.latency.items()):
            cumulative = 0
            for le, n in zip(BUCKETS, h.counts, strict=True):
                cumulative += n
                out.append(f'{name}_bucket{{provider="{provider}",le="{le:g}"}} {cumulative}')
            out.append(f'{name}_bucket{{provider="{provider}",le="+Inf"}} {h.total}')
            out.append(f'{name}_sum{{provider="{provider}"}} {h.sum_s:.6f}')
            out.append(f'{name}_count{{provider="{provider}"}} {h.total}')
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
