"""The replay's sections of the run report, from ``results.json`` (schema in docs/CONTRACTS.md).

Concepts held here: the replay charts (throughput, per-endpoint percentiles, schedule lag,
batch flow times and the reconciliation), the webhooks table (:func:`webhook_blocks`, for
a run with ``--webhooks``) and the sections built from them
(:func:`replay_sections`), which ``fleetsim`` hands to the run report.  The file is read
with :func:`loadtest.replay.results.read_results`, leniently: what it could not use is
listed on the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loadtest.replay.results import ReplayResults, ResultsUnreadable, read_results
from sim.report.figures import PALETTE, Chart, chart, empty_chart, new_figure, style
from sim.report.html import (
    Badge,
    Cell,
    Section,
    figure_html,
    paragraph,
    table_html,
    verdict,
    verdict_summary,
)

#: The replay's results file inside a run directory.
RESULTS = "results.json"


def throughput_chart(r: ReplayResults) -> Chart:
    title = "Replay throughput over time"
    if not r.throughput:
        return empty_chart("replay_throughput", title, "results.json has no throughput series")
    t = np.array([p.t_s for p in r.throughput], dtype=float)
    rps = np.array([p.rps for p in r.throughput], dtype=float)
    err = np.array([p.errors_per_s for p in r.throughput], dtype=float)
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


def latency_over_time_chart(r: ReplayResults) -> Chart:
    title = "Replay latency over time"
    points = [p for p in r.throughput if p.p50_ms is not None and p.p99_ms is not None]
    if not points:
        why = "results.json has no per-second latency (written before it was recorded)"
        return empty_chart("replay_latency_time", title, why)
    t = np.array([p.t_s for p in points], dtype=float)
    p50 = np.array([p.p50_ms for p in points], dtype=float)
    p99 = np.array([p.p99_ms for p in points], dtype=float)
    with style():
        fig = new_figure(9.5, 3.6)
        ax = fig.add_subplot()
        ax.plot(t, p50, color=PALETTE["active"], label="p50")
        ax.plot(t, p99, color=PALETTE["fail"], label="p99")
        ax.set_xlabel("replay wall time (s)")
        ax.set_ylabel("latency (ms)")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right")
        return chart(
            "replay_latency_time",
            title,
            "Median and 99th percentile latency (ms, as measured) of the requests sent in "
            "each second: a p99 that climbs with the request rate shows where the target "
            "starts to queue.",
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


def endpoints_chart(r: ReplayResults) -> Chart:
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


def schedule_lag_chart(r: ReplayResults) -> Chart:
    title = "Schedule lag"
    lag = r.schedule_lag_ms
    keys = ["p50", "p99", "max"]
    values = [lag.p50_ms, lag.p99_ms, lag.max_ms]
    with style():
        fig = new_figure(7.0, 2.6)
        ax = fig.add_subplot()
        bars = ax.barh(keys, values, color=PALETTE["accent"])
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], padding=2, fontsize=8)
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


def flows_chart(r: ReplayResults) -> Chart:
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


def reconciliation_chart(r: ReplayResults) -> Chart:
    title = "Reconciliation of planned and created tasks"
    rec = r.reconciliation
    if rec is None:
        return empty_chart("replay_reconciliation", title, "results.json has no reconciliation")
    # Unknown counts (reconciliation could not run) get no bar.
    known = [
        (k, float(v), colour)
        for k, v, colour in (
            ("expected", rec.expected, PALETTE["active"]),
            ("created", rec.created, PALETTE["completed"]),
            ("missing", rec.missing, PALETTE["fail"]),
            ("duplicated", rec.duplicated, PALETTE["assigned"]),
        )
        if v is not None
    ]
    keys = [k for k, _, _ in known]
    values = [v for _, v, _ in known]
    with style():
        fig = new_figure(7.0, 2.6)
        ax = fig.add_subplot()
        bars = ax.barh(keys, values, color=[c for _, _, c in known])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=2, fontsize=8)
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


def webhook_blocks(r: ReplayResults) -> list[str]:
    """The webhooks section's blocks: totals, then one row per event (None: no section)."""
    w = r.webhooks
    if w is None:
        return []
    missing, unexpected = w.total("missing"), w.total("unexpected")
    clean = missing == 0 and unexpected == 0 and w.bad_signatures == 0
    verdict = (
        "Every expected event arrived; none unexpected; every signature verified."
        if clean
        else f"{missing} missing, {unexpected} unexpected, {w.bad_signatures} bad signature(s)."
    )
    blocks = [
        paragraph(verdict, "answer" if clean else "answer miss"),
        paragraph(
            "Latency runs from the answer of the call that caused an event to the event's "
            "first arrival (an event that arrived before that answer counts as 0 ms, "
            "'early'). Retries repeat a delivery id (the platform's at-least-once "
            "delivery); duplicates are further deliveries with a new id."
        ),
    ]
    rows: list[list[Cell]] = [
        [
            f"{e.provider}:{e.name}",
            e.expected,
            e.received,
            Badge(str(e.missing), "fail") if e.missing else 0,
            e.duplicated,
            e.unexpected,
            e.retries,
            e.out_of_order,
            e.bad_signatures,
            e.early,
            e.p50_ms,
            e.p95_ms,
            e.p99_ms,
            e.max_ms,
        ]
        for e in w.events
    ]
    head = ("event", "expected", "received", "missing", "dup", "unexpected", "retries")
    head2 = ("out of order", "bad sig", "early", "p50 ms", "p95 ms", "p99 ms", "max ms")
    if rows:
        blocks.append(table_html((*head, *head2), rows, scroll=True))
    blocks.append(
        paragraph(
            f"{w.arrivals} arrivals in all; {w.bad_signatures} with a bad signature, "
            f"{w.malformed} unreadable."
        )
    )
    return blocks


def replay_sections(run_dir: Path) -> tuple[list[Section], list[Chart]]:
    """The load-test sections of a run's page: none without ``results.json``, one note when
    it cannot be read, else the overview, latency, lag and flows, reconciliation and
    thresholds (a section provider for :func:`sim.report.run_report.build_report`)."""
    path = run_dir / RESULTS
    if not path.is_file():
        return [], []
    try:
        r = read_results(path)
    except ResultsUnreadable as exc:
        why = f"{RESULTS}: cannot read ({exc.reason})"
        return [Section("Load-test replay", (paragraph(why),))], []
    charts = [
        throughput_chart(r),
        latency_over_time_chart(r),
        endpoints_chart(r),
        schedule_lag_chart(r),
        flows_chart(r),
        reconciliation_chart(r),
    ]
    valid: Cell = Badge("valid", "pass") if r.valid else Badge("invalid", "fail")
    overview: list[list[Cell]] = [
        ["target", r.target or "?"],
        ["run valid", valid],
        ["speed-up over real time", r.speedup],
        ["replay duration (s)", r.duration_s],
        ["load-generator processes", r.processes],
        ["load-generator CPU peak (%)", r.cpu_peak_pct],
    ]
    if r.cpu_sustained_pct is not None:
        overview.append([f"CPU held for {r.cpu_window_s or 0:g} s (%)", r.cpu_sustained_pct])
    if r.aborted:
        overview.append(["aborted by a threshold", Badge(r.aborted, "fail")])
    # Every counter, zeros included (an older file that lacks one reads it as zero).
    overview += [[f"calls {k.replace('_', ' ')}", v] for k, v in r.calls.items()]
    blocks = [table_html(("replay", ""), overview)]
    blocks += [paragraph(f"Invalid because: {why}") for why in r.validity.reasons]
    blocks += [paragraph(f"results.json: {p}") for p in r.problems]
    blocks += [figure_html(c) for c in charts[:1]]
    # Calls (one per trace call) and their final failures, beside the attempts that the
    # latencies and the request rate are measured over.
    ep_rows: list[list[Cell]] = [
        [
            e.name,
            e.calls,
            e.failed_calls,
            e.count,
            e.rps,
            e.p50_ms,
            e.p95_ms,
            e.p99_ms,
            e.max_ms,
        ]
        for e in r.endpoints
    ]
    latency = [figure_html(charts[1])]
    if ep_rows:
        head = ("endpoint", "calls", "failed", "attempts", "req/s", "p50 ms", "p95 ms", "p99 ms")
        latency.append(table_html((*head, "max ms"), ep_rows))
    flows = [figure_html(c) for c in charts[2:4]]
    recon = [figure_html(charts[4])]
    th_rows: list[list[Cell]] = [
        [
            t.scope,
            t.metric,
            t.limit,
            t.actual,
            verdict(t.passed, t.skipped),
        ]
        for t in r.thresholds
    ]
    thresholds = (
        [table_html(("scope", "metric", "limit", "actual", "result"), th_rows)]
        if th_rows
        else [paragraph("results.json defines no thresholds.")]
    )
    if th_rows:
        n_skip = sum(1 for t in r.thresholds if t.skipped)
        n_fail = sum(1 for t in r.thresholds if not t.passed and not t.skipped)
        thresholds.insert(
            0, paragraph(*verdict_summary(len(r.thresholds) - n_fail - n_skip, n_fail, n_skip))
        )
    sections = [
        Section("Load-test replay", tuple(blocks)),
        Section("Latency per endpoint", tuple(latency)),
        Section("Schedule lag and batch flows", tuple(flows)),
        Section("Reconciliation", tuple(recon)),
    ]
    hooks = webhook_blocks(r)
    if hooks:
        sections.append(Section("Webhooks", tuple(hooks)))
    sections.append(Section("Thresholds", tuple(thresholds)))
    return sections, charts
