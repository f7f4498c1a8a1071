"""Whether the load generator kept up: sustained CPU over a window, beside the schedule lag.

Concepts held here: :class:`CpuSampler` (one process's CPU, sampled every
:data:`SAMPLE_EVERY_S`), :func:`sustained_pct` (the highest CPU held for a whole window:
the best, over every run of :data:`WINDOW_S` seconds of samples, of the lowest sample in
it) and :func:`saturation_reasons` (the two rules that make a run invalid).

A single busy sample proves nothing: a 3,000 calls/s run whose lag p99 was 4.7 ms was
once marked invalid for one 93% peak.  And a generator can fall behind at modest CPU (a
blocked loop, a slow DNS answer): a run with 1.3 s of lag at 41% CPU.  So the lag decides
whether the schedule was kept, and CPU counts only when it stays at or above
:data:`CPU_LIMIT_PCT` for :data:`WINDOW_S` seconds, which is when the lag can no longer
be trusted to stay low for the rest of the run.  Both figures are reported.
"""

from __future__ import annotations

from collections.abc import Sequence

#: CPU at or above this, held for a whole window, means the generator is saturated.
CPU_LIMIT_PCT = 90.0
#: The window (s) over which CPU must stay high to count.
WINDOW_S = 5.0
#: How often each replay process samples its own CPU (s).
SAMPLE_EVERY_S = 1.0


def sustained_pct(
    samples: Sequence[float], every_s: float = SAMPLE_EVERY_S, window_s: float = WINDOW_S
) -> float:
    """The highest CPU (%) held through a whole ``window_s`` of samples taken every
    ``every_s``: max over windows of the window's minimum.  Fewer samples than a window:
    the run was too short to be saturated for that long, so the lowest sample."""
    if not samples:
        return 0.0
    k = max(1, round(window_s / every_s))
    if len(samples) < k:
        return float(min(samples))
    return float(max(min(samples[i : i + k]) for i in range(len(samples) - k + 1)))


def saturation_reasons(
    sustained_cpu_pct: float,
    lag_p99_ms: float,
    max_lag_p99_ms: float,
    window_s: float = WINDOW_S,
) -> list[str]:
    """Why the generator cannot be trusted to have kept the schedule (none: it did)."""
    out = []
    if sustained_cpu_pct >= CPU_LIMIT_PCT:
        out.append(
            f"load generator CPU stayed at or above {sustained_cpu_pct:.0f}% for {window_s:g} s "
            f"(limit {CPU_LIMIT_PCT:.0f}%)"
        )
    if lag_p99_ms > max_lag_p99_ms:
        out.append(
            f"schedule lag p99 {lag_p99_ms:.0f} ms exceeds the bound {max_lag_p99_ms:.0f} ms"
        )
    return out


class CpuSampler:
    """One process's CPU samples (%, of one core), every :data:`SAMPLE_EVERY_S`."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    @property
    def peak_pct(self) -> float:
        return max(self.samples, default=0.0)

    @property
    def sustained_pct(self) -> float:
        return sustained_pct(self.samples)
