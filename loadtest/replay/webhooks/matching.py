"""Matching what arrived against what the replayed calls expected: a pure function.

Concepts held here: :func:`match` (expectations and arrivals to a
:class:`~loadtest.replay.webhooks.records.WebhookReport`) and :func:`missing` (how many
expectations no arrival has met yet: what the grace wait after the last call watches).

The rules, in arrival order:

* an attempt whose signature failed is counted in ``bad_signatures`` and nothing else:
  its content cannot be trusted;
* an attempt with a delivery id already seen for the same event and subject is a
  *retry* (at-least-once delivery), counted apart from duplicates;
* a delivery is *received* at its first attempt that the receiver accepted (an answer
  the provider counts as delivered: 2xx, or for HyperTrack also 4xx): an attempt the
  receiver refused (``--webhook-fail-ratio``) meets nothing, so an event whose every
  attempt was refused stays *missing*, and its latency runs to the accepted attempt;
* a received delivery meets the oldest unmet expectation of its key ``(provider, event,
  subject)``, in call order; latency is arrival − the answer of the causing call, and an
  event that arrived before that answer is counted ``early`` and clamped to 0 ms;
* a received delivery for a key whose expectations are all met is *duplicated*; one for
  a key with no expectation at all is *unexpected* (as is a never-accepted delivery for
  such a key: the platform still sent it);
* per subject, an event that arrived before an event expected earlier on the same
  subject (e.g. taskCompleted before taskStarted) is *out of order*.

Calls that failed or were skipped never recorded expectations (their events never
happened), so their events, if the target sends them anyway, are unexpected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from loadtest.providers.webhooks import PROVIDERS, delivered
from loadtest.replay.histogram import nearest_rank
from loadtest.replay.webhooks.model import MALFORMED, Arrival, Expected
from loadtest.replay.webhooks.records import WebhookEventStats, WebhookReport

Key = tuple[str, str, str]  # provider, event, subject


@dataclass(slots=True)
class _Tally:
    expected: int = 0
    received: int = 0
    duplicated: int = 0
    retries: int = 0
    retried_deliveries: int = 0
    unexpected: int = 0
    out_of_order: int = 0
    bad_signatures: int = 0
    early: int = 0
    latency_ms: list[float] = field(default_factory=list)


def _pct(sorted_ms: np.ndarray, q: float) -> float:
    n = len(sorted_ms)
    return round(float(sorted_ms[nearest_rank(q, n) - 1]), 3) if n else 0.0


def _accepted(a: Arrival) -> bool:
    """Whether the receiver's answer to this attempt counts as delivered for its provider
    (``providers.webhooks.delivered``); an unknown provider needs a 2xx."""
    if a.provider in PROVIDERS:
        return delivered(a.provider, a.status) is True
    return 200 <= a.status < 300


def _pending(expected: Iterable[Expected]) -> dict[Key, deque[Expected]]:
    by_key: dict[Key, list[Expected]] = {}
    for e in expected:
        by_key.setdefault((e.provider, e.event, e.subject), []).append(e)
    return {
        k: deque(sorted(v, key=lambda e: (e.at_s, e.call_id, e.pos))) for k, v in by_key.items()
    }


def match(expected: Sequence[Expected], arrivals: Sequence[Arrival]) -> WebhookReport:
    """The ``webhooks`` section of a run; see the module docstring for the rules."""
    tallies: dict[tuple[str, str], _Tally] = {}

    def tally(provider: str, event: str) -> _Tally:
        t = tallies.get((provider, event))
        if t is None:
            t = tallies[(provider, event)] = _Tally()
        return t

    for e in expected:
        tally(e.provider, e.event).expected += 1
    pending = _pending(expected)
    attempts: dict[tuple[str, str, str, str], int] = {}
    # Per (provider, subject): the met expectations' (order, arrival time, event).
    met: dict[tuple[str, str], list[tuple[tuple[float, int, int], float, str]]] = {}
    bad = malformed = 0
    refused: dict[tuple[str, str, str, str], Arrival] = {}  # deliveries not yet accepted
    for a in sorted(arrivals, key=lambda a: a.t_s):
        if a.event == MALFORMED:
            malformed += 1
        if not a.sig_ok:
            bad += 1
            if a.event != MALFORMED:
                tally(a.provider, a.event).bad_signatures += 1
            continue
        if a.event == MALFORMED:
            continue
        t = tally(a.provider, a.event)
        accepted = _accepted(a)
        dk = (a.provider, a.delivery_id, a.event, a.subject)
        if a.delivery_id:
            seen = attempts.get(dk, 0)
            attempts[dk] = seen + 1
            if seen:
                t.retries += 1
                t.retried_deliveries += seen == 1
                if not (accepted and dk in refused):
                    continue  # a repeat of an accepted delivery, or refused again
        if not accepted:
            refused[dk] = a
            continue
        refused.pop(dk, None)
        queue = pending.get((a.provider, a.event, a.subject))
        if queue:
            e = queue.popleft()
            t.received += 1
            latency_ms = (a.t_s - e.resp_s) * 1000.0
            if latency_ms < 0:
                t.early += 1
                latency_ms = 0.0
            t.latency_ms.append(latency_ms)
            order = (e.at_s, e.call_id, e.pos)
            met.setdefault((a.provider, a.subject), []).append((order, a.t_s, a.event))
        elif queue is not None:
            t.duplicated += 1
        else:
            t.unexpected += 1
    for a in refused.values():  # never accepted: an expected one stays missing
        if (a.provider, a.event, a.subject) not in pending:
            tally(a.provider, a.event).unexpected += 1
    for (provider, _), rows in met.items():
        latest = float("-inf")
        for _, t_s, event in sorted(rows):
            if t_s < latest:
                tally(provider, event).out_of_order += 1
            latest = max(latest, t_s)
    rows_out = []
    for (provider, event), t in sorted(tallies.items()):
        ms = np.sort(np.asarray(t.latency_ms, dtype=float))
        rows_out.append(
            WebhookEventStats(
                name=event,
                provider=provider,
                expected=t.expected,
                received=t.received,
                missing=t.expected - t.received,
                duplicated=t.duplicated,
                retries=t.retries,
                retried_deliveries=t.retried_deliveries,
                unexpected=t.unexpected,
                out_of_order=t.out_of_order,
                bad_signatures=t.bad_signatures,
                early=t.early,
                p50_ms=_pct(ms, 50),
                p95_ms=_pct(ms, 95),
                p99_ms=_pct(ms, 99),
                max_ms=round(float(ms[-1]), 3) if len(ms) else 0.0,
            )
        )
    return WebhookReport(tuple(rows_out), len(arrivals), bad, malformed)


def missing(expected: Sequence[Expected], arrivals: Sequence[Arrival]) -> int:
    """Expectations that no verified arrival has met yet (cheaper than :func:`match`)."""
    need: dict[Key, int] = {}
    for e in expected:
        k = (e.provider, e.event, e.subject)
        need[k] = need.get(k, 0) + 1
    seen: set[tuple[str, str, str, str]] = set()
    for a in arrivals:
        if not a.sig_ok or not _accepted(a):
            continue
        if a.delivery_id:
            dk = (a.provider, a.delivery_id, a.event, a.subject)
            if dk in seen:
                continue
            seen.add(dk)
        k = (a.provider, a.event, a.subject)
        n = need.get(k, 0)
        if n:
            need[k] = n - 1
    return sum(need.values())
