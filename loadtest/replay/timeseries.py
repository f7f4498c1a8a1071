"""``--timeseries FILE``: the run second by second, as CSV or JSON lines.

Concepts held here: :class:`SecondRow` (one second of the run, from its start at ``t_s``
after the day's origin: attempts and failed attempts sent in it, schedule-lag p99 of the
calls first sent in it, requests in flight at its end, and per endpoint the count, errors
and exact nearest-rank p50/p95/p99 latency of the attempts sent in it),
:func:`timeseries_rows` (built once, at the end, from every sample: a request counts in
the second it was *sent*, whenever it finished, so the rows are exact and the same run
gives the same bytes) and :func:`write_timeseries` (the format chosen by the file name:
``.jsonl`` one object per second with its endpoints nested; ``.csv`` one row per second
per endpoint, plus a row for all endpoints named ``*``, which alone carries the lag and
in-flight columns).  In flight: attempts sent and not yet answered at the second's end.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from loadtest.replay.histogram import nearest_rank
from loadtest.replay.stats import Aggregate

TIMESERIES_SUFFIXES = (".csv", ".jsonl")
#: The CSV's columns, in order.
CSV_COLUMNS = (
    "t_s",
    "endpoint",
    "calls_per_s",
    "errors_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "lag_p99_ms",
    "in_flight",
)


@dataclass(frozen=True, slots=True)
class EndpointSecond:
    name: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class SecondRow:
    """One second of the run (module docstring).  ``calls_per_s`` counts attempts (HTTP
    requests), as Locust's RPS does; ``lag_p99_ms`` is None when no call was first sent
    in the second."""

    t_s: int
    calls_per_s: int
    errors_per_s: int
    lag_p99_ms: float | None
    in_flight: int
    endpoints: tuple[EndpointSecond, ...]
    #: Over every attempt sent in the second (None when none was).
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


def _pct(sorted_ms: np.ndarray, q: float) -> float:
    return round(float(sorted_ms[nearest_rank(q, len(sorted_ms)) - 1]), 3)


def timeseries_rows(agg: Aggregate) -> list[SecondRow]:
    """Every whole second from 0 to the last sample, empty seconds included."""
    r = agg.rec
    t = np.maximum(np.asarray(r.req_t, dtype=float), 0.0)
    ms = np.asarray(r.req_ms, dtype=float)
    ok = np.asarray(r.req_ok, dtype=bool)
    names = np.asarray(r.req_name, dtype=object)
    lag_t = np.maximum(np.asarray(r.lag_t, dtype=float), 0.0)
    lag = np.asarray(r.lag_ms, dtype=float)
    last = max(float(t.max()) if len(t) else -1.0, float(lag_t.max()) if len(lag_t) else -1.0)
    if last < 0:
        return []
    n = int(last) + 1
    sec = t.astype(int)
    lag_sec = lag_t.astype(int)
    end = t + ms / 1000.0
    # In flight at the end of second s: sent before s + 1 and finished after it.
    starts = np.sort(t)
    ends = np.sort(end)
    edges = np.arange(1, n + 1, dtype=float)
    in_flight = np.searchsorted(starts, edges, side="left") - np.searchsorted(
        ends, edges, side="right"
    )
    order = np.lexsort((ms, sec))
    rows = []
    by_sec_start = np.searchsorted(sec[order], np.arange(n + 1), side="left")
    lag_order = np.lexsort((lag, lag_sec))
    lag_start = np.searchsorted(lag_sec[lag_order], np.arange(n + 1), side="left")
    for s in range(n):
        idx = order[by_sec_start[s] : by_sec_start[s + 1]]
        eps = []
        for name in sorted(set(names[idx])):
            sel = idx[names[idx] == name]  # still sorted by latency
            m = ms[sel]
            eps.append(
                EndpointSecond(
                    str(name),
                    len(sel),
                    int((~ok[sel]).sum()),
                    _pct(m, 50),
                    _pct(m, 95),
                    _pct(m, 99),
                )
            )
        lags = lag[lag_order[lag_start[s] : lag_start[s + 1]]]
        rows.append(
            SecondRow(
                t_s=s,
                calls_per_s=len(idx),
                errors_per_s=int((~ok[idx]).sum()),
                lag_p99_ms=_pct(lags, 99) if len(lags) else None,
                in_flight=int(in_flight[s]),
                endpoints=tuple(eps),
                p50_ms=_pct(ms[idx], 50) if len(idx) else None,
                p95_ms=_pct(ms[idx], 95) if len(idx) else None,
                p99_ms=_pct(ms[idx], 99) if len(idx) else None,
            )
        )
    return rows


def _jsonl(rows: list[SecondRow]) -> bytes:
    out = bytearray()
    for row in rows:
        doc = {
            "t_s": row.t_s,
            "calls_per_s": row.calls_per_s,
            "errors_per_s": row.errors_per_s,
            "lag_p99_ms": row.lag_p99_ms,
            "in_flight": row.in_flight,
            "p50_ms": row.p50_ms,
            "p95_ms": row.p95_ms,
            "p99_ms": row.p99_ms,
            "endpoints": {
                e.name: {
                    "calls_per_s": e.calls,
                    "errors_per_s": e.errors,
                    "p50_ms": e.p50_ms,
                    "p95_ms": e.p95_ms,
                    "p99_ms": e.p99_ms,
                }
                for e in row.endpoints
            },
        }
        out += orjson.dumps(doc) + b"\n"
    return bytes(out)


def _csv(rows: list[SecondRow]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for row in rows:
        w.writerow(
            [
                row.t_s,
                "*",
                row.calls_per_s,
                row.errors_per_s,
                *("" if v is None else v for v in (row.p50_ms, row.p95_ms, row.p99_ms)),
                "" if row.lag_p99_ms is None else row.lag_p99_ms,
                row.in_flight,
            ]
        )
        for e in row.endpoints:
            w.writerow([row.t_s, e.name, e.calls, e.errors, e.p50_ms, e.p95_ms, e.p99_ms, "", ""])
    return buf.getvalue().encode()


def write_timeseries(rows: list[SecondRow], path: Path) -> Path:
    """Write ``rows`` to ``path`` (format by its suffix), atomically."""
    if path.suffix not in TIMESERIES_SUFFIXES:
        raise ValueError(f"{path}: the time series is .csv or .jsonl")
    data = _jsonl(rows) if path.suffix == ".jsonl" else _csv(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
