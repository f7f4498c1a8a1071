"""Live progress of a replay: what the collecting process knows each second, and its display.

Concepts held here: :class:`LiveSnapshot` (the run so far: sent/planned, calls per second,
errors, 429s, schedule-lag p99, calls in flight, ETA, and cumulative per-endpoint latency
histograms for ``/metrics``), written by the Locust master or lone process once a second
to ``live.json`` in the results directory (:func:`write_snapshot`, atomically) and read by
the ``fleetsim replay`` parent (:func:`read_snapshot`); :class:`LiveTracker`, which builds
snapshots from the growing :class:`~loadtest.replay.stats.Aggregate` reading only the
samples added since its last look; and :class:`ProgressPrinter`, the parent's display: one
line rewritten in place on a terminal (every snapshot, so at least once a second), one
line every :data:`PIPE_EVERY_S` seconds elsewhere (a CI log).

"In flight" counts calls sent and not yet finished: a batch job's poll is one call for
the whole flow, so flows being polled are in it.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import orjson

from loadtest.replay.histogram import nearest_rank
from loadtest.replay.stats import Aggregate

#: The snapshot file the child writes into the results directory.
LIVE_FILE = "live.json"
#: On a non-terminal (a CI log), one progress line this often (s).
PIPE_EVERY_S = 10.0
#: Calls per second are averaged over this many seconds (workers report every 2 s).
RATE_WINDOW_S = 5.0
#: Edges (ms) of the fine log-spaced bins the live lag p99 is read from: 0.01 ms to 1 h,
#: 1% wide, so the live figure is within 1% of the exact one (``results.json`` has that).
LAG_EDGES_MS = np.geomspace(0.01, 3_600_000.0, 1300)
#: Upper bounds (s) of the latency histogram's buckets, Prometheus's defaults; the last
#: bucket (+Inf) is implied.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)


@dataclass(frozen=True, slots=True)
class EndpointLive:
    """One endpoint's attempts so far: ``buckets[i]`` counts latencies in
    ``(LATENCY_BUCKETS_S[i-1], LATENCY_BUCKETS_S[i]]``, the last one those above every
    bound (not cumulative; Prometheus's cumulative counts are made when exposed)."""

    name: str
    requests: int = 0
    errors: int = 0
    latency_sum_s: float = 0.0
    buckets: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """The run so far; see the module docstring.  Times in seconds since the day's origin."""

    t_s: float = 0.0
    planned: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    attempts: int = 0
    attempt_errors: int = 0
    rate_limited: int = 0
    calls_per_s: float = 0.0
    lag_p99_ms: float = 0.0
    in_flight: int = 0
    eta_s: float = 0.0
    done: bool = False
    aborted: str = ""
    endpoints: tuple[EndpointLive, ...] = ()
    lag_buckets: tuple[int, ...] = ()
    lag_sum_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LiveSnapshot:
        eps = tuple(
            EndpointLive(
                str(e["name"]),
                int(e["requests"]),
                int(e["errors"]),
                float(e["latency_sum_s"]),
                tuple(int(b) for b in e["buckets"]),
            )
            for e in doc.get("endpoints", ())
        )
        plain = {k: v for k, v in doc.items() if k not in ("endpoints", "lag_buckets")}
        return cls(
            **plain,
            endpoints=eps,
            lag_buckets=tuple(int(b) for b in doc.get("lag_buckets", ())),
        )

    def line(self) -> str:
        """One progress line."""
        pct = f" ({100.0 * self.sent / self.planned:.0f}%)" if self.planned else ""
        eta = "done" if self.done else f"ETA {_clock(self.eta_s)}"
        aborted = f"  ABORTING: {self.aborted}" if self.aborted else ""
        return (
            f"[{_clock(max(0.0, self.t_s))}] sent {self.sent}/{self.planned}{pct}  "
            f"{self.calls_per_s:.1f} calls/s  errors {self.failed}  429s {self.rate_limited}  "
            f"lag p99 {self.lag_p99_ms:.0f} ms  in flight {self.in_flight}  {eta}{aborted}"
        )


def _clock(s: float) -> str:
    whole = round(s)
    h, rem = divmod(whole, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def write_snapshot(snap: LiveSnapshot, path: Path) -> None:
    """Write ``path`` atomically: the reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(snap.to_json()))
    os.replace(tmp, path)


def read_snapshot(path: Path) -> LiveSnapshot | None:
    """The snapshot at ``path``; None if there is none (yet) or it does not read."""
    try:
        return LiveSnapshot.from_json(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


@dataclass(slots=True)
class _Endpoint:
    requests: int = 0
    errors: int = 0
    latency_sum_s: float = 0.0
    buckets: np.ndarray = field(
        default_factory=lambda: np.zeros(len(LATENCY_BUCKETS_S) + 1, dtype=np.int64)
    )


class LiveTracker:
    """Snapshots of a growing aggregate, reading each sample once (module docstring)."""

    def __init__(self, planned: int, end_s: float) -> None:
        self.planned = planned
        #: When the last call falls due (s since the origin): the ETA counts down to it.
        self.end_s = end_s
        self._n_req = 0
        self._n_lag = 0
        self._endpoints: dict[str, _Endpoint] = {}
        self._lag_fine = np.zeros(len(LAG_EDGES_MS) + 1, dtype=np.int64)
        self._lag_buckets = np.zeros(len(LATENCY_BUCKETS_S) + 1, dtype=np.int64)
        self._lag_sum_s = 0.0
        self._attempt_errors = 0
        self._rates: deque[tuple[float, int]] = deque()

    def update(self, agg: Aggregate, now_s: float, aborted: str = "") -> LiveSnapshot:
        r = agg.rec
        bounds = np.asarray(LATENCY_BUCKETS_S)
        n = len(r.req_name)
        if n > self._n_req:
            names = r.req_name[self._n_req : n]
            secs = np.asarray(r.req_ms[self._n_req : n], dtype=float) / 1000.0
            ok = np.asarray(r.req_ok[self._n_req : n], dtype=bool)
            idx = np.searchsorted(bounds, secs, side="left")  # le-bucket: v <= bound
            by_name = np.asarray(names, dtype=object)
            for name in set(names):
                sel = by_name == name
                e = self._endpoints.setdefault(name, _Endpoint())
                e.requests += int(sel.sum())
                e.errors += int((~ok[sel]).sum())
                e.latency_sum_s += float(secs[sel].sum())
                e.buckets += np.bincount(idx[sel], minlength=len(bounds) + 1)
            self._attempt_errors += int((~ok).sum())
            self._n_req = n
        m = len(r.lag_ms)
        if m > self._n_lag:
            lags = np.asarray(r.lag_ms[self._n_lag : m], dtype=float)
            # Vectorised: hdrh records one value per Python call, too slow for a tick
            # that must not hold up the sending greenlets.
            self._lag_fine += np.bincount(
                np.searchsorted(LAG_EDGES_MS, lags, side="left"), minlength=len(LAG_EDGES_MS) + 1
            )
            self._lag_buckets += np.bincount(
                np.searchsorted(bounds, lags / 1000.0, side="left"), minlength=len(bounds) + 1
            )
            self._lag_sum_s += float(lags.sum()) / 1000.0
            self._n_lag = m
        c = r.counters
        attempts = c.get("attempts", 0)
        self._rates.append((now_s, attempts))
        while len(self._rates) > 1 and now_s - self._rates[0][0] > RATE_WINDOW_S:
            self._rates.popleft()
        t_first, a_first = self._rates[0]
        rate = (attempts - a_first) / (now_s - t_first) if now_s > t_first else 0.0
        sent, ok_calls, failed = c.get("sent", 0), c.get("ok", 0), c.get("failed", 0)
        return LiveSnapshot(
            t_s=round(now_s, 3),
            planned=self.planned,
            sent=sent,
            ok=ok_calls,
            failed=failed,
            skipped=c.get("skipped", 0),
            attempts=attempts,
            attempt_errors=self._attempt_errors,
            rate_limited=c.get("rate_limited", 0),
            calls_per_s=round(rate, 2),
            lag_p99_ms=self._lag_p99_ms(),
            in_flight=max(0, sent - ok_calls - failed),
            eta_s=round(max(0.0, self.end_s - now_s), 1),
            aborted=aborted,
            endpoints=tuple(
                EndpointLive(
                    k,
                    e.requests,
                    e.errors,
                    round(e.latency_sum_s, 6),
                    tuple(int(b) for b in e.buckets),
                )
                for k, e in sorted(self._endpoints.items())
            ),
            lag_buckets=tuple(int(b) for b in self._lag_buckets),
            lag_sum_s=round(self._lag_sum_s, 6),
        )

    def _lag_p99_ms(self) -> float:
        """The upper edge of the bin holding the nearest-rank 99th percentile (0 without
        samples; the last, open bin reads as its lower edge)."""
        total = int(self._lag_fine.sum())
        if not total:
            return 0.0
        rank = nearest_rank(99, total)
        i = int(np.searchsorted(np.cumsum(self._lag_fine), rank, side="left"))
        return round(float(LAG_EDGES_MS[min(i, len(LAG_EDGES_MS) - 1)]), 3)


class ProgressPrinter:
    """The parent's display of snapshots on ``stream`` (module docstring)."""

    def __init__(
        self,
        stream: TextIO,
        every_s: float = PIPE_EVERY_S,
        clock: Any = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = _isatty(stream)
        self.every_s = every_s
        self.clock = clock
        self._last_print = -float("inf")
        self._last: LiveSnapshot | None = None
        self._open_line = False

    def show(self, snap: LiveSnapshot) -> None:
        self._last = snap
        if self.tty:
            # Rewrite the line in place: carriage return, the line, clear to its end.
            self.stream.write("\r" + snap.line() + "\x1b[K")
            self.stream.flush()
            self._open_line = True
            return
        now = self.clock()
        if now - self._last_print >= self.every_s or snap.done:
            self._last_print = now
            print(snap.line(), file=self.stream, flush=True)

    def tick(self) -> None:
        """Nothing new from the child: on a pipe, repeat the last line when one is due."""
        last = self._last
        due = self.clock() - self._last_print >= self.every_s
        if not self.tty and last is not None and not last.done and due:
            self.show(last)

    def close(self) -> None:
        if self.tty and self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
