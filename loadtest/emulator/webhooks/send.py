"""One delivery attempt on the wire: the provider's headers and signature, the POST, and
what the answer means.

* Onfleet: ``X-Onfleet-Signature`` (hex HMAC-SHA512 of the raw body) and
  ``X-Fleetsim-Delivery-Id`` [inf], both the same on every retry.
* Nash: Svix, signed by the ``svix`` library itself (``svix-id`` is the delivery's
  ``msg_…`` id; ``svix-timestamp`` is the attempt's time, so each retry is signed anew,
  as Svix does).
* HyperTrack: ``x-hypertrack-signature`` (hex HMAC-SHA256) and ``x-amz-sns-message-id``.

The body is serialised once, when the event is committed; every attempt sends the same
bytes.  One event fanned out to several endpoints shares one body object, so its HMAC is
computed once (:class:`Signer` keeps the last body's signatures; Svix signs the message
id too, so Nash signs each delivery).  :func:`attempt` (the ``https://`` path) returns an
:class:`Outcome`; it never raises for anything the network or the receiver does.  The
``http://`` path is :mod:`~loadtest.emulator.webhooks.fastpost`, fed by the engine with
:meth:`Signer.request` and judged by :func:`outcome_of`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
from datetime import UTC, datetime

import aiohttp
import httpx
from svix.webhooks import Webhook

from loadtest.emulator.webhooks.fastpost import request_bytes
from loadtest.emulator.webhooks.guard import Guard, Refused
from loadtest.providers.webhooks import (
    HYPERTRACK_DELIVERY_ID_HEADER,
    HYPERTRACK_SIGNATURE_HEADER,
    ONFLEET_CHECK_PARAM,
    ONFLEET_DELIVERY_ID_HEADER,
    ONFLEET_SIGNATURE_HEADER,
    Provider,
    delivered,
    nash_signing_secret,
)

log = logging.getLogger("fleetsim.emulator.webhooks")
_JSON = "application/json"
#: The start of the delivery-id and signature header lines of the providers signed by
#: body alone (Nash's Svix signature covers the id and the attempt's time too).
_ID_PREFIX: dict[str, bytes] = {
    "onfleet": f"{ONFLEET_DELIVERY_ID_HEADER}: ".encode("ascii"),
    "hypertrack": f"{HYPERTRACK_DELIVERY_ID_HEADER}: ".encode("ascii"),
}
_SIG_PREFIX: dict[str, bytes] = {
    "onfleet": f"{ONFLEET_SIGNATURE_HEADER}: ".encode("ascii"),
    "hypertrack": f"{HYPERTRACK_SIGNATURE_HEADER}: ".encode("ascii"),
}


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
        # HMACs keyed once and copied per body: the one-shot ``hmac.digest`` (as
        # ``providers.webhooks.onfleet_signature`` computes it) looks the digest up by
        # name and keys it on every call: ~2.5 µs of the ~7 µs an Onfleet signature of a
        # 1.8 kB task cost.
        key = bytes.fromhex(secret_hex)
        self._keyed = {
            "onfleet": hmac.new(key, digestmod=hashlib.sha512),
            "hypertrack": hmac.new(key, digestmod=hashlib.sha256),
        }
        # The last body signed and its signature by provider: the deliveries of one
        # fanned-out event share the body object, so an identity check finds it.
        self._last_body: bytes | None = None
        self._last_sigs: dict[str, str] = {}
        # The same body's request tail by provider (signature line, length, body): the
        # bytes every delivery of one fanned-out event shares (see :meth:`request`).
        self._last_tails: dict[str, bytes] = {}

    def _signature(self, provider: Provider, body: bytes) -> str:
        if body is not self._last_body:
            self._last_body = body
            self._last_sigs = {}
            self._last_tails = {}
        sig = self._last_sigs.get(provider)
        if sig is None:
            # = onfleet_signature / hypertrack_signature (a test holds them equal)
            mac = self._keyed[provider].copy()
            mac.update(body)
            sig = self._last_sigs[provider] = mac.hexdigest()
        return sig

    def header_lines(self, provider: Provider, delivery_id: str, body: bytes) -> bytes:
        """The headers of one attempt as CRLF-ended lines, without ``Content-Type`` (the
        fast path's request head has it); Onfleet's and HyperTrack's are the same on
        every attempt, Nash's are signed with the attempt's timestamp."""
        if provider == "onfleet":
            sig = self._signature(provider, body)
            return (
                f"{ONFLEET_SIGNATURE_HEADER}: {sig}\r\n"
                f"{ONFLEET_DELIVERY_ID_HEADER}: {delivery_id}\r\n"
            ).encode("ascii")
        if provider == "hypertrack":
            sig = self._signature(provider, body)
            return (
                f"{HYPERTRACK_SIGNATURE_HEADER}: {sig}\r\n"
                f"{HYPERTRACK_DELIVERY_ID_HEADER}: {delivery_id}\r\n"
            ).encode("ascii")
        headers = self.attempt_headers(provider, {}, delivery_id, body)
        lines = [f"svix-id: {delivery_id}\r\n"]
        lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
        return "".join(lines).encode("ascii")

    def request(self, head: bytes, provider: Provider, delivery_id: str, body: bytes) -> bytes:
        """One whole ``http://`` attempt: ``head`` (:func:`~.fastpost.request_head`), the
        delivery's id and signature headers, ``Content-Length`` and the body.

        Onfleet's and HyperTrack's signature depends on the body only, so the part from
        the signature line to the body's end is built once per body and shared by every
        delivery of the event (one join per delivery, not a signature lookup, two
        formatted lines and a second join); Nash's is signed per attempt."""
        if provider == "nash":
            return request_bytes(head, self.header_lines(provider, delivery_id, body), body)
        sig = self._signature(provider, body)  # resets the tails on a new body
        tail = self._last_tails.get(provider)
        if tail is None:
            tail = self._last_tails[provider] = b"".join(
                (_SIG_PREFIX[provider], sig.encode("ascii"),
                 b"\r\nContent-Length: %d\r\n\r\n" % len(body), body)
            )  # fmt: skip
        return b"".join((head, _ID_PREFIX[provider], delivery_id.encode("ascii"), b"\r\n", tail))

    def static_headers(self, provider: Provider, delivery_id: str, body: bytes) -> dict[str, str]:
        """The headers that stay the same on every attempt (computed once per delivery)."""
        if provider == "onfleet":
            return {
                "Content-Type": _JSON,
                ONFLEET_SIGNATURE_HEADER: self._signature(provider, body),
                ONFLEET_DELIVERY_ID_HEADER: delivery_id,
            }
        if provider == "hypertrack":
            return {
                "Content-Type": _JSON,
                HYPERTRACK_SIGNATURE_HEADER: self._signature(provider, body),
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
    guard: Guard,
    provider: Provider,
    url: httpx.URL,
    headers: dict[str, str],
    body: bytes,
    timeout_s: float,
) -> tuple[Outcome, int | None]:
    """POST ``body`` once through ``session`` (the ``https://`` path; ``http://`` goes
    through :mod:`~loadtest.emulator.webhooks.fastpost`): the outcome and the receiver's
    status (None: no answer)."""
    try:
        target, extra = await guard.target(url)
    except Refused as exc:
        log.warning("webhook not sent: %s", exc)
        return Outcome.REFUSED, None
    try:
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
    return outcome_of(provider, status), status


def outcome_of(provider: Provider, status: int | None) -> Outcome:
    """What an answer (None: none came) means for a delivery of ``provider``."""
    if status is None:
        return Outcome.RETRY
    verdict = delivered(provider, status)
    if verdict is None:
        return Outcome.GIVE_UP
    return Outcome.DELIVERED if verdict else Outcome.RETRY


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
