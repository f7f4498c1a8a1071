"""Pacing: the client-side rate limiter a real integration runs, applied to the trace.

Real integrations send every call through their SDK's limiter: pyonfleet caps itself at
20 calls/s and node-onfleet spaces calls 50 ms apart (a reservoir of 20).  A trace whose
calls all left at the simulator's instants would offer a platform bursts no client sends
(500 assignments in the same millisecond after a batch) and measure only 429s.  So the
writer moves each call of a rate-limited provider to when that provider's limiter lets it
leave: calls leave in the order they are ready (their simulated time, or later when what
they wait for left later), at least ``1 / rate`` apart
(:class:`sim.submission.ClientLimiter`, the one the simulator's submission model uses).

Concepts held here: :data:`DOCUMENTED_RATES` (the default per provider),
:func:`parse_client_rate` (``--client-rate N|none``), :func:`pacing_rates` and
:func:`pace` (the scheduling over the drafts).  The driver-app calls are not paced: they
stand in for the drivers' phones, which do not share the organisation's budget (the
emulator does not count them either).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from loadtest.providers import nash, onfleet
from sim.errors import UserError
from sim.submission import ClientLimiter

#: Calls per second each provider's official client allows itself (API-NOTES §1.3, §2):
#: Onfleet 20/s (pyonfleet; node-onfleet's 50 ms spacing), Nash 20/s.  Deftship and
#: HyperTrack publish no limit, so their calls are not paced.
DOCUMENTED_RATES: Mapping[str, float] = {
    "onfleet": float(onfleet.RATE_LIMIT_PER_S),
    "nash": float(nash.RATE_LIMIT_PER_S),
}

ClientRate = float | Literal["documented", "none"]
"""``"documented"``: each provider's :data:`DOCUMENTED_RATES`; ``"none"``: no pacing (a
deliberate stress test); a number: that many calls/s for every rate-limited provider."""


def parse_client_rate(text: str) -> ClientRate:
    """``--client-rate``: ``documented`` (default), ``none``, or calls/s > 0."""
    t = text.strip().lower()
    if t in ("documented", "none"):
        return "none" if t == "none" else "documented"
    try:
        rate = float(t)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise UserError(
            f"--client-rate {text!r}: give calls per second (> 0), 'documented' "
            f"(each provider's own limit: {_shown(DOCUMENTED_RATES)}) or 'none'"
        )
    return rate


def _shown(rates: Mapping[str, float]) -> str:
    return ", ".join(f"{p} {r:g}/s" for p, r in sorted(rates.items())) or "none"


def pacing_rates(rate: ClientRate) -> dict[str, float]:
    """Calls/s per paced provider for a ``--client-rate`` choice (empty: no pacing)."""
    if rate == "none":
        return {}
    if rate == "documented":
        return dict(DOCUMENTED_RATES)
    return {p: float(rate) for p in DOCUMENTED_RATES}


class Pacable(Protocol):
    """What :func:`pace` reads and moves (a trace draft)."""

    at_s: float
    provider: str
    deps: list[int]
    after: list[int]
    driver_app: bool


def pace(drafts: Sequence[Pacable], rates: Mapping[str, float]) -> None:
    """Move each draft to when its provider's client limiter lets it leave.

    A draft is ready at its own time, or when the last call it waits for (``deps`` and
    ``after``, always earlier drafts) left, whichever is later; ready drafts leave in
    ready order (ties by draft number), so one call held back by its dependency never
    holds back calls that were ready before it.
    """
    if not rates:
        return
    n = len(drafts)
    limiters = {p: ClientLimiter(r) for p, r in rates.items()}
    waits_for = [sorted({*d.deps, *d.after}) for d in drafts]
    missing = [len(w) for w in waits_for]
    children: list[list[int]] = [[] for _ in range(n)]
    for i, w in enumerate(waits_for):
        for p in w:
            children[p].append(i)
    left = [0.0] * n
    heap = [(d.at_s, i) for i, d in enumerate(drafts) if not missing[i]]
    heapq.heapify(heap)
    done = 0
    while heap:
        ready, i = heapq.heappop(heap)
        done += 1
        d = drafts[i]
        lim = None if d.driver_app else limiters.get(d.provider)
        left[i] = lim.send_at(ready) if lim is not None else ready
        for c in children[i]:
            missing[c] -= 1
            if not missing[c]:
                at = max(drafts[c].at_s, *(left[p] for p in waits_for[c]))
                heapq.heappush(heap, (at, c))
    if done != n:  # a call waiting for a later one: the builder never drafts that
        raise RuntimeError(f"pacing reached {done} of {n} calls: a dependency points forward")
    for i, d in enumerate(drafts):
        d.at_s = left[i]
