"""Telling the target where to deliver, before the day starts, and forgetting it after.

Concepts held here: :func:`wanted_events` (the events a trace's calls expect, by provider),
:class:`Registration` (one endpoint registered on the target, and how to remove it),
:class:`Registered` (what registering gave: the registrations, Nash signing secrets, and
what a person must configure by hand), :func:`register` and :func:`unregister`.

* Onfleet: ``POST /api/v2/webhooks {url, name, trigger, threshold?}``, one per trigger the
  trace expects (taskEta with :data:`~loadtest.providers.webhooks.REPLAY_ETA_THRESHOLD_S`,
  taskArrival with :data:`~loadtest.providers.webhooks.REPLAY_ARRIVAL_THRESHOLD_M`); the
  target checks the URL with ``GET url?check=X`` while the POST waits, so the receiver
  must already be up.  Any failure is a :class:`RegistrationError` naming the answer, and
  what was already registered is removed first.
* Nash and HyperTrack register endpoints in their dashboards.  Against the emulator, its
  route ``POST /emulator/v1/webhooks {provider, url, events}`` does it (and answers Nash's
  signing secret); where that route is missing (404: a real platform), the instructions
  say what to configure, and the receiver still verifies and measures what arrives.
* ``mode="none"``: register nothing; the instructions cover every provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from loadtest.providers.webhooks import (
    ONFLEET_TRIGGER_IDS,
    REPLAY_ARRIVAL_THRESHOLD_M,
    REPLAY_ETA_THRESHOLD_S,
)
from loadtest.replay.webhooks.model import PATHS
from loadtest.replay.wire import Targets, redact_url
from loadtest.trace.format import TraceCall
from sim.errors import UserError

ONFLEET_ROUTE = "/api/v2/webhooks"
EMULATOR_ROUTE = "/emulator/v1/webhooks"
#: Thresholds of the triggers that need one (taskEta: seconds; taskArrival: metres).
THRESHOLDS = {1: REPLAY_ETA_THRESHOLD_S, 2: REPLAY_ARRIVAL_THRESHOLD_M}
TIMEOUT_S = 30.0


class RegistrationError(UserError):
    """The target refused a registration (exit 2); the message names its answer."""


def wanted_events(calls: Iterable[TraceCall]) -> dict[str, tuple[str, ...]]:
    """Event names the calls expect, per provider (only providers that send webhooks)."""
    out: dict[str, set[str]] = {}
    for c in calls:
        if c.provider in PATHS:
            out.setdefault(c.provider, set()).update(e.event for e in c.events)
    return {p: tuple(sorted(v)) for p, v in sorted(out.items()) if v}


@dataclass(frozen=True, slots=True)
class Registration:
    """One endpoint registered on the target; ``delete_url`` removes it."""

    provider: str
    id: str
    delete_url: str
    what: str


@dataclass(slots=True)
class Registered:
    registrations: list[Registration] = field(default_factory=list)
    nash_secrets: list[str] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)


def _answer(res: httpx.Response) -> str:
    text = res.text.strip().replace("\n", " ")
    return f"{res.status_code} {text[:300]}" if text else str(res.status_code)


def _id(res: httpx.Response) -> str | None:
    try:
        doc: Any = res.json()
    except ValueError:
        return None
    got = doc.get("id") if isinstance(doc, dict) else None
    return str(got) if isinstance(got, str | int) and not isinstance(got, bool) else None


def register(
    http: httpx.Client,
    targets: Targets,
    public_url: str,
    wanted: Mapping[str, tuple[str, ...]],
    run_id: str,
    mode: str = "auto",
) -> Registered:
    """Register the receiver at ``public_url`` for the ``wanted`` events; see the module
    docstring.  Raises :class:`RegistrationError` after removing what it registered."""
    out = Registered()
    public = public_url.rstrip("/")
    try:
        for provider, events in wanted.items():
            url = public + PATHS[provider]
            if mode == "none":
                out.instructions.append(_by_hand(provider, url, events))
            elif provider == "onfleet":
                _register_onfleet(http, targets, url, events, run_id, out)
            else:
                _register_emulated(http, targets, provider, url, events, out)
    except BaseException:
        unregister(http, targets, out.registrations)
        raise
    return out


def _register_onfleet(
    http: httpx.Client,
    targets: Targets,
    url: str,
    events: tuple[str, ...],
    run_id: str,
    out: Registered,
) -> None:
    base = targets.base("onfleet")
    endpoint = base + ONFLEET_ROUTE
    for name in events:
        trigger = ONFLEET_TRIGGER_IDS.get(name)
        if trigger is None:
            out.instructions.append(f"onfleet: {name!r} is no Onfleet trigger; not registered")
            continue
        body: dict[str, Any] = {"url": url, "name": f"fleetsim {run_id} {name}", "trigger": trigger}
        if trigger in THRESHOLDS:
            body["threshold"] = THRESHOLDS[trigger]
        try:
            res = http.post(endpoint, json=body, headers=targets.headers("onfleet"))
        except httpx.HTTPError as exc:
            raise RegistrationError(
                f"registering the webhook receiver for Onfleet {name} (trigger {trigger}): "
                f"POST {redact_url(endpoint)} failed: {type(exc).__name__}: {exc}"
            ) from None
        wid = _id(res) if res.is_success else None
        if wid is None:
            raise RegistrationError(
                f"registering the webhook receiver for Onfleet {name} (trigger {trigger}) at "
                f"{url}: POST {redact_url(endpoint)} answered {_answer(res)}"
            )
        out.registrations.append(
            Registration("onfleet", wid, f"{endpoint}/{wid}", f"onfleet {name} -> {url}")
        )


def _register_emulated(
    http: httpx.Client,
    targets: Targets,
    provider: str,
    url: str,
    events: tuple[str, ...],
    out: Registered,
) -> None:
    endpoint = targets.base(provider) + EMULATOR_ROUTE
    body = {"provider": provider, "url": url, "events": list(events)}
    try:
        res = http.post(endpoint, json=body, headers=targets.headers(provider))
    except httpx.HTTPError as exc:
        raise RegistrationError(
            f"registering the webhook receiver for {provider}: POST {redact_url(endpoint)} "
            f"failed: {type(exc).__name__}: {exc}"
        ) from None
    if res.status_code in (404, 405):  # not the emulator: the dashboard's job
        out.instructions.append(_by_hand(provider, url, events))
        return
    wid = _id(res) if res.is_success else None
    if wid is None:
        raise RegistrationError(
            f"registering the webhook receiver for {provider} at {url}: POST "
            f"{redact_url(endpoint)} answered {_answer(res)}"
        )
    secret = res.json().get("secret")
    if provider == "nash" and isinstance(secret, str) and secret:
        out.nash_secrets.append(secret)
    out.registrations.append(
        Registration(
            provider, wid, f"{endpoint}/{wid}", f"{provider} {len(events)} events -> {url}"
        )
    )


def _by_hand(provider: str, url: str, events: tuple[str, ...]) -> str:
    names = ", ".join(events)
    if provider == "onfleet":
        return (
            f"onfleet: register {url} for triggers {names} (POST /api/v2/webhooks or the "
            "dashboard), signed with the organisation's webhook secret (--webhook-secret)"
        )
    if provider == "nash":
        return (
            f"nash: add the endpoint {url} in the Nash dashboard for events {names}, and give "
            "its signing secret (whsec_...) in FLEETSIM_NASH_WEBHOOK_SECRET"
        )
    return (
        f"hypertrack: set the webhook URL {url} in the HyperTrack dashboard (order events "
        f"{names}), signed with the account's webhook secret (--webhook-secret)"
    )


def unregister(
    http: httpx.Client, targets: Targets, registrations: Iterable[Registration]
) -> list[str]:
    """Remove every registration; returns one line per removal that failed (never raises:
    this runs on the way out, also after Ctrl-C)."""
    errors = []
    for reg in registrations:
        try:
            res = http.delete(reg.delete_url, headers=targets.headers(reg.provider))
        except httpx.HTTPError as exc:
            errors.append(f"removing {reg.what}: {type(exc).__name__}: {exc}")
            continue
        if not res.is_success and res.status_code != 404:
            errors.append(
                f"removing {reg.what}: {redact_url(reg.delete_url)} answered {_answer(res)}"
            )
    return errors
