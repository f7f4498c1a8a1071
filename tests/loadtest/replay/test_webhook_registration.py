"""Registering the receiver: Onfleet per trigger with thresholds, the emulator route for
Nash and HyperTrack (or instructions where it is missing), rollback, removal."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from loadtest.providers.webhooks import REPLAY_ARRIVAL_THRESHOLD_M, REPLAY_ETA_THRESHOLD_S
from loadtest.replay.webhooks.registration import (
    RegistrationError,
    register,
    unregister,
    wanted_events,
)
from loadtest.replay.wire import Targets
from loadtest.trace.format import ExpectedEvent, TraceCall

TARGETS = Targets.build("http://127.0.0.1:9", {}, env={})
PUBLIC = "http://127.0.0.1:7777"


class Target:
    """A scripted target: records requests, answers by (method, path)."""

    def __init__(self, answers: dict[tuple[str, str], Any] | None = None) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.answers = answers or {}
        self.n = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        answer = self.answers.get((request.method, request.url.path))
        if callable(answer):
            return answer(body)  # type: ignore[no-any-return]
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        if request.method == "POST":
            self.n += 1
            extra = {"secret": "whsec_c2VjcmV0"} if body.get("provider") == "nash" else {}
            return httpx.Response(200, json={"id": f"w{self.n}", **extra})
        return httpx.Response(200)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


WANTED = {
    "onfleet": ("taskArrival", "taskCompleted", "taskEta"),
    "nash": ("delivery.created",),
    "hypertrack": ("completed", "started"),
}


def test_every_trigger_and_provider_is_registered_then_removed() -> None:
    target = Target()
    with target.client() as http:
        got = register(http, TARGETS, PUBLIC, WANTED, "run-1")
        onfleet = [r for r in target.requests if r[1] == "/api/v2/webhooks"]
        assert [b["trigger"] for _, _, b in onfleet] == [2, 3, 1]
        by_trigger = {b["trigger"]: b for _, _, b in onfleet}
        assert by_trigger[1]["threshold"] == REPLAY_ETA_THRESHOLD_S
        assert by_trigger[2]["threshold"] == REPLAY_ARRIVAL_THRESHOLD_M
        assert "threshold" not in by_trigger[3]
        assert {b["url"] for _, _, b in onfleet} == {PUBLIC + "/onfleet"}
        emulated = [b for _, p, b in target.requests if p == "/emulator/v1/webhooks"]
        assert emulated == [
            {"provider": "nash", "url": PUBLIC + "/nash", "events": ["delivery.created"]},
            {
                "provider": "hypertrack",
                "url": PUBLIC + "/hypertrack",
                "events": ["completed", "started"],
            },
        ]
        assert got.nash_secrets == ["whsec_c2VjcmV0"] and got.instructions == []
        assert len(got.registrations) == 5
        assert unregister(http, TARGETS, got.registrations) == []
    deletes = [p for m, p, _ in target.requests if m == "DELETE"]
    assert deletes == [
        "/api/v2/webhooks/w1",
        "/api/v2/webhooks/w2",
        "/api/v2/webhooks/w3",
        "/emulator/v1/webhooks/w4",
        "/emulator/v1/webhooks/w5",
    ]


def test_a_refused_onfleet_registration_names_the_answer_and_rolls_back() -> None:
    calls = {"n": 0}

    def second_refused(body: Any) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            msg = {"error": 1008, "message": "Webhook URL failed validation."}
            return httpx.Response(400, json={"code": "InvalidContent", "message": msg})
        return httpx.Response(200, json={"id": f"h{calls['n']}"})

    target = Target({("POST", "/api/v2/webhooks"): second_refused})
    with target.client() as http, pytest.raises(RegistrationError) as err:
        register(http, TARGETS, PUBLIC, {"onfleet": ("taskCompleted", "taskStarted")}, "r")
    text = str(err.value)
    assert "taskStarted (trigger 0)" in text and "answered 400" in text and "1008" in text
    assert ("DELETE", "/api/v2/webhooks/h1", None) in target.requests  # rolled back


def test_a_platform_without_the_emulator_route_gets_instructions() -> None:
    target = Target({("POST", "/emulator/v1/webhooks"): httpx.Response(404)})
    with target.client() as http:
        got = register(http, TARGETS, PUBLIC, {"nash": ("delivery.created",)}, "r")
    assert got.registrations == []
    (line,) = got.instructions
    assert PUBLIC + "/nash" in line and "FLEETSIM_NASH_WEBHOOK_SECRET" in line


def test_mode_none_registers_nothing() -> None:
    target = Target()
    with target.client() as http:
        got = register(http, TARGETS, PUBLIC, WANTED, "r", mode="none")
    assert target.requests == [] and len(got.instructions) == 3


def test_an_unreachable_target_is_a_clear_error() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with httpx.Client(transport=httpx.MockTransport(down)) as http:
        with pytest.raises(RegistrationError, match="ConnectError: connection refused"):
            register(http, TARGETS, PUBLIC, {"onfleet": ("taskCompleted",)}, "r")
        from loadtest.replay.webhooks.registration import Registration

        reg = Registration("onfleet", "w1", "http://127.0.0.1:9/api/v2/webhooks/w1", "x")
        (error,) = unregister(http, TARGETS, [reg])  # never raises on the way out
        assert "ConnectError" in error


def test_wanted_events_come_from_the_calls() -> None:
    def call(provider: str, *events: str) -> TraceCall:
        evs = tuple(ExpectedEvent(e, "$ref:task:1") for e in events)
        return TraceCall(0, 0.0, provider, "op", "POST", "/x", events=evs)

    calls = [
        call("onfleet", "taskCompleted"),
        call("onfleet", "taskCreated", "taskCompleted"),
        call("deftship", "whatever"),  # sends no webhooks
        call("hypertrack"),
    ]
    assert wanted_events(calls) == {"onfleet": ("taskCompleted", "taskCreated")}
    assert wanted_events([call("onfleet")]) == {}
