"""``fleetsim trace``: what a trace holds: calls by operation, peak rate, batch sizes, and
the webhooks its calls are expected to cause, per provider and event."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from loadtest.trace.expect import count_events
from loadtest.trace.format import EventCounts, Trace
from loadtest.trace.ops import OPS


@dataclass(frozen=True, slots=True)
class TraceSummary:
    calls: int
    by_op: dict[str, int]
    by_endpoint: dict[str, int]
    peak_calls_per_s: int
    peak_at_s: float
    peak_per_min: int
    batch_sizes: list[int]
    families: int
    span_s: float
    #: expected webhooks, provider -> event -> count (from the calls, not the header)
    events: EventCounts


def summarize(trace: Trace) -> TraceSummary:
    """Counts per operation and endpoint, the busiest simulated second and minute."""
    calls = trace.calls
    per_s = Counter(int(c.at_s) for c in calls)
    per_min = Counter(int(c.at_s // 60) for c in calls)
    peak_s, peak = max(per_s.items(), key=lambda kv: (kv[1], -kv[0]), default=(0, 0))
    sizes = [len(c.tasks) for c in calls if (spec := OPS.get(c.op)) is not None and spec.batch]
    return TraceSummary(
        calls=len(calls),
        by_op=dict(sorted(Counter(c.op for c in calls).items())),
        by_endpoint=dict(sorted(Counter(c.name for c in calls).items())),
        peak_calls_per_s=peak,
        peak_at_s=float(peak_s),
        peak_per_min=max(per_min.values(), default=0),
        batch_sizes=sizes,
        families=len({c.family for c in calls}),
        span_s=calls[-1].at_s if calls else 0.0,
        events=count_events(calls),
    )


def format_summary(trace: Trace, s: TraceSummary) -> str:
    h = trace.header
    lines = [
        f"trace v{h.version}: scenario {h.scenario} seed {h.seed}  providers "
        f"{', '.join(h.providers)}  submission {h.submission_mode}",
        f"{s.calls} calls over {s.span_s:,.0f} simulated s; {s.families} dependency families; "
        f"tasks {h.counts.get('tasks', 0)}, workers {h.counts.get('workers', 0)}",
        f"peak rate: {s.peak_calls_per_s} calls/s (at {s.peak_at_s:,.0f} s), "
        f"{s.peak_per_min} calls/min",
        "",
        "calls by operation:",
    ]
    lines += [f"  {op:<24} {n:>8}" for op, n in s.by_op.items()]
    lines += ["", "calls by endpoint:"]
    lines += [f"  {ep:<52} {n:>8}" for ep, n in s.by_endpoint.items()]
    if s.batch_sizes:
        b = sorted(s.batch_sizes)
        lines += [
            "",
            f"batches: {len(b)}, sizes min {b[0]} / median {b[len(b) // 2]} / "
            f"max {b[-1]}, total tasks {sum(b)}",
        ]
    else:
        lines += ["", "batches: none (single creates)"]
    lines += ["", "expected webhooks:" if s.events else "expected webhooks: none"]
    for provider, per in s.events.items():
        lines.append(f"  {provider} ({sum(per.values())}):")
        lines += [f"    {event:<30} {n:>8}" for event, n in per.items()]
    return "\n".join(lines)
