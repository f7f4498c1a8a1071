"""``results.json`` as one typed record family (schema in docs/CONTRACTS.md).

Concepts held here: :class:`RunInfo` (what the run was); the parts of the file,
:class:`EndpointStats`, :class:`FlowStats`, :class:`LagStats`, :class:`ThroughputPoint`,
:class:`CallCounts` (the replay's counters, named by :data:`CounterName`),
:class:`Validity` (judged by :func:`loadtest.replay.finalize.validity`: load-generator
saturation, an unreachable target or a failed reconciliation) and
:class:`ThresholdCheck`; :class:`Measurements` (what the samples say, before any
judgement) and :class:`ReplayResults`, the whole file, with
:meth:`~ReplayResults.to_json` (today's bytes, key for key) and a lenient
:meth:`~ReplayResults.from_json` (missing or odd fields read as defaults and are listed in
``problems``; it never raises; the reading itself is :mod:`loadtest.replay.lenient`).
:func:`write_results` and :func:`read_results` (raising :class:`ResultsUnreadable` only for
a file that is not JSON at all) work on the record; the printed summary,
:func:`~loadtest.replay.summary.summary_lines`, is re-exported here.  The reconciliation
record lives with the code that produces it, :class:`loadtest.replay.reconcile.Reconciliation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, astuple, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

from loadtest.replay.histogram import LatencyHistogram
from loadtest.replay.lenient import LenientReader
from loadtest.replay.reconcile import Reconciliation
from loadtest.replay.webhooks.records import WebhookReport
from sim.errors import UserError

RESULTS_VERSION = 1

#: Every counter the replay keeps (``Recorder.count``).  Those in :class:`CallCounts` are
#: written to ``results.json``; ``no_response`` and ``unauthorised`` only explain an
#: invalid run, ``tasks_errored`` is reported per flow, and ``rate_limited`` (attempts
#: answered 429) is shown live and in ``/metrics``.
CounterName = Literal[
    "planned",
    "sent",
    "ok",
    "failed",
    "skipped",
    "retries",
    "checked_before_retry",
    "recovered",
    "exceptions",
    "unresolved",
    "lost_not_resent",
    "workers_reused",
    "ordering_retries",
    "no_response",
    "unauthorised",
    "tasks_errored",
    "attempts",
    "rate_limited",
    "retry_budget_exhausted",
]
COUNTER_NAMES: tuple[CounterName, ...] = get_args(CounterName)


@dataclass(frozen=True, slots=True)
class RunInfo:
    target: str
    speedup: float
    run_id: str
    planned: int
    max_lag_p99_ms: float = 250.0
    processes: int = 1
    #: Whether the run received webhooks (``--webhooks``): the results then carry the
    #: ``webhooks`` section.
    webhooks: bool = False


# Field order is the key order of results.json: ``to_json`` relies on it.


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """One endpoint (``METHOD /path/template``), over its calls and their attempts.

    A *call* is one trace call, however many HTTP attempts (retries, polls) it took;
    ``calls`` were sent and ``failed_calls`` of them failed for good (every attempt the
    replay was allowed did not make the call do what the trace says).  ``count`` is the
    attempts (each one HTTP request, one latency sample): ``errors`` of them failed and
    ended their call, ``retried`` failed and were sent again.  Latencies are exact over
    all attempts, as measured and corrected (from the intended send time); ``histogram``
    holds the measured ones, log-bucketed.  Fields after ``p99_corrected_ms`` came later
    and are appended so that older positional construction still works."""

    name: str
    count: int = 0
    errors: int = 0
    retried: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    p50_corrected_ms: float = 0.0
    p99_corrected_ms: float = 0.0
    calls: int = 0
    failed_calls: int = 0
    mean_ms: float = 0.0
    p90_ms: float = 0.0
    p999_ms: float = 0.0
    p95_corrected_ms: float = 0.0
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)

    def to_json(self) -> dict[str, Any]:
        return _with_histogram(self)

    @property
    def error_ratio(self) -> float:
        """Calls that failed for good over calls (0 without calls)."""
        return self.failed_calls / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class FlowStats:
    """One batch flow (request to tasks available) over its jobs; ``failed`` jobs."""

    name: str
    count: int = 0
    p50_s: float = 0.0
    p95_s: float = 0.0
    p99_s: float = 0.0
    max_s: float = 0.0
    polls_per_job: float = 0.0
    tasks_created: int = 0
    tasks_errored: int = 0
    failed: int = 0
    mean_s: float = 0.0
    p90_s: float = 0.0
    p999_s: float = 0.0
    #: Durations, log-bucketed in microseconds like the endpoints' latencies.
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)

    def to_json(self) -> dict[str, Any]:
        return _with_histogram(self)


def _with_histogram(row: EndpointStats | FlowStats) -> dict[str, Any]:
    out = {f.name: getattr(row, f.name) for f in fields(row)}
    out["histogram"] = row.histogram.to_json()
    return out


@dataclass(frozen=True, slots=True)
class LagStats:
    """How late calls left against their planned send time (the file's keys drop ``_ms``;
    the unit is in the section name, ``schedule_lag_ms``)."""

    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"p50": self.p50_ms, "p99": self.p99_ms, "max": self.max_ms}


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    """Requests and error responses in the whole second starting at ``t_s``, and the
    median and 99th percentile latency of the requests sent in it (None when none was;
    absent from files written before they were recorded)."""

    t_s: int
    rps: float
    errors_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CallCounts:
    """The replay's calls: planned, sent and their outcomes, and the recovery counters.

    A call is one trace call: ``sent`` = ``ok`` + ``failed``.  ``attempts`` counts HTTP
    requests (first sends, retries and polls), so a call retried 3 times adds 4."""

    planned: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    retries: int = 0
    checked_before_retry: int = 0
    recovered: int = 0
    exceptions: int = 0
    unresolved: int = 0
    lost_not_resent: int = 0
    workers_reused: int = 0
    ordering_retries: int = 0
    attempts: int = 0
    #: Retries not sent because the target's retry budget was spent (the call failed).
    retry_budget_exhausted: int = 0

    @classmethod
    def from_counters(cls, planned: int, counters: Mapping[CounterName, int]) -> CallCounts:
        """``planned`` from the plan (every process's share), the rest from the counters."""
        c = counters
        return cls(
            planned=planned,
            sent=c.get("sent", 0),
            ok=c.get("ok", 0),
            failed=c.get("failed", 0),
            skipped=c.get("skipped", 0),
            retries=c.get("retries", 0),
            checked_before_retry=c.get("checked_before_retry", 0),
            recovered=c.get("recovered", 0),
            exceptions=c.get("exceptions", 0),
            unresolved=c.get("unresolved", 0),
            lost_not_resent=c.get("lost_not_resent", 0),
            workers_reused=c.get("workers_reused", 0),
            ordering_retries=c.get("ordering_retries", 0),
            attempts=c.get("attempts", 0),
            retry_budget_exhausted=c.get("retry_budget_exhausted", 0),
        )

    def items(self) -> tuple[tuple[str, int], ...]:
        """Every counter with its value, in file order."""
        return tuple(zip((f.name for f in fields(self)), astuple(self), strict=True))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Validity:
    """Whether the run's numbers can be trusted, and why not."""

    valid: bool = True
    reasons: tuple[str, ...] = ()

    @classmethod
    def of(cls, reasons: list[str]) -> Validity:
        return cls(not reasons, tuple(reasons))


@dataclass(frozen=True, slots=True)
class ThresholdCheck:
    """One (scope, metric) judged against its limit; ``actual`` is None without samples."""

    scope: str
    metric: str
    limit: float
    actual: float | None
    passed: bool
    skipped: bool = False  # no samples, and the limit is not required

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def result(self) -> str:
        return "skipped (no samples)" if self.skipped else "ok" if self.passed else "FAIL"


@dataclass(frozen=True, slots=True)
class Measurements:
    """What the samples say, before any judgement: what thresholds are evaluated over.

    ``duration_s`` is the run's length as ``results.json`` states it (ms resolution);
    endpoint rates were computed from the unrounded length."""

    duration_s: float
    endpoints: tuple[EndpointStats, ...]
    flows: tuple[FlowStats, ...]
    schedule_lag_ms: LagStats
    throughput: tuple[ThroughputPoint, ...]


@dataclass(frozen=True, slots=True)
class ReplayResults:
    """The whole of ``results.json``.

    Every field has a default so that an old or partial file still reads: missing parts
    are zero or empty, and ``problems`` (never written) lists what could not be used."""

    target: str = ""
    validity: Validity = field(default_factory=Validity)
    speedup: float = 0.0
    duration_s: float = 0.0
    run_id: str = ""
    processes: int = 1
    calls: CallCounts = field(default_factory=CallCounts)
    endpoints: tuple[EndpointStats, ...] = ()
    flows: tuple[FlowStats, ...] = ()
    schedule_lag_ms: LagStats = field(default_factory=LagStats)
    throughput: tuple[ThroughputPoint, ...] = ()
    #: None when reconciliation did not run.
    reconciliation: Reconciliation | None = None
    thresholds: tuple[ThresholdCheck, ...] = ()
    cpu_peak_pct: float = 0.0
    version: int = RESULTS_VERSION
    problems: tuple[str, ...] = ()
    #: None for a run without ``--webhooks`` (the file then has no ``webhooks`` key).
    webhooks: WebhookReport | None = None
    #: The highest CPU (%) a replay process held for a whole ``cpu_window_s`` (see
    #: :mod:`loadtest.replay.saturation`); None when not measured (an older file, whose
    #: ``load_generator`` then has only its peak).
    cpu_sustained_pct: float | None = None
    cpu_window_s: float | None = None
    #: Why a threshold with ``abort = true`` stopped the run early ("" when none did; the
    #: file has an ``aborted`` key only when one did).
    aborted: str = ""

    @property
    def valid(self) -> bool:
        return self.validity.valid

    def to_json(self) -> dict[str, Any]:
        """The file's content, key for key as docs/CONTRACTS.md pins it."""
        recon = self.reconciliation
        doc = {
            "version": self.version,
            "target": self.target,
            "valid": self.validity.valid,
            "invalid_reasons": list(self.validity.reasons),
            "speedup": self.speedup,
            "duration_s": self.duration_s,
            "run_id": self.run_id,
            "processes": self.processes,
            "calls": self.calls.to_json(),
            "endpoints": [e.to_json() for e in self.endpoints],
            "flows": [f.to_json() for f in self.flows],
            "schedule_lag_ms": self.schedule_lag_ms.to_json(),
            "throughput": [p.to_json() for p in self.throughput],
            "reconciliation": recon.to_json() if recon is not None else None,
            "thresholds": [c.to_json() for c in self.thresholds],
            "load_generator": self._load_generator(),
        }
        if self.webhooks is not None:
            doc["webhooks"] = self.webhooks.to_json()
        if self.aborted:
            doc["aborted"] = self.aborted
        return doc

    def _load_generator(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cpu_peak_pct": self.cpu_peak_pct}
        if self.cpu_sustained_pct is not None:
            out["cpu_sustained_pct"] = self.cpu_sustained_pct
            out["cpu_window_s"] = self.cpu_window_s
        return out

    @classmethod
    def from_json(cls, doc: object) -> ReplayResults:
        """Read a decoded ``results.json`` leniently: never raises."""
        r = LenientReader()
        top = r.obj(doc, "top level")
        if top is None:
            return cls(problems=tuple(r.problems))
        version = r.int_(top, "version", "version", RESULTS_VERSION)
        if version != RESULTS_VERSION:
            r.problems.append(f"version {version}: this reader knows version {RESULTS_VERSION}")
        reasons = tuple(
            r.str_(x, f"invalid_reasons[{i}]") for i, x in r.list_(top, "invalid_reasons")
        )
        valid = top.get("valid")
        if not isinstance(valid, bool):
            if valid is not None:
                r.problems.append(f"valid: expected true or false, got {valid!r}")
            valid = not reasons  # an older file: the reasons say it
        calls = r.obj(top.get("calls", {}), "calls") or {}
        lag = r.obj(top.get("schedule_lag_ms", {}), "schedule_lag_ms") or {}
        load = r.obj(top.get("load_generator", {}), "load_generator") or {}
        return cls(
            target=r.str_(top.get("target", ""), "target"),
            validity=Validity(valid, reasons),
            speedup=r.float_(top, "speedup", "speedup"),
            duration_s=r.float_(top, "duration_s", "duration_s"),
            run_id=r.str_(top.get("run_id", ""), "run_id"),
            processes=r.int_(top, "processes", "processes", 1),
            calls=CallCounts(
                *(r.int_(calls, f.name, f"calls.{f.name}") for f in fields(CallCounts))
            ),
            endpoints=r.records(top, "endpoints", EndpointStats, _NESTED),
            flows=r.records(top, "flows", FlowStats, _NESTED),
            schedule_lag_ms=LagStats(
                *(r.float_(lag, k, f"schedule_lag_ms.{k}") for k in ("p50", "p99", "max"))
            ),
            throughput=tuple(
                ThroughputPoint(
                    r.int_(p, "t_s", f"throughput[{i}].t_s"),
                    r.float_(p, "rps", f"throughput[{i}].rps"),
                    r.float_(p, "errors_per_s", f"throughput[{i}].errors_per_s"),
                    r.float_or_none(p, "p50_ms", f"throughput[{i}].p50_ms"),
                    r.float_or_none(p, "p99_ms", f"throughput[{i}].p99_ms"),
                )
                for i, p in r.objects(top, "throughput")
            ),
            reconciliation=_reconciliation(r, top.get("reconciliation")),
            thresholds=tuple(
                ThresholdCheck(
                    r.str_(t.get("scope", ""), f"thresholds[{i}].scope"),
                    r.str_(t.get("metric", ""), f"thresholds[{i}].metric"),
                    r.float_(t, "limit", f"thresholds[{i}].limit"),
                    r.float_or_none(t, "actual", f"thresholds[{i}].actual"),
                    t.get("passed") is True,
                    t.get("skipped") is True,
                )
                for i, t in r.objects(top, "thresholds")
            ),
            cpu_peak_pct=r.float_(load, "cpu_peak_pct", "load_generator.cpu_peak_pct"),
            version=version,
            webhooks=WebhookReport.read(r, top.get("webhooks")),
            cpu_sustained_pct=r.float_or_none(
                load, "cpu_sustained_pct", "load_generator.cpu_sustained_pct"
            ),
            cpu_window_s=r.float_or_none(load, "cpu_window_s", "load_generator.cpu_window_s"),
            aborted=r.str_(top.get("aborted", ""), "aborted"),
            problems=tuple(r.problems),
        )


_NESTED = {"histogram": LatencyHistogram.read}


def write_results(results: ReplayResults, out_dir: Path) -> Path:
    """Write ``out_dir/results.json`` atomically (a reader never sees half a file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(results.to_json(), option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    return path


class ResultsUnreadable(UserError):
    """``results.json`` cannot be read at all (missing, unreadable, or not JSON)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: cannot read ({reason})")
        self.path = path
        self.reason = reason


def read_results(path: Path) -> ReplayResults:
    """The results at ``path``, read leniently (see :meth:`ReplayResults.from_json`); a file
    that cannot be read or is not JSON raises :class:`ResultsUnreadable`."""
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ResultsUnreadable(path, exc.strerror or str(exc)) from None
    except orjson.JSONDecodeError as exc:
        raise ResultsUnreadable(path, str(exc)) from None
    return ReplayResults.from_json(doc)


def _reconciliation(r: LenientReader, value: object) -> Reconciliation | None:
    if value is None:
        return None
    d = r.obj(value, "reconciliation")
    if d is None:
        return None

    def maybe(key: str) -> int | None:  # None: unknown (reconciliation could not run)
        return r.int_(d, key, f"reconciliation.{key}") if d.get(key) is not None else None

    return Reconciliation(
        expected=r.int_(d, "expected", "reconciliation.expected"),
        created=maybe("created"),
        missing=maybe("missing"),
        duplicated=maybe("duplicated"),
        listed=r.int_(d, "listed", "reconciliation.listed"),
        error=r.str_(d.get("error", ""), "reconciliation.error"),
        copies=tuple(str(x) for x in d.get("copies") or () if isinstance(x, str)),
    )


# The printed summary lives beside the record; imported last (it reads the record).
from loadtest.replay.summary import summary_lines  # noqa: E402

__all__ = [
    "COUNTER_NAMES",
    "CallCounts",
    "CounterName",
    "EndpointStats",
    "FlowStats",
    "LagStats",
    "Measurements",
    "ReplayResults",
    "ResultsUnreadable",
    "RunInfo",
    "ThresholdCheck",
    "ThroughputPoint",
    "Validity",
    "read_results",
    "summary_lines",
    "write_results",
]
