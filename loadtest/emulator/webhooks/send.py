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

import aiohttp
import httpx
from svix.webhooks import Webhook

from loadtest.emulator.webhooks.fastpost import HttpPool, request_bytes
from loadtest.emulator.webhooks.guard import Guard, Refused
from loadtest.providers.webhooks import (
    HYPERTRACK_DELIVERY_ID_HEADER,
    HYPERTRACK_SIGNATURE_HEADER,
    ONFLEET_CHECK_PARAM,
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


#: The most of a receiver's answer body that is read (the status is all that matters; a
#: longer body is not read and its connection is closed instead of reused).
MAX_ANSWER_BYTES = 64 * 1024


def new_session(concurrency: int) -> aiohttp.ClientSession:
    """The one keep-alive session every delivery and handshake shares (needs a loop).

    ``trust_env=False``: never a proxy from the environment, which could carry a
    delivery off this machine.  No cookies kept between deliveries.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read a short answer so the connection goes back to the pool; close on a long one."""
    length = resp.content_length
    if length is not None and length <= MAX_ANSWER_BYTES:
        await resp.read()
    else:
        resp.close()


async def attempt(
    session: aiohttp.ClientSession,
    pool: HttpPool,
    guard: Guard,
    provider: Provider,
    url: httpx.URL,
    headers: dict[str, str],
    body: bytes,
    timeout_s: float,
) -> tuple[Outcome, int | None]:
    """POST ``body`` once; the outcome and the receiver's status (None: no answer).
    ``http://`` goes through ``pool`` (the hot path), ``https://`` through ``session``."""
    try:
        target, extra = await guard.target(url)
    except Refused as exc:
        log.warning("webhook not sent: %s", exc)
        return Outcome.REFUSED, None
    try:
        if target.scheme == "http":
            host = extra.get("Host") or url.netloc.decode("ascii")
            request = request_bytes("POST", target.raw_path, host, headers, body)
            status = await pool.post(target.host, target.port or 80, request, timeout_s)
        else:
            async with session.post(
                str(target),
                data=body,
                headers={**headers, **extra} if extra else headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as resp:
                status = resp.status
                await _drain(resp)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return Outcome.RETRY, None
    verdict = delivered(provider, status)
    if verdict is None:
        return Outcome.GIVE_UP, status
    return (Outcome.DELIVERED if verdict else Outcome.RETRY), status


async def handshake(
    session: aiohttp.ClientSession, guard: Guard, url: httpx.URL, token: str, timeout_s: float
) -> str | None:
    """Onfleet's validation: ``GET url?check=token`` must answer 200 with ``token``
    exactly.  None when it passed, else why not (for the 400's cause)."""
    target, extra = await guard.target(url)
    target = target.copy_merge_params({ONFLEET_CHECK_PARAM: token})
    try:
        async with session.get(
            str(target),
            headers=extra,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as resp:
            status = resp.status
            answer = await resp.content.read(len(token) + 1)
    except TimeoutError:
        return f"the URL did not answer the check request within {timeout_s:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return f"the check request failed: {type(exc).__name__}"
    if status != 200:
        return f"the check request got HTTP {status}; 200 with the check value echoed is needed"
    if answer != token.encode():
        return "the check request's answer is not the check value echoed back"
    return None
