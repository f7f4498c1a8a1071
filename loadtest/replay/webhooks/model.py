"""Expected events and arrivals: the two kinds of webhook rows a replay records.

Concepts held here: :class:`ExpectedEvent` (an event a trace call says it causes, its
subject still a placeholder), :func:`call_events` (read from a call defensively: the
trace's ``events`` field, a tuple of records or a raw list of objects), :class:`Expected`
(an expectation once its call succeeded: subject resolved to the server id, with the
response time of the call), :class:`Arrival` (one event of one delivery attempt as the
receiver saw it) and :func:`expectations` (a successful call to its expectations).

Both rows are tuples so a process records them with one list append, and they travel to
the master (msgpack) as plain lists; ``Expected(*row)`` and ``Arrival(*row)`` read them
back.  Times are seconds since the replay's shared origin (``t0``), in every process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from loadtest.replay.wire import IdMap, Unresolved, resolve_value
from loadtest.trace.format import TraceCall

#: The event name of an arrival whose body could not be read.
MALFORMED = "(malformed)"
#: The receiver's path for each provider that sends webhooks.
PATHS = {"onfleet": "/onfleet", "nash": "/nash", "hypertrack": "/hypertrack"}


@dataclass(frozen=True, slots=True)
class ExpectedEvent:
    """``{"event": NAME, "subject": SUBJECT}`` of a trace call: NAME is an Onfleet trigger
    name, a Nash ``"{type}.{event}"`` or a HyperTrack order value; SUBJECT a placeholder
    (``"$ref:task:97"``) resolved at send time to the server id the event is about."""

    event: str
    subject: str


def call_events(call: TraceCall) -> tuple[ExpectedEvent, ...]:
    """The events ``call`` causes, read whatever form the trace's ``events`` field takes
    (records with ``event``/``subject`` attributes, or mappings with those keys).
    Entries without both as strings are ignored; a call without the field causes none."""
    raw: Any = getattr(call, "events", ())
    if not isinstance(raw, Iterable) or isinstance(raw, str | bytes | Mapping):
        return ()
    out = []
    for item in raw:
        if isinstance(item, Mapping):
            event, subject = item.get("event"), item.get("subject")
        else:
            event, subject = getattr(item, "event", None), getattr(item, "subject", None)
        if isinstance(event, str) and isinstance(subject, str) and event:
            out.append(ExpectedEvent(event, subject))
    return tuple(out)


class Expected(NamedTuple):
    """An event a successful call caused: expected on ``(provider, event, subject)``.

    ``resp_s`` is when the call's answer came back (delivery latency is measured from
    it); ``at_s``, ``call_id`` and ``pos`` (its place in the call's list) order the
    events of one subject as the simulated day did."""

    provider: str
    event: str
    subject: str
    resp_s: float
    at_s: float
    call_id: int
    pos: int


class Arrival(NamedTuple):
    """One event of one delivery attempt as the receiver saw it.

    ``delivery_id`` is the provider's stable id (a retry carries the same one);
    ``sig_ok`` whether the signature verified; ``status`` what the receiver answered
    (a failure it was told to inject, or 401 for a bad signature)."""

    t_s: float
    provider: str
    event: str
    subject: str
    delivery_id: str
    sig_ok: bool
    status: int


def expectations(call: TraceCall, ids: IdMap, run_id: str, resp_s: float) -> list[Expected]:
    """The expectations of ``call``, which has just succeeded; an event whose subject
    cannot be resolved (its create never answered) is dropped, like the call's own
    unresolved references."""
    out = []
    for i, ev in enumerate(call_events(call)):
        try:
            subject = resolve_value(ev.subject, ids, run_id)
        except Unresolved:
            continue
        out.append(Expected(call.provider, ev.event, str(subject), resp_s, call.at_s, call.id, i))
    return out
