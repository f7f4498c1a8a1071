"""Expected events and arrivals: the two kinds of webhook rows a replay records.

Concepts held here: :class:`Expected` (one of a trace call's ``events``, a
:class:`~loadtest.trace.format.ExpectedEvent`, once the call succeeded: its subject
resolved to the server id, with the response time of the call), :class:`Arrival` (one
event of one delivery attempt as the receiver saw it) and :func:`expectations` (a
successful call to its expectations).

Both rows are tuples so a process records them with one list append, and they travel to
the master (msgpack) as plain lists; ``Expected(*row)`` and ``Arrival(*row)`` read them
back.  Times are seconds since the replay's shared origin (``t0``), in every process.
"""

from __future__ import annotations

from typing import NamedTuple

from loadtest.replay.wire import IdMap, Unresolved, resolve_value
from loadtest.trace.format import TraceCall

#: The event name of an arrival whose body could not be read.
MALFORMED = "(malformed)"
#: The receiver's path for each provider that sends webhooks.
PATHS = {"onfleet": "/onfleet", "nash": "/nash", "hypertrack": "/hypertrack"}


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
    for i, ev in enumerate(call.events):
        try:
            subject = resolve_value(ev.subject, ids, run_id)
        except Unresolved:
            continue
        out.append(Expected(call.provider, ev.event, str(subject), resp_s, call.at_s, call.id, i))
    return out
