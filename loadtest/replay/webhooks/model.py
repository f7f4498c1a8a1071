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
from loadtest.trace.format import REF_PREFIX, TraceCall

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
    """The expectations of ``call``, which has just succeeded.  A subject this process
    cannot resolve keeps its ``$ref:`` form: with ``--processes N`` another process may
    have created it, and :func:`resolve_subjects` resolves it once every process's refs
    are merged (or drops it: its create never answered)."""
    out = []
    for i, ev in enumerate(call.events):
        try:
            subject = resolve_value(ev.subject, ids, run_id)
        except Unresolved:
            subject = ev.subject
        out.append(Expected(call.provider, ev.event, str(subject), resp_s, call.at_s, call.id, i))
    return out


def resolve_subjects(expected: list[Expected], refs: dict[str, str]) -> list[Expected]:
    """``expected`` with every ``$ref:`` subject left by :func:`expectations` resolved
    through ``refs`` (every process's refs); one still unknown is dropped, like a call's
    own unresolved reference: the object it names was never created."""
    out = []
    for e in expected:
        if e.subject.startswith(REF_PREFIX):
            got = refs.get(e.subject[len(REF_PREFIX) :])
            if got is None:
                continue
            e = e._replace(subject=got)
        out.append(e)
    return out
