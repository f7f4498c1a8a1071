"""The replay's sections of the run report, from ``results.json`` (schema in docs/CONTRACTS.md).

Concepts held here: records for each part of the file, a defensive reader that keeps what
it can and lists what it could not use (the file comes from another tool and another
version), and the replay charts: throughput, per-endpoint percentiles, schedule lag,
batch flow times and the reconciliation, and the sections built from them
(:func:`replay_sections`), which ``fleetsim`` hands to the run report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson

from sim.report.figures import PALETTE, Chart, chart, empty_chart, new_figure, style
from sim.report.html import Badge, Cell, Section, figure_html, paragraph, table_html

T = TypeVar("T")

#: The replay's results file inside a run directory.
RESULTS = "results.json"


@dataclass(frozen=True, slots=True)
class EndpointStat:
    name: str
    count: float
    errors: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class FlowStat:
    name: str
    count: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    polls_per_job: float


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    scope: str
    metric: str
    limit: float
    actual: float
    passed: bool


@dataclass(frozen=True, slots=True)
class Replay:
    """What the report uses from ``results.json``; ``problems`` lists what was unusable."""

    target: str
    valid: bool | None
    invalid_reasons: tuple[str, ...]
    speedup: float
    duration_s: float
    calls: dict[str, float]
    endpoints: tuple[EndpointStat, ...]
    flows: tuple[FlowStat, ...]
    schedule_lag_ms: dict[str, float]
    throughput: tuple[tuple[float, float, float], ...]  # (t_s, rps, errors_per_s)
    reconciliation: dict[str, float]
    thresholds: tuple[ThresholdResult, ...]
    problems: tuple[str, ...] = field(default=())


def _num(d: dict[str, Any], key: str) -> float:
    v = d.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def _str(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    return v if isinstance(v, str) else ""


def _numbers(d: Any, where: str, problems: list[str]) -> dict[str, float]:
    if d is None:
        return {}
    if not isinstance(d, dict):
        problems.append(f"{where}: expected an object")
        return {}
    return {str(k): float(v) for k, v in d.items() if isinstance(v, int | float)}


def _items(
    doc: dict[str, Any], key: str, build: Callable[[dict[str, Any]], T], problems: list[str]
) -> tuple[T, ...]:
    raw = doc.get(key, [])
    if not isinstance(raw, list):
        problems.append(f"{key}: expected a list")
        return ()
    out: list[T] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"{key}[{i}]: expected an object")
            continue
        out.append(build(item))
    return tuple(out)


def read_replay(path: Path) -> Replay | str:
    """The replay results at ``path``, or a one-line reason they cannot be shown."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        return f"{path.name}: cannot read ({exc})"
    if not isinstance(doc, dict):
        return f"{path.name}: expected a JSON object at the top level"
    problems: list[str] = []
    if doc.get("version") not in (1, None):
        problems.append(f"version {doc.get('version')!r}: this report reads version 1")
    endpoints = _items(
        doc,
        "endpoints",
        lambda e: EndpointStat(
            _str(e, "name") or "?",
            _num(e, "count"),
            _num(e, "errors"),
            _num(e, "rps"),
            _num(e, "p50_ms"),
            _num(e, "p95_ms"),
            _num(e, "p99_ms"),
            _num(e, "max_ms"),
        ),
        problems,
    )
    flows = _items(
        doc,
        "flows",
        lambda f: FlowStat(
            _str(f, "name") or "?",
            _num(f, "count"),
            _num(f, "p50_s"),
            _num(f, "p95_s"),
            _num(f, "p99_s"),
            _num(f, "max_s"),
            _num(f, "polls_per_job"),
        ),
        problems,
    )
    throughput = _items(
        doc,
        "throughput",
        lambda p: (_num(p, "t_s"), _num(p, "rps"), _num(p, "errors_per_s")),
        problems,
    )
    thresholds = _items(
        doc,
        "thresholds",
        lambda t: ThresholdResult(
            _str(t, "scope"),
            _str(t, "metric"),
            _num(t, "limit"),
            _num(t, "actual"),
            t.get("passed") is True,
        ),
        problems,
    )
    reasons = doc.get("invalid_reasons", [])
    valid = doc.get("valid")
    return Replay(
        target=_str(doc, "target"),
        valid=valid if isinstance(valid, bool) else None,
        invalid_reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (),
        speedup=_num(doc, "speedup"),
        duration_s=_num(doc, "duration_s"),
        calls=_numbers(doc.get("calls"), "calls", problems),
        endpoints=endpoints,
        flows=flows,
        schedule_lag_ms=_numbers(doc.get("schedule_lag_ms"), "schedule_lag_ms", problems),
        throughput=tuple(p for p in throughput if math.isfinite(p[0])),
        reconciliation=_numbers(doc.get("reconciliation"), "reconciliation", problems),
        thresholds=thresholds,
        problems=tuple(problems),
    )


def throughput_chart(r: Replay) -> Chart:
    title = "Replay throughput over time"
    if not r.throughput:
        return empty_chart("replay_throughput", title, "results.json has no throughput series")
    t, rps, err = (np.array(c, dtype=float) for c in zip(*r.throughput, strict=True))
    with style():
        fig = new_figure(9.5, 3.6)
        ax = fig.add_subplot()
        ax.plot(t, rps, color=PALETTE["active"], label="requests/s")
        ax.plot(t, err, color=PALETTE["fail"], label="errors/s")
        ax.set_xlabel("replay wall time (s)")
        ax.set_ylabel("rate (per second)")
        ax.legend(loc="upper right")
        return chart(
            "replay_throughput",
            title,
            "Errors rising with the request rate, or a rate that cannot keep up with "
            "the schedule, mark the load the target stops absorbing.",
            fig,
        )


def _grouped_bars(ax: Any, names: list[str], series: list[tuple[str, list[float], str]]) -> None:
    y = np.arange(len(names))
    h = 0.8 / len(series)
    for i, (label, values, colour) in enumerate(series):
        vals = np.nan_to_num(np.array(values, dtype=float))
        bars = ax.barh(
            y + (i - (len(series) - 1) / 2) * h, vals, height=h, label=label, color=colour
        )
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in vals], fontsize=7, padding=2)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.margins(x=0.1)  # room for the value labels
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


_PCT_COLOURS = ("#9ecae1", "#4292c6", "#08519c", "#252525")


def endpoints_chart(r: Replay) -> Chart:
    title = "Latency per endpoint"
    if not r.endpoints:
        return empty_chart("replay_endpoints", title, "results.json lists no endpoints")
    names = [e.name for e in r.endpoints]
    with style():
        fig = new_figure(9.5, 1.2 + 0.55 * len(names))
        ax = fig.add_subplot()
        _grouped_bars(
            ax,
            names,
            [
                ("p50", [e.p50_ms for e in r.endpoints], _PCT_COLOURS[0]),
                ("p95", [e.p95_ms for e in r.endpoints], _PCT_COLOURS[1]),
                ("p99", [e.p99_ms for e in r.endpoints], _PCT_COLOURS[2]),
            ],
        )
        ax.set_xlabel("response time (ms)")
        ax.set_ylabel("endpoint")
        return chart(
            "replay_endpoints",
            title,
            "A p99 far above the p50 is the tail users feel; compare it with the thresholds below.",
            fig,
        )


def schedule_lag_chart(r: Replay) -> Chart:
    title = "Schedule lag"
    lag = r.schedule_lag_ms
    if not lag:
        return empty_chart("replay_schedule_lag", title, "results.json has no schedule lag")
    keys: list[str] = [k for k in ("p50", "p99", "max") if k in lag] or sorted(lag.keys())
    with style():
        fig = new_figure(7.0, 2.6)
        ax = fig.add_subplot()
        bars = ax.barh(keys, [lag[k] for k in keys], color=PALETTE["accent"])
        ax.bar_label(bars, labels=[f"{lag[k]:,.1f}" for k in keys], padding=2, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("lag behind the planned send time (ms)")
        ax.set_ylabel("statistic")
        return chart(
            "replay_schedule_lag",
            title,
            "Lag in the tens of milliseconds is fine; lag near the request spacing "
            "means the load generator, not the target, set the pace.",
            fig,
        )


def flows_chart(r: Replay) -> Chart:
    title = "Batch flow times"
    if not r.flows:
        return empty_chart("replay_flows", title, "results.json lists no flows")
    names = [f.name for f in r.flows]
    with style():
        fig = new_figure(9.5, 1.2 + 0.6 * len(names))
        ax = fig.add_subplot()
        _grouped_bars(
            ax,
            names,
            [
                ("p50", [f.p50_s for f in r.flows], _PCT_COLOURS[0]),
                ("p95", [f.p95_s for f in r.flows], _PCT_COLOURS[1]),
                ("p99", [f.p99_s for f in r.flows], _PCT_COLOURS[2]),
                ("max", [f.max_s for f in r.flows], _PCT_COLOURS[3]),
            ],
        )
        ax.set_xlabel("flow time, request to tasks available (s)")
        ax.set_ylabel("flow")
        return chart(
            "replay_flows",
            title,
            "Flow time is what a merchant waits before its tasks exist; a long max "
            "against a short p50 points at polling or queueing in async batches.",
            fig,
        )


def reconciliation_chart(r: Replay) -> Chart:
    title = "Reconciliation of planned and created tasks"
    rec = r.reconciliation
    if not rec:
        return empty_chart("replay_reconciliation", title, "results.json has no reconciliation")
    keys = [k for k in ("expected", "created", "missing", "duplicated") if k in rec]
    colours = [PALETTE["active"], PALETTE["completed"], PALETTE["fail"], PALETTE["assigned"]]
    with style():
        fig = new_figure(7.0, 2.6)
        ax = fig.add_subplot()
        bars = ax.barh(keys, [rec[k] for k in keys], color=colours[: len(keys)])
        ax.bar_label(bars, labels=[f"{rec[k]:,.0f}" for k in keys], padding=2, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("tasks (count)")
        ax.set_ylabel("outcome")
        return chart(
            "replay_reconciliation",
            title,
            "Missing and duplicated should both be zero; anything else means the "
            "target lost or repeated work under load.",
            fig,
        )


def _count(x: float) -> int | float:
    return int(x) if math.isfinite(x) and x == int(x) else x


def replay_sections(run_dir: Path) -> tuple[list[Section], list[Chart]]:
    """The load-test sections of a run's page: none without ``results.json``, one note when
    it cannot be read, else the overview, latency, lag and flows, reconciliation and
    thresholds (a section provider for :func:`sim.report.run_report.build_report`)."""
    path = run_dir / RESULTS
    if not path.is_file():
        return [], []
    r = read_replay(path)
    if isinstance(r, str):
        return [Section("Load-test replay", (paragraph(r),))], []
    charts = [
        throughput_chart(r),
        endpoints_chart(r),
        schedule_lag_chart(r),
        flows_chart(r),
        reconciliation_chart(r),
    ]
    valid: Cell = (
        Badge("valid", "pass")
        if r.valid
        else Badge("invalid", "fail")
        if r.valid is False
        else "unknown"
    )
    overview: list[list[Cell]] = [
        ["target", r.target or "?"],
        ["run valid", valid],
        ["speed-up over real time", r.speedup],
        ["replay duration (s)", r.duration_s],
    ]
    overview += [[f"calls {k}", int(v)] for k, v in r.calls.items()]
    blocks = [table_html(("replay", ""), overview)]
    blocks += [paragraph(f"Invalid because: {why}") for why in r.invalid_reasons]
    blocks += [paragraph(f"results.json: {p}") for p in r.problems]
    blocks += [figure_html(c) for c in charts[:1]]
    ep_rows: list[list[Cell]] = [
        [e.name, _count(e.count), _count(e.errors), e.rps, e.p50_ms, e.p95_ms, e.p99_ms, e.max_ms]
        for e in r.endpoints
    ]
    latency = [figure_html(charts[1])]
    if ep_rows:
        latency.append(
            table_html(
                ("endpoint", "calls", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"),
                ep_rows,
            )
        )
    flows = [figure_html(c) for c in charts[2:4]]
    recon = [figure_html(charts[4])]
    th_rows: list[list[Cell]] = [
        [
            t.scope,
            t.metric,
            t.limit,
            t.actual,
            Badge("pass", "pass") if t.passed else Badge("FAIL", "fail"),
        ]
        for t in r.thresholds
    ]
    thresholds = (
        [table_html(("scope", "metric", "limit", "actual", "result"), th_rows)]
        if th_rows
        else [paragraph("results.json defines no thresholds.")]
    )
    if th_rows:
        n_fail = sum(1 for t in r.thresholds if not t.passed)
        thresholds.insert(
            0,
            paragraph(
                "All thresholds passed." if n_fail == 0 else f"{n_fail} threshold(s) failed.",
                "answer" if n_fail == 0 else "answer miss",
            ),
        )
    sections = [
        Section("Load-test replay", tuple(blocks)),
        Section("Latency per endpoint", tuple(latency)),
        Section("Schedule lag and batch flows", tuple(flows)),
        Section("Reconciliation", tuple(recon)),
        Section("Thresholds", tuple(thresholds)),
    ]
    return sections, charts
