"""The trace: one simulated day as the API calls a platform client would make.

Concepts held here: the versioned trace header, the trace call record, dumping them to
``trace.jsonl`` and reading the file back with validation (:func:`read_trace`).  Turning
simulator tables into calls (and :func:`~loadtest.trace.onfleet.write_trace`) lives in
:mod:`loadtest.trace.onfleet`; the format is documented in ``loadtest/TRACE.md``.

Each call whose success causes webhooks carries them as :class:`ExpectedEvent` records
(predicted by :mod:`loadtest.trace.expect`); the header totals them per provider.

Placeholders inside bodies and path parameters are strings resolved at send time:
``"$ref:task:12"`` is the server id of simulator task 12 (also ``worker:N``, ``team:N``,
``job:N`` for an async batch job of submission N), and ``"$run"`` is the replay's run id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loadtest.providers.webhooks import HYPERTRACK_ORDER_VALUES, NASH_TYPES, ONFLEET_TRIGGER_IDS
from sim.errors import UserError

#: Bump when a reader of the old format would misread the new one.
TRACE_FORMAT = "fleetsim-trace"
TRACE_VERSION = 1

JsonValue = Any
"""A decoded JSON value (the trace carries request bodies verbatim)."""

#: Simulated seconds between async batch status polls when a trace does not say
#: (traces written before the header recorded ``poll_s``).
DEFAULT_POLL_S = 2.0

REF_PREFIX = "$ref:"
RUN_PLACEHOLDER = "$run"


@dataclass(frozen=True, slots=True)
class ExpectedEvent:
    """A webhook a call's success causes: its ``event`` name (an Onfleet trigger name, a
    Nash ``"{type}.{event}"``, a HyperTrack order value) and its ``subject``, a placeholder
    string resolved like path parameters to the server id the event is about
    (``"$ref:task:97"``, ``"$ref:worker:14"``, ``"$ref:job:7"``, ``"$ref:nashjob:4"``, or a
    HyperTrack order handle with ``$run`` inside)."""

    event: str
    subject: str


#: Expected webhook counts: provider -> event name -> count (the header's ``events``).
EventCounts = dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """First line of a trace: where it came from and what is in it."""

    scenario: str
    seed: int
    start_epoch_ms: int
    duration_s: float
    providers: tuple[str, ...]
    submission_mode: str
    counts: dict[str, int]
    scenario_hash: str = ""
    version: int = TRACE_VERSION
    #: The writer's async batch poll interval (simulated seconds), so a rewrite of the
    #: trace from the run's tables can use the same one.
    poll_s: float = DEFAULT_POLL_S
    #: Expected webhooks of the whole trace, per provider and event (empty: none).
    events: EventCounts = field(default_factory=dict)
    #: The client-side limit the writer paced each provider's calls to (calls/s per
    #: provider, loadtest.trace.pacing); empty: not paced.
    pacing: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TraceCall:
    """One API call of the day.

    ``at_s`` is the scheduled offset from the trace start in simulated seconds (a replay
    divides it by its speedup).  ``path`` is the template that also names the request in
    every report; ``params`` maps each ``{name}`` in it to a reference.  ``deps`` are earlier
    calls that must have finished first (same dependency family); ``after`` are calls that
    create objects this call refers to (possibly another family: a replay split over
    processes resolves those references on the target instead of waiting).  ``defines``
    is the reference whose server id this call's response gives (``worker:3``, ``job:7``);
    batch calls map their tasks through the ``fleetsim_task`` metadata instead.
    ``events``: the webhooks the call's success causes, in firing order.
    """

    id: int
    at_s: float
    provider: str
    op: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: JsonValue = None
    tasks: tuple[int, ...] = ()
    worker: int = -1
    deps: tuple[int, ...] = ()
    after: tuple[int, ...] = ()
    family: int = 0
    poll_s: float = 0.0
    defines: str = ""
    events: tuple[ExpectedEvent, ...] = ()

    @property
    def name(self) -> str:
        """The stable request name used in Locust and in results: ``METHOD template``."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Trace:
    """A header and its calls, sorted by ``(at_s, id)``."""

    header: TraceHeader
    calls: tuple[TraceCall, ...]


def header_to_json(h: TraceHeader) -> dict[str, JsonValue]:
    return {
        "format": TRACE_FORMAT,
        "version": h.version,
        "scenario": h.scenario,
        "scenario_hash": h.scenario_hash,
        "seed": h.seed,
        "start_epoch_ms": h.start_epoch_ms,
        "duration_s": h.duration_s,
        "providers": list(h.providers),
        "submission_mode": h.submission_mode,
        "counts": h.counts,
        "poll_s": h.poll_s,
        **({"events": h.events} if h.events else {}),
        **({"pacing": dict(h.pacing)} if h.pacing else {}),
    }


def call_to_json(c: TraceCall) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {
        "id": c.id,
        "at_s": round(c.at_s, 6),
        "provider": c.provider,
        "op": c.op,
        "method": c.method,
        "path": c.path,
    }
    if c.params:
        out["params"] = c.params
    if c.body is not None:
        out["body"] = c.body
    if c.tasks:
        out["tasks"] = list(c.tasks)
    if c.worker >= 0:
        out["worker"] = c.worker
    out["deps"] = list(c.deps)
    if c.after:
        out["after"] = list(c.after)
    out["family"] = c.family
    if c.poll_s:
        out["poll_s"] = c.poll_s
    if c.defines:
        out["defines"] = c.defines
    if c.events:
        out["events"] = [{"event": e.event, "subject": e.subject} for e in c.events]
    return out


def dump_trace(header: TraceHeader, calls: Iterable[TraceCall], path: Path) -> None:
    """Write a trace file (header line, then one call per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        f.write(orjson.dumps(header_to_json(header)) + b"\n")
        for c in calls:
            f.write(orjson.dumps(call_to_json(c)) + b"\n")
    # Rename last so a half-written trace never looks finished.
    tmp.replace(path)


# --- reading -------------------------------------------------------------------------------


def _need(obj: dict[str, JsonValue], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise UserError(f"{where}: missing field {key!r}")
    val = obj[key]
    if not isinstance(val, kind) or (kind is int and isinstance(val, bool)):
        raise UserError(f"{where}: field {key!r} = {val!r} has the wrong type")
    return val


def _ints(obj: dict[str, JsonValue], key: str, where: str) -> tuple[int, ...]:
    val = obj.get(key, [])
    if not isinstance(val, list) or not all(isinstance(x, int) for x in val):
        raise UserError(f"{where}: field {key!r} must be a list of integers, got {val!r}")
    return tuple(val)


def parse_header(obj: JsonValue, where: str) -> TraceHeader:
    if not isinstance(obj, dict) or obj.get("format") != TRACE_FORMAT:
        raise UserError(f"{where}: not a fleetsim trace (first line must be the header)")
    version = _need(obj, "version", int, where)
    if version != TRACE_VERSION:
        raise UserError(
            f"{where}: trace version {version} is not supported (this fleetsim reads "
            f"version {TRACE_VERSION}); re-run `fleetsim simulate` to rewrite it"
        )
    counts = obj.get("counts", {})
    if not isinstance(counts, dict):
        raise UserError(f"{where}: field 'counts' must be an object")
    return TraceHeader(
        scenario=_need(obj, "scenario", str, where),
        seed=_need(obj, "seed", int, where),
        start_epoch_ms=_need(obj, "start_epoch_ms", int, where),
        duration_s=float(_need(obj, "duration_s", (int, float), where)),
        providers=tuple(_need(obj, "providers", list, where)),
        submission_mode=str(obj.get("submission_mode", "")),
        counts={str(k): int(v) for k, v in counts.items()},
        scenario_hash=str(obj.get("scenario_hash", "")),
        version=version,
        poll_s=_poll_s(obj.get("poll_s", DEFAULT_POLL_S), where),
        events=_event_counts(obj.get("events", {}), where),
        pacing=_pacing(obj.get("pacing", {}), where),
    )


def _pacing(val: JsonValue, where: str) -> dict[str, float]:
    """The header's ``pacing``: ``{provider: calls/s > 0}`` (absent: not paced)."""
    ok = isinstance(val, dict) and all(
        isinstance(r, int | float) and not isinstance(r, bool) and r > 0 for r in val.values()
    )
    if not ok or not isinstance(val, dict):
        raise UserError(f"{where}: field 'pacing' = {val!r} must map providers to calls/s > 0")
    return {str(p): float(r) for p, r in val.items() if isinstance(r, int | float)}


def _event_counts(val: JsonValue, where: str) -> EventCounts:
    """The header's ``events``: ``{provider: {event: count}}`` (absent in older traces)."""
    ok = isinstance(val, dict) and all(
        isinstance(per, dict)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in per.values())
        for per in val.values()
    )
    if not ok:
        raise UserError(
            f"{where}: field 'events' = {val!r} must map providers to {{event name: count >= 0}}"
        )
    return {str(p): {str(e): int(n) for e, n in per.items()} for p, per in val.items()}


def _poll_s(val: JsonValue, where: str) -> float:
    """The header's ``poll_s`` (absent in older traces: the old default)."""
    if isinstance(val, bool) or not isinstance(val, int | float) or not val > 0:
        raise UserError(f"{where}: field 'poll_s' = {val!r} must be a positive number")
    return float(val)


def parse_call(obj: JsonValue, where: str) -> TraceCall:
    if not isinstance(obj, dict):
        raise UserError(f"{where}: a call must be a JSON object")
    params = obj.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise UserError(f"{where}: field 'params' must map names to reference strings")
    method = _need(obj, "method", str, where)
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        raise UserError(f"{where}: method {method!r} is not an HTTP method")
    at_s = float(_need(obj, "at_s", (int, float), where))
    if at_s < 0:
        raise UserError(f"{where}: at_s = {at_s} must be >= 0")
    return TraceCall(
        id=_need(obj, "id", int, where),
        at_s=at_s,
        provider=_need(obj, "provider", str, where),
        op=_need(obj, "op", str, where),
        method=method,
        path=_need(obj, "path", str, where),
        params=dict(params),
        body=obj.get("body"),
        tasks=_ints(obj, "tasks", where),
        worker=int(obj.get("worker", -1)),
        deps=_ints(obj, "deps", where),
        after=_ints(obj, "after", where),
        family=int(obj.get("family", 0)),
        poll_s=float(obj.get("poll_s", 0.0)),
        defines=str(obj.get("defines", "")),
        events=parse_events(obj.get("events", []), str(obj.get("provider", "")), where),
    )


def known_event(provider: str, name: str) -> bool:
    """Whether ``provider`` sends webhooks named ``name`` (Deftship sends none)."""
    if provider == "onfleet":
        return name in ONFLEET_TRIGGER_IDS
    if provider == "nash":
        kind, _, event = name.partition(".")
        return kind in NASH_TYPES and bool(event)
    if provider == "hypertrack":
        return name in HYPERTRACK_ORDER_VALUES
    return False


def parse_events(val: JsonValue, provider: str, where: str) -> tuple[ExpectedEvent, ...]:
    """A call's ``events``: a list of ``{"event", "subject"}`` with an event name the
    call's provider sends (:func:`known_event`)."""
    if not isinstance(val, list):
        raise UserError(f"{where}: field 'events' must be a list, got {val!r}")
    out = []
    for i, e in enumerate(val):
        if (
            not isinstance(e, dict)
            or set(e) != {"event", "subject"}
            or not isinstance(e["event"], str)
            or not isinstance(e["subject"], str)
            or not e["subject"]
        ):
            raise UserError(
                f"{where}: events[{i}] = {e!r} must be "
                '{"event": NAME, "subject": "$ref:KIND:N" or a handle}'
            )
        if not known_event(provider, e["event"]):
            raise UserError(
                f"{where}: events[{i}]: {e['event']!r} is not a webhook event of "
                f"provider {provider!r}"
            )
        out.append(ExpectedEvent(e["event"], e["subject"]))
    return tuple(out)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as f:
            for no, line in enumerate(f, start=1):
                if line.strip():
                    yield no, line
    except OSError as exc:
        raise UserError(f"cannot read trace {path}: {exc.strerror}") from None


def read_trace(path: Path) -> Trace:
    """Read and validate a trace; every error names the file and line."""
    if path.is_dir():
        path = path / "trace.jsonl"
    header: TraceHeader | None = None
    calls: list[TraceCall] = []
    seen: set[int] = set()
    for no, line in _lines(path):
        where = f"{path}:{no}"
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise UserError(f"{where}: invalid JSON ({exc})") from None
        if header is None:
            header = parse_header(obj, where)
            continue
        call = parse_call(obj, where)
        if call.id in seen:
            raise UserError(f"{where}: duplicate call id {call.id}")
        missing = [d for d in (*call.deps, *call.after) if d not in seen]
        if missing:
            raise UserError(
                f"{where}: call {call.id} depends on {missing}, which are not earlier lines"
            )
        seen.add(call.id)
        calls.append(call)
    if header is None:
        raise UserError(f"{path}: empty trace (expected a header line)")
    calls.sort(key=lambda c: (c.at_s, c.id))
    return Trace(header=header, calls=tuple(calls))


def iter_refs(value: JsonValue) -> Iterator[str]:
    """Every ``$ref:`` placeholder inside a JSON value."""
    if isinstance(value, str):
        if value.startswith(REF_PREFIX):
            yield value[len(REF_PREFIX) :]
    elif isinstance(value, list):
        for v in value:
            yield from iter_refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_refs(v)


def by_id(calls: Sequence[TraceCall]) -> dict[int, TraceCall]:
    return {c.id: c for c in calls}
