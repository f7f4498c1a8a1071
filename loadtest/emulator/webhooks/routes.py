"""Webhook registration over HTTP.

* Onfleet: ``POST /api/v2/webhooks {url, name, trigger, threshold?}`` (with the
  ``?check=`` handshake; a failure is 400/1008 and nothing is stored), ``GET`` lists,
  ``DELETE /api/v2/webhooks/{id}``.
* The emulator's own ``/emulator/v1/webhooks`` for Nash and HyperTrack, whose real
  platforms register endpoints in a dashboard: ``POST {provider, url, events?}``,
  ``GET``, ``DELETE /emulator/v1/webhooks/{id}``.  Its answer carries Nash's Svix signing
  secret (``whsec_…``): the dashboard shows it to the account owner in real life, and a
  receiver cannot verify Nash's deliveries without it.  No other answer or log carries a
  secret.  This route is authenticated with the emulator's API key, and lives under
  ``/emulator`` so it can never be sent to a real platform.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import DRIVER_APP, ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.http import empty, ok, read_json
from loadtest.emulator.ids import IdGen
from loadtest.emulator.webhooks.engine import WebhookEngine
from loadtest.emulator.webhooks.guard import Refused, parse_url, shown
from loadtest.emulator.webhooks.registry import Endpoint
from loadtest.providers.onfleet import BASE_PATH, CONTROL_PATH, E_INVALID_VALUES, MSG_INVALID_VALUES
from loadtest.providers.webhooks import (
    HYPERTRACK_ORDER_VALUES,
    MAX_THRESHOLD_WEBHOOKS,
    NASH_TYPES,
    ONFLEET_E_WEBHOOK_VALIDATION,
    ONFLEET_TRIGGERS,
    PROVIDERS,
    THRESHOLD_TRIGGERS,
    Provider,
    nash_signing_secret,
)

MAX_NAME = 200


def _bad(cause: str, error: int = E_INVALID_VALUES) -> ApiError:
    return ApiError(400, MSG_INVALID_VALUES, error=error, cause=cause)


class WebhookRoutes:
    """The registration handlers, bound to one engine (see the module docstring)."""

    def __init__(self, engine: WebhookEngine, ids: IdGen, commit: Any, now_ms: Any) -> None:
        self.engine = engine
        self.ids = ids
        self._commit = commit
        self._now_ms = now_ms

    async def _checked_url(self, raw: object) -> str:
        try:
            url = parse_url(raw)
            await self.engine.guard.address(url)
        except Refused as exc:
            raise _bad(str(exc)) from None
        return str(raw).strip()

    # -- Onfleet ------------------------------------------------------------------------
    async def create(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ONFLEET.bad_json("the body must be a JSON object {url, name, trigger}")
        trigger = body.get("trigger")
        if (
            isinstance(trigger, bool)
            or not isinstance(trigger, int)
            or trigger not in ONFLEET_TRIGGERS
        ):
            raise _bad(
                f"trigger {trigger!r} is not a known trigger id; use one of "
                f"{', '.join(str(t) for t in ONFLEET_TRIGGERS)}"
            )
        name = body.get("name", "")
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise _bad(f"name must be a string of at most {MAX_NAME} characters")
        threshold = body.get("threshold")
        if trigger in THRESHOLD_TRIGGERS:
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int | float)
                or not (0 < threshold <= 10**9)
            ):
                unit = "seconds" if trigger == 1 else "metres"
                raise _bad(
                    f"trigger {trigger} ({ONFLEET_TRIGGERS[trigger]}) needs a threshold: a "
                    f"number > 0 ({unit})"
                )
            self._check_room(trigger)
        else:
            threshold = None
        url = await self._checked_url(body.get("url"))
        token = secrets.token_urlsafe(16)
        failure = await self.engine.handshake(url, token)
        if failure is not None:
            raise ApiError(
                400,
                "Webhook validation failed.",
                error=ONFLEET_E_WEBHOOK_VALIDATION,
                cause=f"{failure} (GET {shown(url)}?check=...)",
            )
        if trigger in THRESHOLD_TRIGGERS:
            self._check_room(trigger)  # again: another registration may have won the wait
        ep = Endpoint(
            self.ids.onfleet(),
            "onfleet",
            url,
            frozenset({ONFLEET_TRIGGERS[trigger]}),
            source="api",
            name=name,
            trigger=trigger,
            threshold=None if threshold is None else float(threshold),
            created_ms=self._now_ms(),
        )
        self.engine.registry.add(ep)
        self._commit()
        return ok(ep.onfleet_json())

    def _check_room(self, trigger: int) -> None:
        """taskEta and taskArrival take at most 10 webhooks each (API-NOTES §1.8)."""
        if self.engine.registry.count_trigger(trigger) >= MAX_THRESHOLD_WEBHOOKS:
            raise _bad(
                f"trigger {trigger} ({ONFLEET_TRIGGERS[trigger]}) already has "
                f"{MAX_THRESHOLD_WEBHOOKS} webhooks, the most allowed; delete one first"
            )

    async def list_hooks(self, request: Request) -> Response:
        return ok([e.onfleet_json() for e in self.engine.registry.onfleet_hooks()])

    async def delete(self, request: Request) -> Response:
        wid = request.path_params["id"]
        ep = self.engine.registry.endpoints.get(wid)
        if ep is None or ep.source != "api":
            raise ONFLEET.not_found(f"webhook {wid}")
        self.engine.remove_endpoint(wid)
        self._commit()
        return empty()

    # -- the emulator's route (Nash, HyperTrack) ------------------------------------------
    def _emulator_json(self, ep: Endpoint) -> dict[str, Any]:
        out = ep.emulator_json()
        out["secret"] = (
            nash_signing_secret(self.engine.cfg.secret) if ep.provider == "nash" else None
        )
        return out

    async def emu_create(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise DRIVER_APP.bad_json("the body must be a JSON object {provider, url, events?}")
        provider = body.get("provider")
        if provider not in ("nash", "hypertrack"):
            raise _bad(
                f"provider {provider!r}: use nash or hypertrack (Onfleet webhooks are "
                f"registered with POST {BASE_PATH}/webhooks)"
            )
        prov: Provider = "nash" if provider == "nash" else "hypertrack"
        events = body.get("events")
        if events is not None:
            if not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
                raise _bad("events must be a list of event names (omit it for every event)")
            bad = [e for e in events if not _known_event(prov, e)]
            if bad:
                raise _bad(f"unknown {prov} event {bad[0]!r}; {_event_help(prov)}")
        url = await self._checked_url(body.get("url"))
        ep = Endpoint(
            self.ids.prefixed("whk_"),
            prov,
            url,
            None if events is None else frozenset(events),
            source="emulator",
            created_ms=self._now_ms(),
        )
        self.engine.registry.add(ep)
        self._commit()
        return ok(self._emulator_json(ep))

    async def emu_list(self, request: Request) -> Response:
        eps = [e for e in self.engine.registry.endpoints.values() if e.source != "api"]
        return ok([self._emulator_json(e) for e in eps])

    async def emu_delete(self, request: Request) -> Response:
        wid = request.path_params["id"]
        ep = self.engine.registry.endpoints.get(wid)
        if ep is None or ep.source != "emulator":
            raise DRIVER_APP.not_found(f"webhook {wid}")
        self.engine.remove_endpoint(wid)
        self._commit()
        return empty()

    async def emu_emit(self, request: Request) -> Response:
        """Emit one test event (a dashboard's "send test event"): ``{provider, name,
        subject, body}`` goes to every endpoint subscribed to ``name``, through the same
        outbox as the state's events.  Answers ``{deliveries}``, the count it fanned out to."""
        body = await read_json(request)
        if not isinstance(body, dict):
            raise DRIVER_APP.bad_json(
                "the body must be a JSON object {provider, name, subject, body}"
            )
        provider = body.get("provider")
        prov = next((p for p in PROVIDERS if p == provider), None)
        if prov is None:
            raise _bad(f"provider {provider!r}: use one of {', '.join(PROVIDERS)}")
        name, subject = body.get("name"), body.get("subject", "test")
        if not isinstance(name, str) or not name or not isinstance(subject, str):
            raise _bad("name (an event or trigger name) and subject must be strings")
        if "body" not in body:
            raise _bad("body (the delivery's JSON body) is required")
        measure = body.get("measure")
        if measure is not None and (
            isinstance(measure, bool) or not isinstance(measure, int | float)
        ):
            raise _bad("measure must be a number (seconds or metres) or omitted")
        self.engine.emit(prov, name, subject, body["body"], measure=measure)
        n = self._commit_counting()
        return ok({"deliveries": n}, status=202)

    def _commit_counting(self) -> int:
        before = self.engine.accepted
        self._commit()
        return self.engine.accepted - before

    def routes(self) -> list[BaseRoute]:
        b, c = BASE_PATH, CONTROL_PATH
        return [
            Route(f"{b}/webhooks", self.create, methods=["POST"]),
            Route(f"{b}/webhooks", self.list_hooks, methods=["GET"]),
            Route(f"{b}/webhooks/{{id}}", self.delete, methods=["DELETE"]),
            Route(f"{c}/webhooks", self.emu_create, methods=["POST"]),
            Route(f"{c}/webhooks", self.emu_list, methods=["GET"]),
            Route(f"{c}/webhooks/emit", self.emu_emit, methods=["POST"]),
            Route(f"{c}/webhooks/{{id}}", self.emu_delete, methods=["DELETE"]),
        ]


def _known_event(provider: Provider, name: str) -> bool:
    if provider == "hypertrack":
        return name in HYPERTRACK_ORDER_VALUES
    kind, dot, event = name.partition(".")
    return bool(dot and event) and kind in NASH_TYPES


def _event_help(provider: Provider) -> str:
    if provider == "hypertrack":
        return "use order values such as " + ", ".join(HYPERTRACK_ORDER_VALUES[:6]) + ", ..."
    return "use type.event names, type one of " + ", ".join(NASH_TYPES) + " (delivery.created)"
