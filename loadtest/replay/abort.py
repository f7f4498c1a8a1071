"""Abort on threshold (k6's ``abortOnFail``): stop a run whose limit stays violated.

Concept held here: :class:`AbortWatch`, fed the run's measurements so far once a second
by the process that collects the samples (:mod:`loadtest.replay.monitor`).  A limit of a
table with ``abort = true`` that is violated (over every sample so far, as the final
judgement would be) continuously for longer than the table's ``abort_after_s`` gives the
reason to stop.  A scope without samples yet is not a violation: a required endpoint
that has not been called at second 1 is not a reason to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from loadtest.replay.histogram import nearest_rank
from loadtest.replay.results import EndpointStats, LagStats, Measurements
from loadtest.replay.stats import Aggregate
from loadtest.replay.thresholds import Limit, Measured, evaluate


def _pct(sorted_values: np.ndarray, q: float) -> float:
    n = len(sorted_values)
    return float(sorted_values[nearest_rank(q, n) - 1]) if n else 0.0


class _Column:
    """One growing sample list as a numpy array, converting only what is new."""

    def __init__(self, dtype: type) -> None:
        self.dtype = dtype
        self.values: np.ndarray = np.zeros(0, dtype=dtype)

    def refresh(self, source: Sequence[object], n: int) -> np.ndarray:
        """Bring in ``source[len(values):n]``."""
        return self.extend(source[len(self.values) : n])

    def extend(self, tail: Sequence[object]) -> np.ndarray:
        if len(tail):
            self.values = np.concatenate((self.values, np.asarray(tail, dtype=self.dtype)))
        return self.values


class LiveColumns:
    """The aggregate's samples as arrays, kept up to date between checks (a check then
    converts only the samples added since the last one), names as integer codes."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.req_code = _Column(np.int64)
        self.req_ms = _Column(float)
        self.req_corr = _Column(float)
        self.call_code = _Column(np.int64)
        self.call_ok = _Column(bool)
        self.lag = _Column(float)
        self._n_req = 0
        self._n_call = 0

    def _code(self, name: str) -> int:
        return self.codes.setdefault(name, len(self.codes))

    def measurements(self, agg: Aggregate, duration_s: float) -> Measurements:
        """What the abort limits are judged on: the same figures as the final results
        for every limit an endpoint or lag table may set, without what no limit reads
        (histograms, p99.9, the throughput series)."""
        r = agg.rec
        n_req, n_call, n_lag = len(r.req_name), len(r.call_name), len(r.lag_ms)
        new_req = [self._code(x) for x in r.req_name[self._n_req : n_req]]
        new_call = [self._code(x) for x in r.call_name[self._n_call : n_call]]
        self._n_req, self._n_call = n_req, n_call
        code = self.req_code.extend(new_req)
        ms = self.req_ms.refresh(r.req_ms, n_req)
        corr = self.req_corr.refresh(r.req_corr_ms, n_req)
        call_code = self.call_code.extend(new_call)
        call_ok = self.call_ok.refresh(r.call_ok, n_call)
        lag = self.lag.refresh(r.lag_ms, n_lag)
        eps = []
        for name, k in sorted(self.codes.items()):
            sel = code == k
            m = np.sort(ms[sel])
            c = np.sort(corr[sel])
            calls = call_code == k
            count = len(m)
            if not count and not calls.any():
                continue
            eps.append(
                EndpointStats(
                    name=name,
                    count=count,
                    rps=count / duration_s if duration_s > 0 else 0.0,
                    p50_ms=_pct(m, 50),
                    p95_ms=_pct(m, 95),
                    p99_ms=_pct(m, 99),
                    max_ms=float(m[-1]) if count else 0.0,
                    p99_corrected_ms=_pct(c, 99),
                    calls=int(calls.sum()),
                    failed_calls=int((calls & ~call_ok).sum()),
                    mean_ms=float(m.mean()) if count else 0.0,
                    p95_corrected_ms=_pct(c, 95),
                )
            )
        ranks = [nearest_rank(50, n_lag) - 1, nearest_rank(99, n_lag) - 1] if n_lag else []
        part = np.partition(lag, ranks) if n_lag else lag
        lag_stats = LagStats(
            p50_ms=float(part[ranks[0]]) if n_lag else 0.0,
            p99_ms=float(part[ranks[1]]) if n_lag else 0.0,
            max_ms=float(lag.max()) if n_lag else 0.0,
        )
        return Measurements(duration_s, tuple(eps), agg.flow_stats(), lag_stats, ())


@dataclass(slots=True)
class AbortWatch:
    """The abort limits of a thresholds file, and since when each is violated."""

    limits: tuple[Limit, ...]
    #: (scope, metric) -> the run time (s) it was first seen violated, in this stretch.
    since: dict[tuple[str, str], float] = field(default_factory=dict)

    @classmethod
    def of(cls, limits: Sequence[Limit]) -> AbortWatch | None:
        """The watch over ``limits``' abort tables; None when no table asks to abort."""
        chosen = tuple(lim for lim in limits if lim.abort)
        return cls(chosen) if chosen else None

    def check(self, measured: Measured, now_s: float) -> str:
        """The reason to stop now ("" to go on)."""
        seen: set[tuple[str, str]] = set()
        reason = ""
        for lim in self.limits:
            for c in evaluate(measured, [lim]):
                if c.passed or c.skipped or c.actual is None:
                    continue
                key = (c.scope, c.metric)
                seen.add(key)
                first = self.since.setdefault(key, now_s)
                held = now_s - first
                if not reason and held >= lim.abort_after_s:
                    reason = (
                        f"{c.scope} {c.metric} = {c.actual:g} against the limit {c.limit:g}, "
                        f"violated for {held:.1f} s (abort_after_s = {lim.abort_after_s:g}) "
                        f"at {now_s:.1f} s into the run"
                    )
        for key in list(self.since):
            if key not in seen:  # it held again: a new violation starts a new stretch
                del self.since[key]
        return reason
