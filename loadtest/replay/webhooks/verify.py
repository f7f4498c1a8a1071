"""Each provider's webhook delivery, as the receiver reads it: signature, id and events.

Concepts held here: :class:`Delivery` (what one HTTP request brought: its stable id,
whether its signature verified, and its events as ``(name, subject)`` pairs) and one
reader per provider (:func:`read_onfleet`, :func:`read_nash`, :func:`read_hypertrack`),
pure functions of the raw body and headers.  The wire facts (signature schemes, header
names) are :mod:`loadtest.providers.webhooks`; Nash's Svix signature is checked by the
``svix`` library itself.

Subjects: Onfleet's worker triggers (``workerDuty``, ``workerCreated``, ...) are about
``workerId``, trigger 19 about ``jobId``, every other trigger about ``taskId``; Nash's
about ``data.id`` (the job); HyperTrack's about each event's ``data.order_handle``.
A body that cannot be read gives no events (its arrival is counted as malformed).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from svix.webhooks import Webhook, WebhookVerificationError

from loadtest.providers.webhooks import (
    HYPERTRACK_DELIVERY_ID_HEADER,
    HYPERTRACK_SIGNATURE_HEADER,
    ONFLEET_DELIVERY_ID_HEADER,
    ONFLEET_SIGNATURE_HEADER,
    ONFLEET_TRIGGERS,
    hypertrack_signature,
    onfleet_signature,
)
from loadtest.replay.webhooks.model import MALFORMED

#: Onfleet trigger 19: its subject is the job.
ONFLEET_JOB_TRIGGER = 19


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP request to the receiver: ``events`` are ``(name, subject)`` pairs."""

    delivery_id: str
    sig_ok: bool
    events: tuple[tuple[str, str], ...]


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, whatever its case (Starlette's headers are lower-case already)."""
    got = headers.get(name.lower())
    if got is None:
        got = headers.get(name, "")
    return got


def _same(expected_hex: str, given: str) -> bool:
    """A constant-time comparison of hex digests (any header text, even non-ASCII)."""
    return bool(given) and hmac.compare_digest(
        expected_hex.encode(), given.strip().lower().encode("utf-8", "replace")
    )


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def read_onfleet(secret_hex: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
    """An Onfleet delivery: ``X-Onfleet-Signature`` is hex HMAC-SHA512 of the raw body."""
    sig = _header(headers, ONFLEET_SIGNATURE_HEADER)
    ok = _same(onfleet_signature(secret_hex, body), sig)
    doc = _json(body)
    events: tuple[tuple[str, str], ...] = ((MALFORMED, ""),)
    if isinstance(doc, dict):
        trigger = doc.get("triggerId")
        name = doc.get("triggerName")
        if not isinstance(name, str):
            name = ONFLEET_TRIGGERS.get(trigger, "") if isinstance(trigger, int) else ""
        if name:
            if trigger == ONFLEET_JOB_TRIGGER or name == "taskBatchCreateJobCompleted":
                subject = doc.get("jobId")
            elif name.startswith("worker"):
                subject = doc.get("workerId")
            else:
                subject = doc.get("taskId")
            events = ((name, subject if isinstance(subject, str) else ""),)
    # Onfleet itself sends no delivery id (the header is the emulator's): a retry carries
    # the same body, so the body's digest stands in, and a retry is not a duplicate.
    delivery_id = _header(headers, ONFLEET_DELIVERY_ID_HEADER)
    if not delivery_id:
        delivery_id = "sha256:" + hashlib.sha256(body).hexdigest()[:32]
    return Delivery(delivery_id, ok, events)


def nash_verifiers(secrets: Sequence[str]) -> tuple[Webhook, ...]:
    """One Svix verifier per known signing secret (``whsec_…``); bad ones are skipped."""
    out = []
    for s in secrets:
        try:
            out.append(Webhook(s))
        except Exception:
            continue
    return tuple(out)


def read_nash(verifiers: Sequence[Webhook], body: bytes, headers: Mapping[str, str]) -> Delivery:
    """A Nash delivery (Svix): verified by the ``svix`` library against any known secret;
    the event is ``"{type}.{event}"`` about ``data.id``.  Without a secret nothing
    verifies, so every arrival counts as a bad signature."""
    svix_headers = {k: _header(headers, k) for k in ("svix-id", "svix-timestamp", "svix-signature")}
    ok = False
    for v in verifiers:
        try:
            v.verify(body, svix_headers)
        except WebhookVerificationError:
            continue
        ok = True
        break
    doc = _json(body)
    events: tuple[tuple[str, str], ...] = ((MALFORMED, ""),)
    if isinstance(doc, dict) and isinstance(doc.get("type"), str):
        data = doc.get("data")
        subject = data.get("id") if isinstance(data, dict) else None
        event = doc.get("event")
        name = f"{doc['type']}.{event}" if isinstance(event, str) else str(doc["type"])
        events = ((name, subject if isinstance(subject, str) else ""),)
    return Delivery(svix_headers["svix-id"], ok, events)


def read_hypertrack(secret_hex: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
    """A HyperTrack delivery: a JSON array of events, ``x-hypertrack-signature`` the hex
    HMAC-SHA256 of the raw body; an order event is named by ``data.value`` and is about
    ``data.order_handle``, any other by its ``type``."""
    sig = _header(headers, HYPERTRACK_SIGNATURE_HEADER)
    ok = _same(hypertrack_signature(secret_hex, body), sig)
    doc = _json(body)
    events: list[tuple[str, str]] = []
    if isinstance(doc, list):
        for item in doc:
            if not isinstance(item, dict):
                events.append((MALFORMED, ""))
                continue
            data = item.get("data")
            data = data if isinstance(data, dict) else {}
            value = data.get("value") if item.get("type") == "order" else item.get("type")
            handle = data.get("order_handle")
            name = value if isinstance(value, str) and value else MALFORMED
            events.append((name, handle if isinstance(handle, str) else ""))
    if not events:
        events.append((MALFORMED, ""))
    return Delivery(_header(headers, HYPERTRACK_DELIVERY_ID_HEADER), ok, tuple(events))
