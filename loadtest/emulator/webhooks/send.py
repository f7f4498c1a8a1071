"""One delivery attempt on the wire: the provider's headers and signature, the POST, and
what the answer means.

* Onfleet: ``X-Onfleet-Signature`` (hex HMAC-SHA512 of the raw body) and
  ``X-Fleetsim-Delivery-Id`` [inf], both the same on every retry.
* Nash: Svix, signed by the ``svix`` library itself (``svix-id`` is the delivery's
  ``msg_…`` id; ``svix-timestamp`` is the attempt's time, so each retry is signed anew,
  as Svix does).
* HyperTrack: ``x-hypertrack-signature`` (hex HMAC-SHA256) and ``x-amz-sns-message-id``.

The body is serialised once, when the event is committed; every attempt sends the same
bytes.  :func:`attempt` returns an :class:`Outcome`; it never raises for anything the
network or the receiver does.
"""

from __future__ import annotations

import enum
import logging
from datetime import UTC, datetime

import httpx
from svix.webhooks import Webhook

from loadtest.emulator.webhooks.guard import Guard, Refused
from loadtest.providers.webhooks import (
    HYPERTRACK_DELIVERY_ID_HEADER,
    HYPERTRACK_SIGNATURE_HEADER,
    ONFLEET_DELIVERY_ID_HEADER,
    ONFLEET_SIGNATURE_HEADER,
    Provider,
    delivered,
    hypertrack_signature,
    nash_signing_secret,
    onfleet_signature,
)

log = logging.getLogger("fleetsim.emulator.webhooks")
_JSON = "application/json"


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # a non-2xx the provider retries, a timeout, a refused connection
    GIVE_UP = "give_up"  # an answer the provider does not retry and does not count
    REFUSED = "refused"  # the guard refused the URL (no longer loopback)


class Signer:
    """Headers for a delivery, keyed by the organisation's webhook secret."""

    def __init__(self, secret_hex: str) -> None:
        self._secret = secret_hex
        self._svix = Webhook(nash_signing_secret(secret_hex))

    def static_headers(self, provider: Provider, delivery_id: str, body: bytes) -> dict[str, str]:
        """The headers that stay the same on every attempt (computed once per delivery)."""
        if provider == "onfleet":
            return {
                "Content-Type": _JSON,
                ONFLEET_SIGNATURE_HEADER: onfleet_signature(self._secret, body),
                ONFLEET_DELIVERY_ID_HEADER: delivery_id,
            }
        if provider == "hypertrack":
            return {
                "Content-Type": _JSON,
                HYPERTRACK_SIGNATURE_HEADER: hypertrack_signature(self._secret, body),
                HYPERTRACK_DELIVERY_ID_HEADER: delivery_id,
            }
        return {"Content-Type": _JSON, "svix-id": delivery_id}

    def attempt_headers(
        self, provider: Provider, static: dict[str, str], delivery_id: str, body: bytes
    ) -> dict[str, str]:
        """The headers of one attempt (Nash: signed with this attempt's timestamp)."""
        if provider != "nash":
            return static
        now = datetime.now(tz=UTC)
        signature = self._svix.sign(delivery_id, now, body.decode())
        return {**static, "svix-timestamp": str(int(now.timestamp())), "svix-signature": signature}


async def attempt(
    client: httpx.AsyncClient,
    guard: Guard,
    provider: Provider,
    url: httpx.URL,
    headers: dict[str, str],
    body: bytes,
    timeout_s: float,
) -> tuple[Outcome, int | None]:
    """POST ``body`` once; the outcome and the receiver's status (None: no answer)."""
    try:
        target, extra = await guard.target(url)
    except Refused as exc:
        log.warning("webhook not sent: %s", exc)
        return Outcome.REFUSED, None
    try:
        resp = await client.post(
            target,
            content=body,
            headers={**headers, **extra} if extra else headers,
            timeout=timeout_s,
        )
    except (httpx.HTTPError, OSError):
        return Outcome.RETRY, None
    verdict = delivered(provider, resp.status_code)
    if verdict is None:
        return Outcome.GIVE_UP, resp.status_code
    return (Outcome.DELIVERED if verdict else Outcome.RETRY), resp.status_code
