"""Pass/fail gates over a replay's results: the thresholds TOML, checks, table, JUnit XML.

Concepts held here: :class:`Limit` (one scope's limits, validated once from TOML),
:func:`load_thresholds`, the metric tables (:class:`Metric`: each limit's name, unit and how
to read it from an endpoint's or a flow's stats; :data:`LAG_METRICS` for the schedule lag),
:class:`KnownNames` and :func:`check_names` (a table naming an endpoint or flow that
exists nowhere is an error, with the closest valid name; :func:`check_file` checks a file
against a trace without running it, as :class:`FileCheck`), :func:`evaluate` (typed results to
:class:`~loadtest.replay.results.ThresholdCheck` rows), :func:`format_table` and
:func:`write_junit`.  The file format is shown in
``loadtest/thresholds.example.toml``: tables ``[endpoints."<name>"]`` (``"*"`` for every
endpoint), ``[flows."<name>"]``, ``[schedule_lag]`` and ``[webhooks."<event>"]`` (a run
with ``--webhooks``: :data:`WEBHOOK_METRICS`, checked as scope ``webhook.<event>``).  An
endpoint, flow or event with no samples is skipped unless its table says
``required = true``.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import quoteattr

from loadtest.providers.webhooks import (
    EVENTS_BY_OP,
    HYPERTRACK_ORDER_VALUES,
    NASH_TYPES,
    ONFLEET_TRIGGER_IDS,
)
from loadtest.replay.results import EndpointStats, FlowStats, LagStats, ThresholdCheck, Validity
from loadtest.replay.webhooks.records import WebhookEventStats, WebhookReport
from loadtest.trace.format import TraceCall, read_trace
from loadtest.trace.ops import OPS
from sim.errors import UserError


@dataclass(frozen=True, slots=True)
class Metric:
    """A limit an endpoint or flow table may set: its unit (that of the limit and of the
    actual value), how to read the actual value from each kind of stats given the run's
    duration (``flow`` None: an endpoint-only limit), whether the limit is a floor rather
    than a ceiling, and whether it is judged over calls rather than attempts (an endpoint
    with calls but no attempt, such as a recovered job's poll, has no latency)."""

    unit: str
    endpoint: Callable[[EndpointStats, float], float]
    flow: Callable[[FlowStats, float], float] | None
    at_least: bool = False
    per_call: bool = False

    def samples(self, row: EndpointStats | FlowStats) -> int:
        if isinstance(row, EndpointStats) and self.per_call:
            return row.calls
        return row.count


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _per_s(count: int, duration_s: float) -> float:
    return count / duration_s if duration_s > 0 else 0.0


#: Limits of ``[endpoints."…"]`` and ``[flows."…"]`` tables.  Flow times are recorded in
#: seconds and limited in milliseconds.  The error ratio is over calls, not attempts: an
#: endpoint's calls that failed for good over its calls (a call retried 3 times and then
#: failing counts once, in both), a flow's failed jobs over its jobs.  Corrected latency
#: (from the intended send time) exists for endpoints only.
METRICS: dict[str, Metric] = {
    "mean_ms": Metric("ms", lambda e, _: e.mean_ms, lambda f, _: f.mean_s * 1000.0),
    "p50_ms": Metric("ms", lambda e, _: e.p50_ms, lambda f, _: f.p50_s * 1000.0),
    "p95_ms": Metric("ms", lambda e, _: e.p95_ms, lambda f, _: f.p95_s * 1000.0),
    "p99_ms": Metric("ms", lambda e, _: e.p99_ms, lambda f, _: f.p99_s * 1000.0),
    "p95_corrected_ms": Metric("ms", lambda e, _: e.p95_corrected_ms, None),
    "p99_corrected_ms": Metric("ms", lambda e, _: e.p99_corrected_ms, None),
    "max_error_ratio": Metric(
        "ratio",
        lambda e, _: e.error_ratio,
        lambda f, _: _ratio(f.failed, f.count),
        per_call=True,
    ),
    "min_rps": Metric("1/s", lambda e, _: e.rps, lambda f, d: _per_s(f.count, d), at_least=True),
    # Attempts refused and sent again (429s, transient 5xx) over attempts: a gate on
    # pressure that retries hide from the error ratio (what ``--find-max`` probes with).
    "max_retry_ratio": Metric("ratio", lambda e, _: _ratio(e.retried, e.count), None),
}
#: The flows table's limits: every metric with a flow reading.
FLOW_METRICS = {k: m for k, m in METRICS.items() if m.flow is not None}
#: Limits of the ``[schedule_lag]`` table, all in ms.
LAG_METRICS: dict[str, Callable[[LagStats], float]] = {
    "p50_ms": lambda lag: lag.p50_ms,
    "p99_ms": lambda lag: lag.p99_ms,
    "max_ms": lambda lag: lag.max_ms,
}


@dataclass(frozen=True, slots=True)
class WebhookMetric:
    """A limit of a ``[webhooks."<event>"]`` table: how to read it from the event's row,
    and which count must be non-zero for it to have samples."""

    unit: str
    read: Callable[[WebhookEventStats], float]
    samples: Callable[[WebhookEventStats], int]


#: Limits of ``[webhooks."<event>"]`` tables: delivery latency (from the causing call's
#: answer to the event's first arrival) and the delivery counts, all upper bounds.
WEBHOOK_METRICS: dict[str, WebhookMetric] = {
    "p50_ms": WebhookMetric("ms", lambda w: w.p50_ms, lambda w: w.received),
    "p95_ms": WebhookMetric("ms", lambda w: w.p95_ms, lambda w: w.received),
    "p99_ms": WebhookMetric("ms", lambda w: w.p99_ms, lambda w: w.received),
    "max_ms": WebhookMetric("ms", lambda w: w.max_ms, lambda w: w.received),
    "max_missing": WebhookMetric("events", lambda w: w.missing, lambda w: w.expected),
    "max_duplicated_ratio": WebhookMetric(
        "ratio", lambda w: w.duplicated_ratio, lambda w: w.received
    ),
    "max_unexpected": WebhookMetric("events", lambda w: w.unexpected, lambda w: 1),
    "max_out_of_order": WebhookMetric("events", lambda w: w.out_of_order, lambda w: w.received),
    "max_bad_signatures": WebhookMetric("attempts", lambda w: w.bad_signatures, lambda w: 1),
}


class Measured(Protocol):
    """What thresholds judge: a whole :class:`~loadtest.replay.results.ReplayResults`, or
    the :class:`~loadtest.replay.results.Measurements` it is built from."""

    @property
    def duration_s(self) -> float: ...
    @property
    def endpoints(self) -> tuple[EndpointStats, ...]: ...
    @property
    def flows(self) -> tuple[FlowStats, ...]: ...
    @property
    def schedule_lag_ms(self) -> LagStats: ...


@dataclass(frozen=True, slots=True)
class Limit:
    """The limits for one endpoint, flow, or the schedule lag (None = not checked)."""

    kind: str  # endpoint | flow | schedule_lag | webhook
    scope: str
    limits: tuple[tuple[str, float], ...]
    #: With no samples for the scope: a failure when required, else a skip.
    required: bool = False
    #: ``abort = true``: stop the run as soon as a limit of this table has been violated
    #: (judged live, over the samples so far) for longer than ``abort_after_s``.
    abort: bool = False
    abort_after_s: float = 0.0


#: Keys of a table that are not limits: what to do about them.
CONTROL_KEYS = ("required", "abort", "abort_after_s")


def _abort(table: Any, where: str, may_abort: bool) -> tuple[bool, float]:
    """A table's ``abort`` and ``abort_after_s``, checked."""
    if not isinstance(table, dict):
        return False, 0.0
    abort = table.get("abort", False)
    after = table.get("abort_after_s", 0.0)
    if not isinstance(abort, bool):
        raise UserError(f"{where}.abort = {abort!r}: must be true or false")
    if isinstance(after, bool) or not isinstance(after, int | float) or after < 0:
        raise UserError(f"{where}.abort_after_s = {after!r}: must be a number of seconds >= 0")
    if "abort_after_s" in table and not abort:
        raise UserError(f"{where}.abort_after_s needs abort = true in the same table")
    if abort and not may_abort:
        raise UserError(
            f"{where}.abort: only endpoint, flow and schedule_lag limits can stop a run "
            "(webhooks are matched at the end)"
        )
    return abort, float(after)


def _limits(
    table: Any, where: str, allowed: Mapping[str, object], may_require: bool
) -> tuple[tuple[str, float], ...]:
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table")
    out = []
    for k, v in table.items():
        if k == "required" and may_require:
            if not isinstance(v, bool):
                raise UserError(f"{where}.required = {v!r}: must be true or false")
            continue
        if k in ("abort", "abort_after_s"):
            continue  # checked by _abort
        if k not in allowed:
            raise UserError(f"{where}.{k}: unknown limit; allowed: {', '.join(allowed)}")
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise UserError(f"{where}.{k} = {v!r}: must be a number >= 0")
        out.append((k, float(v)))
    return tuple(out)


def parse_thresholds(data: Mapping[str, Any], source: str = "thresholds") -> list[Limit]:
    """Validate decoded TOML into limits; errors name the table path and the value."""
    known = {"endpoints", "flows", "schedule_lag", "webhooks"}
    extra = set(data) - known
    if extra:
        raise UserError(
            f"{source}: unknown table(s) {sorted(extra)}; allowed: {', '.join(sorted(known))}"
        )
    out: list[Limit] = []
    tables: dict[str, Mapping[str, object]] = {
        "endpoint": METRICS,
        "flow": FLOW_METRICS,
        "webhook": WEBHOOK_METRICS,
    }
    for kind, key in (("endpoint", "endpoints"), ("flow", "flows"), ("webhook", "webhooks")):
        section = data.get(key, {})
        if not isinstance(section, dict):
            raise UserError(f"{source}: [{key}] must be a table of tables")
        allowed = tables[kind]
        for scope, table in section.items():
            where = f"{source}: {key}.{scope!r}"
            limits = _limits(table, where, allowed, may_require=True)
            abort, after = _abort(table, where, kind != "webhook")
            out.append(Limit(kind, scope, limits, bool(table.get("required", False)), abort, after))
    if "schedule_lag" in data:
        where = f"{source}: schedule_lag"
        lag = data["schedule_lag"]
        abort, after = _abort(lag, where, True)
        out.append(
            Limit(
                "schedule_lag",
                "schedule_lag",
                _limits(lag, where, LAG_METRICS, False),
                abort=abort,
                abort_after_s=after,
            )
        )
    return out


def load_thresholds(path: Path) -> list[Limit]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"--thresholds {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"--thresholds {path}: invalid TOML: {exc}") from None
    return parse_thresholds(data, str(path))


@dataclass(frozen=True, slots=True)
class KnownNames:
    """The endpoint and flow names a thresholds file may use: those a trace's calls
    produce plus those of every operation in the registry, so a file written for another
    trace still passes when its names are real (its limits are then skipped)."""

    endpoints: frozenset[str]
    flows: frozenset[str]
    #: Webhook event names: every Onfleet trigger, HyperTrack order value and event an
    #: operation causes, and those the trace's calls expect; any Nash ``"{type}.{event}"``
    #: of a documented type is also accepted (:meth:`knows_webhook`).
    webhooks: frozenset[str] = frozenset()

    @classmethod
    def of(cls, calls: Iterable[TraceCall] = ()) -> KnownNames:
        calls = tuple(calls)
        endpoints = {f"{s.method} {s.path}" for s in OPS.values()}
        endpoints.update(c.name for c in calls)
        flows = {name for s in OPS.values() for name in (s.opens, s.closes) if name}
        hooks = set(ONFLEET_TRIGGER_IDS) | set(HYPERTRACK_ORDER_VALUES)
        hooks.update(e for events in EVENTS_BY_OP.values() for e in events)
        hooks.update(e.event for c in calls for e in c.events)
        return cls(frozenset(endpoints), frozenset(flows), frozenset(hooks))

    def knows_webhook(self, name: str) -> bool:
        kind, dot, _ = name.partition(".")
        return name in self.webhooks or (bool(dot) and kind in NASH_TYPES)


def check_names(limits: Sequence[Limit], known: KnownNames, source: str = "thresholds") -> None:
    """A :class:`UserError` naming every endpoint or flow table that can match nothing,
    each with the closest valid name: such a limit would be skipped on every run and
    gate nothing.  ``"*"`` matches every endpoint."""
    bad = []
    for lim in limits:
        if lim.kind == "schedule_lag" or lim.scope == "*":
            continue
        if lim.kind == "webhook":
            if known.knows_webhook(lim.scope):
                continue
            valid = known.webhooks
        else:
            valid = known.endpoints if lim.kind == "endpoint" else known.flows
        if lim.scope in valid:
            continue
        key = {"endpoint": "endpoints", "flow": "flows", "webhook": "webhooks"}[lim.kind]
        closest = difflib.get_close_matches(lim.scope, sorted(valid), n=1, cutoff=0.0)
        hint = f"; did you mean {closest[0]!r}?" if closest else ""
        what = "webhook event" if lim.kind == "webhook" else lim.kind
        bad.append(f'[{key}."{lim.scope}"] names no {what} of the trace or the registry{hint}')
    if bad:
        raise UserError(f"{source}: " + "; ".join(bad))


@dataclass(frozen=True, slots=True)
class FileCheck:
    """A thresholds file checked against a trace without running it: its limits, and the
    real names the trace does not exercise (their limits will be skipped unless
    required).  ``trace`` is None when checked against the registry alone."""

    path: Path
    trace: Path | None
    limits: tuple[Limit, ...]
    unexercised: tuple[str, ...]

    def lines(self) -> list[str]:
        n = sum(len(lim.limits) for lim in self.limits)
        against = f"the trace {self.trace}" if self.trace else "the operation registry"
        out = [
            f"{self.path}: {n} limits in {len(self.limits)} tables; every name is known to "
            f"{against}"
        ]
        if self.unexercised:
            out.append(
                "not in this trace (skipped unless required = true): " + ", ".join(self.unexercised)
            )
        return out


def check_file(path: Path, trace: Path | None = None) -> FileCheck:
    """``fleetsim thresholds check``: load ``path`` and check its names against the
    trace's calls and the registry (the registry alone without a trace).  Raises
    :class:`UserError` (exit 2) for a bad file or a name that can match nothing."""
    limits = load_thresholds(path)
    calls = read_trace(trace).calls if trace is not None else ()
    check_names(limits, KnownNames.of(calls), str(path))
    unexercised: list[str] = []
    if trace is not None:
        endpoints = {c.name for c in calls}
        flows = {n for c in calls if c.op in OPS for n in (OPS[c.op].opens, OPS[c.op].closes) if n}
        hooks = {e.event for c in calls for e in c.events}
        for lim in limits:
            used = {"endpoint": endpoints, "flow": flows, "webhook": hooks}.get(lim.kind, set())
            if lim.kind != "schedule_lag" and lim.scope != "*" and lim.scope not in used:
                unexercised.append(lim.scope)
    return FileCheck(path, trace, tuple(limits), tuple(unexercised))


def evaluate(
    results: Measured, limits: Sequence[Limit], webhooks: WebhookReport | None = None
) -> list[ThresholdCheck]:
    """One check per (scope, metric).  A scope with no samples is skipped (a trace uses
    one submission mode, so most batch limits have nothing to judge), unless its table
    says ``required = true``: then it fails every limit.  Webhook limits judge
    ``webhooks`` (a run without ``--webhooks`` has none: they are skipped likewise)."""
    checks: list[ThresholdCheck] = []
    duration = results.duration_s
    endpoints = {e.name: e for e in results.endpoints}
    flows = {f.name: f for f in results.flows}
    for lim in limits:
        if lim.kind == "webhook":
            checks += _evaluate_webhook(lim, webhooks)
            continue
        if lim.kind == "schedule_lag":
            for metric, limit in lim.limits:
                actual = LAG_METRICS[metric](results.schedule_lag_ms)
                checks.append(
                    ThresholdCheck("schedule_lag", metric, limit, actual, actual <= limit)
                )
            continue
        table: Mapping[str, EndpointStats | FlowStats] = (
            endpoints if lim.kind == "endpoint" else flows
        )
        scopes = sorted(table) if lim.scope == "*" else [lim.scope]
        for scope in scopes:
            row = table.get(scope)
            for metric, limit in lim.limits:
                m = METRICS[metric]
                if row is None or not m.samples(row):
                    skip = not lim.required
                    checks.append(ThresholdCheck(scope, metric, limit, None, skip, skipped=skip))
                    continue
                if isinstance(row, FlowStats):
                    assert m.flow is not None  # parse_thresholds allows flow metrics only
                    actual = m.flow(row, duration)
                else:
                    actual = m.endpoint(row, duration)
                ok = actual >= limit if m.at_least else actual <= limit
                checks.append(ThresholdCheck(scope, metric, limit, round(actual, 4), ok))
    return checks


def _evaluate_webhook(lim: Limit, report: WebhookReport | None) -> list[ThresholdCheck]:
    """The checks of one ``[webhooks."<event>"]`` table: each row of that event name (one
    per provider that sent it; ``"*"``: every row), as scope ``webhook.<event>``."""
    events = report.events if report is not None else ()
    rows: list[WebhookEventStats | None] = [e for e in events if lim.scope in ("*", e.name)]
    names = [e.name for e in rows if e is not None]
    out = []
    for row in rows or [None]:
        if row is None:
            scope = f"webhook.{lim.scope}"
        else:
            shared = names.count(row.name) > 1
            scope = f"webhook.{row.provider}:{row.name}" if shared else f"webhook.{row.name}"
        for metric, limit in lim.limits:
            m = WEBHOOK_METRICS[metric]
            if row is None or not m.samples(row):
                skip = not lim.required
                out.append(ThresholdCheck(scope, metric, limit, None, skip, skipped=skip))
                continue
            actual = m.read(row)
            out.append(ThresholdCheck(scope, metric, limit, round(actual, 4), actual <= limit))
    return out


def format_table(checks: Sequence[ThresholdCheck]) -> str:
    head = ("scope", "metric", "limit", "actual", "result")
    rows = [
        (
            c.scope,
            c.metric,
            f"{c.limit:g}",
            "no samples" if c.actual is None else f"{c.actual:g}",
            c.result,
        )
        for c in checks
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


#: The JUnit test case that says whether the run's numbers can be trusted.
VALIDITY_CASE = "run validity"
#: The JUnit test case of a run stopped early by an ``abort = true`` threshold.
ABORT_CASE = "run aborted"


def write_junit(
    checks: Sequence[ThresholdCheck],
    path: Path,
    suite: str = "fleetsim.replay",
    validity: Validity | None = None,
    aborted: str = "",
) -> None:
    """A JUnit XML report: one test case per check, a failure element per violation.

    With ``validity``, a first test case ``run validity`` fails when the run is invalid
    (its reasons are the message), so a CI system that reads only JUnit sees red; it
    passes for a valid run."""
    fails = sum(1 for c in checks if not c.passed)
    skips = sum(1 for c in checks if c.skipped)
    tests = len(checks)
    if validity is not None:
        tests += 1
        fails += not validity.valid
    if aborted:
        tests += 1
        fails += 1
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites><testsuite name={quoteattr(suite)} tests="{tests}" '
        f'failures="{fails}" errors="0" skipped="{skips}">',
    ]
    if validity is not None:
        lines.append(f"  <testcase classname={quoteattr(suite)} name={quoteattr(VALIDITY_CASE)}>")
        if not validity.valid:
            msg = quoteattr("run invalid: " + "; ".join(validity.reasons))
            lines.append(f"    <failure message={msg}/>")
        lines.append("  </testcase>")
    if aborted:
        lines.append(f"  <testcase classname={quoteattr(suite)} name={quoteattr(ABORT_CASE)}>")
        lines.append(f"    <failure message={quoteattr('aborted: ' + aborted)}/>")
        lines.append("  </testcase>")
    for c in checks:
        name = quoteattr(f"{c.scope} {c.metric}")
        lines.append(f"  <testcase classname={quoteattr(suite)} name={name}>")
        if c.skipped:
            lines.append('    <skipped message="no samples"/>')
        elif not c.passed:
            actual = "no samples" if c.actual is None else f"{c.actual:g}"
            msg = quoteattr(f"{c.metric} = {actual}, limit {c.limit:g}")
            lines.append(f"    <failure message={msg}/>")
        lines.append("  </testcase>")
    lines.append("</testsuite></testsuites>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
