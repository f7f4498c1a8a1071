"""The ``webhooks`` section of ``results.json``: what the receiver measured, per event.

Concepts held here: :class:`WebhookEventStats` (one event name of one provider: expected,
received, missing, duplicated, retries, unexpected, out of order, bad signatures, early
arrivals and delivery latency) and :class:`WebhookReport` (the section: every event's row
and the totals), each with ``to_json`` and a lenient reader that never raises.  The
section exists only in runs made with ``--webhooks``; without it ``results.json`` has no
``webhooks`` key at all, byte for byte what it was before.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from loadtest.replay.lenient import LenientReader


@dataclass(frozen=True, slots=True)
class WebhookEventStats:
    """One event name of one provider over the run.

    ``expected``: events the successful calls should cause; ``received``: expectations
    met by an arrival (its first attempt); ``missing`` = expected − received.
    ``duplicated``: further deliveries (a different delivery id) for an expectation
    already met; ``retries``: further attempts of one delivery (same id: the platform's
    at-least-once retries, not duplicates), over ``retried_deliveries`` deliveries;
    ``unexpected``: deliveries no call expects; ``out_of_order``: events that arrived
    before an event expected earlier on the same subject; ``bad_signatures``: attempts
    whose signature did not verify (never matched).  Latency runs from the answer of the
    causing call to the first arrival; ``early`` events arrived before that answer and
    count as 0 ms."""

    name: str
    provider: str = ""
    expected: int = 0
    received: int = 0
    missing: int = 0
    duplicated: int = 0
    retries: int = 0
    retried_deliveries: int = 0
    unexpected: int = 0
    out_of_order: int = 0
    bad_signatures: int = 0
    early: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def duplicated_ratio(self) -> float:
        """Duplicated deliveries over received events (0 without any received)."""
        return self.duplicated / self.received if self.received else 0.0


_INTS = tuple(f.name for f in fields(WebhookEventStats) if f.type in ("int", int))
_FLOATS = tuple(f.name for f in fields(WebhookEventStats) if f.type in ("float", float))


@dataclass(frozen=True, slots=True)
class WebhookReport:
    """The ``webhooks`` section: one row per (provider, event), sorted, and totals.

    ``arrivals`` counts every event of every attempt the receiver got; ``malformed``
    those whose body could not be read; ``bad_signatures`` every attempt whose signature
    failed (also those not attributable to an event)."""

    events: tuple[WebhookEventStats, ...] = ()
    arrivals: int = 0
    bad_signatures: int = 0
    malformed: int = 0

    def total(self, key: str) -> int:
        """The sum of an integer column over every event."""
        return sum(int(getattr(e, key)) for e in self.events)

    def to_json(self) -> dict[str, Any]:
        return {
            "arrivals": self.arrivals,
            "bad_signatures": self.bad_signatures,
            "malformed": self.malformed,
            "expected": self.total("expected"),
            "received": self.total("received"),
            "missing": self.total("missing"),
            "duplicated": self.total("duplicated"),
            "retries": self.total("retries"),
            "unexpected": self.total("unexpected"),
            "out_of_order": self.total("out_of_order"),
            "events": [e.to_json() for e in self.events],
        }

    @classmethod
    def read(cls, r: LenientReader, value: object, where: str = "webhooks") -> WebhookReport | None:
        """The section from a decoded file (None when absent); odd values become defaults
        and are noted in ``r.problems``.  Totals are recomputed from the rows."""
        if value is None:
            return None
        d = r.obj(value, where)
        if d is None:
            return None
        rows = []
        for i, e in r.objects(d, "events"):
            at = f"{where}.events[{i}]"
            rows.append(
                WebhookEventStats(
                    r.str_(e.get("name", "?"), f"{at}.name"),
                    r.str_(e.get("provider", ""), f"{at}.provider"),
                    *(r.int_(e, k, f"{at}.{k}") for k in _INTS),
                    *(r.float_(e, k, f"{at}.{k}") for k in _FLOATS),
                )
            )
        return cls(
            events=tuple(rows),
            arrivals=r.int_(d, "arrivals", f"{where}.arrivals"),
            bad_signatures=r.int_(d, "bad_signatures", f"{where}.bad_signatures"),
            malformed=r.int_(d, "malformed", f"{where}.malformed"),
        )


def webhook_summary_lines(w: WebhookReport) -> list[str]:
    """The printed summary's webhook section: totals, then one line per event."""
    out = [
        f"webhooks: expected {w.total('expected')}, received {w.total('received')}, "
        f"missing {w.total('missing')}, duplicated {w.total('duplicated')}, unexpected "
        f"{w.total('unexpected')}, retries {w.total('retries')}, out of order "
        f"{w.total('out_of_order')}, bad signatures {w.bad_signatures}, malformed "
        f"{w.malformed}  ({w.arrivals} arrivals)"
    ]
    if not w.events:
        return out
    out.append(
        f"  {'event':<34} {'expected':>8} {'recv':>6} {'miss':>5} {'dup':>4} {'unexp':>5} "
        f"{'retry':>5} {'order':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for e in w.events:
        name = f"{e.provider}:{e.name}"
        out.append(
            f"  {name:<34} {e.expected:>8} {e.received:>6} {e.missing:>5} {e.duplicated:>4} "
            f"{e.unexpected:>5} {e.retries:>5} {e.out_of_order:>5} {e.p50_ms:>8.1f} "
            f"{e.p95_ms:>8.1f} {e.p99_ms:>8.1f} {e.max_ms:>8.1f}"
        )
    return out
