"""Exact replay statistics: every sample kept, percentiles computed from all of them.

Concepts held here: :func:`percentile` (nearest rank over all samples, never Locust's
rounded buckets; a log-bucketed :class:`~loadtest.replay.histogram.LatencyHistogram` is
written beside them), calls and attempts (a *call* is one trace call, recorded once with
its final outcome by :meth:`Recorder.outcome`; an *attempt* is one HTTP request of it,
recorded by :meth:`Recorder.request`), :class:`Recorder` (one process's raw samples, drained in
:class:`RecorderDelta` pieces so a distributed replay ships them to the master, the way
Locust ships a ``StatsEntryDict``), and :class:`Aggregate` (merged samples, summarised into
the typed parts of ``results.json``: :class:`~loadtest.replay.results.EndpointStats`,
:class:`~loadtest.replay.results.FlowStats`, :class:`~loadtest.replay.results.LagStats`,
:class:`~loadtest.replay.results.ThroughputPoint`, together a
:class:`~loadtest.replay.results.Measurements`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from loadtest.replay.histogram import LatencyHistogram, nearest_rank
from loadtest.replay.results import (
    CounterName,
    EndpointStats,
    FlowStats,
    LagStats,
    Measurements,
    ThroughputPoint,
)
from loadtest.replay.webhooks.matching import match, missing
from loadtest.replay.webhooks.model import Arrival, Expected, expectations, resolve_subjects
from loadtest.replay.webhooks.records import WebhookReport
from loadtest.replay.wire import IdMap
from loadtest.trace.format import TraceCall


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``q``% at or below it.

    Exact (no histogram), and always a value that was actually observed.  0.0 when empty.
    """
    n = len(values)
    if n == 0:
        return 0.0
    arr = np.sort(np.asarray(values, dtype=float))
    return float(arr[nearest_rank(q, n) - 1])


def _mean(values: Sequence[float] | np.ndarray) -> float:
    """The exact mean, 0.0 when empty; rounded to 6 decimals because a float sum's last
    bits depend on the order the processes' samples were merged in."""
    return round(float(np.mean(values)), 6) if len(values) else 0.0


class RecorderDelta(TypedDict):
    """One process's samples since its last drain: plain JSON-able lists, so the same
    dict travels in-process and through Locust's messages (msgpack) unchanged."""

    req_name: list[str]
    req_t: list[float]
    req_ms: list[float]
    req_corr_ms: list[float]
    req_ok: list[bool]
    req_retried: list[bool]
    #: One entry per call, with its final outcome (the error ratio's numerator and
    #: denominator); ``req_*`` hold one entry per attempt.
    call_name: list[str]
    call_ok: list[bool]
    lag_ms: list[float]
    #: When each lag sample's call was first sent (s since t0), for the time series.
    lag_t: list[float]
    #: One array per flow: name, duration_s, polls, created, errored, ok.  Arrays rather
    #: than tuples because that is what comes out of a message.
    flows: list[list[Any]]
    counters: dict[CounterName, int]
    expected_tasks: list[int]
    #: Tasks the trace deleted (a merchant's cancellation), which reconciliation excludes.
    deleted_tasks: list[int]
    #: Webhooks (``--webhooks`` only): one row per expected event of a successful call
    #: (:class:`~loadtest.replay.webhooks.model.Expected`) and one per event of each
    #: delivery attempt the receiver got (:class:`~loadtest.replay.webhooks.model.Arrival`).
    wh_expected: list[list[Any]]
    wh_arrivals: list[list[Any]]
    #: ``[ref, server id]`` learnt by this process (``--webhooks`` only), to resolve the
    #: subjects that another process's expectations name.
    wh_refs: list[list[str]]


@dataclass(slots=True)
class Recorder:
    """One process's raw samples since the last :meth:`drain`.

    Requests (attempts): name, send time relative to t0 (s), measured latency (ms),
    latency from the intended send (ms), success, and whether a failed attempt was retried
    (a retried attempt is counted in ``retried``, not in the endpoint's ``errors``).
    Calls: name and whether the call finally did what the trace says.
    Lags: one per call at its first send (ms).
    Flows: name, duration (s), polls, tasks created, tasks errored, success.
    Webhooks, when ``webhooks`` is on: the events each successful call expects
    (:meth:`expect`), and the receiver's arrivals, pulled from ``arrival_source`` (the
    process's receiver, if it hosts one) at every :meth:`drain`.
    """

    req_name: list[str] = field(default_factory=list)
    req_t: list[float] = field(default_factory=list)
    req_ms: list[float] = field(default_factory=list)
    req_corr_ms: list[float] = field(default_factory=list)
    req_ok: list[bool] = field(default_factory=list)
    req_retried: list[bool] = field(default_factory=list)
    call_name: list[str] = field(default_factory=list)
    call_ok: list[bool] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    lag_t: list[float] = field(default_factory=list)
    flows: list[tuple[str, float, int, int, int, bool]] = field(default_factory=list)
    counters: dict[CounterName, int] = field(default_factory=dict)
    expected_tasks: list[int] = field(default_factory=list)
    deleted_tasks: list[int] = field(default_factory=list)
    wh_expected: list[Expected] = field(default_factory=list)
    wh_arrivals: list[list[Any]] = field(default_factory=list)
    # Filled by the executor's IdMap journal (see partition.py); cleared in place.
    wh_refs: list[list[str]] = field(default_factory=list)
    webhooks: bool = False
    arrival_source: Callable[[], list[list[Any]]] | None = None

    def expect(self, call: TraceCall, ids: IdMap, run_id: str, resp_s: float) -> None:
        """``call`` succeeded at ``resp_s``: the webhooks it causes are now expected."""
        if self.webhooks:
            self.wh_expected.extend(expectations(call, ids, run_id, resp_s))

    def request(
        self,
        name: str,
        t_s: float,
        ms: float,
        corrected_ms: float,
        ok: bool,
        retried: bool = False,
    ) -> None:
        self.req_name.append(name)
        self.req_t.append(t_s)
        self.req_ms.append(ms)
        self.req_corr_ms.append(corrected_ms)
        self.req_ok.append(ok)
        self.req_retried.append(retried)
        self.count("attempts")

    def outcome(self, name: str, ok: bool) -> None:
        """One call is over: counted once in ``ok`` or ``failed``, and for its endpoint,
        however many attempts it took."""
        self.call_name.append(name)
        self.call_ok.append(ok)
        self.count("ok" if ok else "failed")

    def lag(self, ms: float, t_s: float = 0.0) -> None:
        """A call's schedule lag (ms), first sent at ``t_s`` (s since t0)."""
        self.lag_ms.append(ms)
        self.lag_t.append(t_s)

    def flow(
        self, name: str, duration_s: float, polls: int, created: int, errored: int, ok: bool
    ) -> None:
        self.flows.append((name, duration_s, polls, created, errored, ok))

    def count(self, key: CounterName, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def drain(self) -> RecorderDelta:
        """The samples so far as plain JSON-able data, and forget them."""
        out = RecorderDelta(
            req_name=self.req_name,
            req_t=self.req_t,
            req_ms=self.req_ms,
            req_corr_ms=self.req_corr_ms,
            req_ok=self.req_ok,
            req_retried=self.req_retried,
            call_name=self.call_name,
            call_ok=self.call_ok,
            lag_ms=self.lag_ms,
            lag_t=self.lag_t,
            flows=[list(f) for f in self.flows],
            counters=self.counters,
            expected_tasks=self.expected_tasks,
            deleted_tasks=self.deleted_tasks,
            wh_expected=[list(e) for e in self.wh_expected],
            wh_arrivals=self.wh_arrivals,
            wh_refs=self.wh_refs[:],
        )
        self.wh_refs.clear()  # in place: the executor's IdMap journals into this list
        if self.arrival_source is not None:
            out["wh_arrivals"].extend(self.arrival_source())
        self.wh_expected, self.wh_arrivals = [], []
        self.req_name, self.req_t, self.req_ms = [], [], []
        self.req_corr_ms, self.req_ok, self.lag_ms, self.lag_t = [], [], [], []
        self.req_retried, self.call_name, self.call_ok = [], [], []
        self.flows, self.counters, self.expected_tasks = [], {}, []
        self.deleted_tasks = []
        return out


@dataclass(slots=True)
class Aggregate:
    """Samples merged from every process, and the summaries made from them."""

    rec: Recorder = field(default_factory=Recorder)
    #: Every process's refs (``--webhooks``), to resolve expectations' ``$ref:`` subjects.
    refs: dict[str, str] = field(default_factory=dict)

    def merge(self, delta: RecorderDelta) -> None:
        r = self.rec
        r.req_name.extend(delta["req_name"])
        r.req_t.extend(delta["req_t"])
        r.req_ms.extend(delta["req_ms"])
        r.req_corr_ms.extend(delta["req_corr_ms"])
        r.req_ok.extend(delta["req_ok"])
        r.req_retried.extend(delta.get("req_retried") or [False] * len(delta["req_ok"]))
        r.call_name.extend(delta["call_name"])
        r.call_ok.extend(delta["call_ok"])
        r.lag_ms.extend(delta["lag_ms"])
        r.lag_t.extend(delta["lag_t"])
        r.flows.extend(
            (str(f[0]), float(f[1]), int(f[2]), int(f[3]), int(f[4]), bool(f[5]))
            for f in delta["flows"]
        )
        for k, v in delta["counters"].items():
            r.count(k, int(v))
        r.expected_tasks.extend(delta["expected_tasks"])
        r.deleted_tasks.extend(delta.get("deleted_tasks", []))
        r.wh_expected.extend(Expected(*row) for row in delta["wh_expected"])
        r.wh_arrivals.extend(delta["wh_arrivals"])
        self.refs.update((ref, sid) for ref, sid in delta.get("wh_refs") or ())

    def arrivals(self) -> list[Arrival]:
        return [Arrival(*row) for row in self.rec.wh_arrivals]

    def webhooks(self) -> WebhookReport:
        """Every arrival matched against every expectation (see
        :mod:`loadtest.replay.webhooks.matching`)."""
        return match(resolve_subjects(self.rec.wh_expected, self.refs), self.arrivals())

    def webhooks_missing(self) -> int:
        """Expectations no arrival has met yet (what the grace wait watches)."""
        return missing(resolve_subjects(self.rec.wh_expected, self.refs), self.arrivals())

    def duration_s(self) -> float:
        return max(self.rec.req_t, default=0.0)

    def summarise(self, duration_s: float) -> Measurements:
        """Everything the samples say about a run of ``duration_s`` seconds."""
        return Measurements(
            duration_s=round(duration_s, 3),
            endpoints=self.endpoints(duration_s),
            flows=self.flow_stats(),
            schedule_lag_ms=self.lag(),
            throughput=self.throughput(),
        )

    def endpoints(self, duration_s: float) -> tuple[EndpointStats, ...]:
        r = self.rec
        names = np.asarray(r.req_name, dtype=object)
        ms = np.asarray(r.req_ms, dtype=float)
        corr = np.asarray(r.req_corr_ms, dtype=float)
        ok = np.asarray(r.req_ok, dtype=bool)
        retried = np.asarray(r.req_retried, dtype=bool)
        call_names = np.asarray(r.call_name, dtype=object)
        call_ok = np.asarray(r.call_ok, dtype=bool)
        out = []
        # A call answered without any request (a recovered job's poll) still counts.
        for name in sorted(set(r.req_name) | set(r.call_name)):
            sel = names == name
            m, c = ms[sel], corr[sel]
            count = int(sel.sum())
            calls = call_names == name
            out.append(
                EndpointStats(
                    name=name,
                    count=count,
                    # Errors are attempts that failed for good; a failed attempt that
                    # was retried is counted in ``retried`` instead.
                    errors=int((~ok[sel] & ~retried[sel]).sum()),
                    retried=int(retried[sel].sum()),
                    rps=round(count / duration_s, 3) if duration_s > 0 else 0.0,
                    p50_ms=percentile(m, 50),
                    p95_ms=percentile(m, 95),
                    p99_ms=percentile(m, 99),
                    max_ms=float(m.max()) if count else 0.0,
                    p50_corrected_ms=percentile(c, 50),
                    p99_corrected_ms=percentile(c, 99),
                    calls=int(calls.sum()),
                    failed_calls=int((calls & ~call_ok).sum()),
                    mean_ms=_mean(m),
                    p90_ms=percentile(m, 90),
                    p999_ms=percentile(m, 99.9),
                    p95_corrected_ms=percentile(c, 95),
                    histogram=LatencyHistogram.of_ms(m),
                )
            )
        return tuple(out)

    def flow_stats(self) -> tuple[FlowStats, ...]:
        out = []
        for name in sorted({f[0] for f in self.rec.flows}):
            rows = [f for f in self.rec.flows if f[0] == name]
            d = [f[1] for f in rows]
            out.append(
                FlowStats(
                    name=name,
                    count=len(rows),
                    p50_s=percentile(d, 50),
                    p95_s=percentile(d, 95),
                    p99_s=percentile(d, 99),
                    max_s=float(max(d)),
                    polls_per_job=round(sum(f[2] for f in rows) / len(rows), 3),
                    tasks_created=sum(f[3] for f in rows),
                    tasks_errored=sum(f[4] for f in rows),
                    failed=sum(1 for f in rows if not f[5]),
                    mean_s=_mean(d),
                    p90_s=percentile(d, 90),
                    p999_s=percentile(d, 99.9),
                    histogram=LatencyHistogram.of_ms(np.asarray(d) * 1000.0),
                )
            )
        return tuple(out)

    def lag(self) -> LagStats:
        lag = self.rec.lag_ms
        return LagStats(
            p50_ms=percentile(lag, 50),
            p99_ms=percentile(lag, 99),
            max_ms=float(max(lag, default=0.0)),
        )

    def throughput(self) -> tuple[ThroughputPoint, ...]:
        """Requests and errors per second of the run, one point per whole second, with
        the exact p50 and p99 latency (ms, as measured) of the requests sent in it."""
        if not self.rec.req_t:
            return ()
        t = np.asarray(self.rec.req_t, dtype=float)
        ok = np.asarray(self.rec.req_ok, dtype=bool)
        ms = np.asarray(self.rec.req_ms, dtype=float)
        sec = np.maximum(t, 0).astype(int)
        n = int(sec.max()) + 1
        total = np.bincount(sec, minlength=n)
        errs = np.bincount(sec[~ok], minlength=n)
        # One sort by (second, latency); each second's samples are then a sorted slice.
        order = np.lexsort((ms, sec))
        ms_sorted = ms[order]
        starts = np.concatenate(([0], np.cumsum(total)[:-1]))
        pct: list[tuple[float | None, float | None]] = []
        for i in range(n):
            k = int(total[i])
            if k == 0:
                pct.append((None, None))
                continue
            q = np.percentile(ms_sorted[starts[i] : starts[i] + k], (50, 99))
            pct.append((round(float(q[0]), 3), round(float(q[1]), 3)))
        return tuple(ThroughputPoint(i, float(total[i]), float(errs[i]), *pct[i]) for i in range(n))
