"""A delivery and what makes one: :class:`Delivery` (one event on its way to one
endpoint, and its ``webhook-delivery`` row), :class:`DeliveryIds` (ids unique across
restarts) and :func:`parse_endpoint_flag` (``--webhook provider=URL``)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from loadtest.emulator.webhooks.guard import Refused, parse_url
from loadtest.emulator.webhooks.registry import Endpoint
from loadtest.providers.webhooks import PROVIDERS, Provider


class DeliveryIds:
    """Stable delivery ids, unique across restarts: a random 80-bit prefix drawn once per
    process, then a 48-bit counter (a uuid4 per delivery cost ~8 µs; this ~0.5 µs).  Svix's
    ``msg_…`` for Nash; UUID-shaped (SNS message ids are UUIDs) for HyperTrack and
    Onfleet."""

    def __init__(self) -> None:
        p = uuid.uuid4().hex[:20]
        self._prefix = p
        # The UUID shape's first four groups are the prefix's, the last the counter.
        self._uuid_prefix = f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-"
        self._seq = itertools.count(1)

    def new(self, provider: Provider) -> str:
        if provider == "nash":
            return f"msg_{self._prefix}{next(self._seq):012x}"
        return f"{self._uuid_prefix}{next(self._seq):012x}"


@dataclass(slots=True)
class Delivery:
    """One event on its way to one endpoint.  ``attempts``: failed attempts so far."""

    id: str
    endpoint: Endpoint
    name: str
    subject: str
    body: bytes
    emitted: float  # epoch seconds of the emitting commit
    attempts: int = 0
    headers: dict[str, str] | None = field(default=None, repr=False)

    def record(self, state: str) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": self.id,
            "endpoint": self.endpoint.id,
            "provider": self.endpoint.provider,
            "name": self.name,
            "subject": self.subject,
            "emitted": self.emitted,
            "attempts": self.attempts,
            "state": state,
        }
        if state != "delivered":  # a failed row keeps its body, for inspection
            rec["body"] = self.body.decode()
        return rec


def gone_endpoint(rec: dict[str, Any]) -> Endpoint:
    """A stand-in for the endpoint of a resumed row whose endpoint no longer exists."""
    provider: Provider = next((p for p in PROVIDERS if p == rec.get("provider")), "onfleet")
    return Endpoint(str(rec["endpoint"]), provider, "", None)


def parse_endpoint_flag(spec: str) -> tuple[Provider, str]:
    """``provider=URL`` (``--webhook``) as ``(provider, url)``; :class:`Refused` names
    the problem (the URL is checked by :func:`~loadtest.emulator.webhooks.guard.parse_url`;
    the loopback check is :func:`~loadtest.emulator.webhooks.guard.check_sync`)."""
    provider, sep, url = spec.partition("=")
    provider = provider.strip().lower()
    if not sep or provider not in PROVIDERS:
        raise Refused(
            f"--webhook {spec!r}: give provider=URL with provider one of "
            f"{', '.join(PROVIDERS)} (e.g. onfleet=http://127.0.0.1:9000/hook)"
        )
    parse_url(url)
    for p in PROVIDERS:
        if p == provider:
            return p, url.strip()
    raise AssertionError(provider)
