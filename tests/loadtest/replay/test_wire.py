"""Credentials, placeholders and the retry timing read from headers."""

from __future__ import annotations

import pytest

from loadtest.replay.retry import retry_after_s
from loadtest.replay.wire import (
    HttpResult,
    IdMap,
    Targets,
    Unresolved,
    effective_skip_ops,
    mask_headers,
    redact_url,
    resolve_path,
    resolve_value,
)
from loadtest.trace.format import TraceCall


def test_retry_after_then_rate_limit_headers() -> None:
    assert retry_after_s(HttpResult(429, {"Retry-After": "2"}, b"")) == 2.0
    limited = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0"}
    assert retry_after_s(HttpResult(429, limited, b"")) == pytest.approx(0.05)
    assert (
        retry_after_s(
            HttpResult(429, {"x-ratelimit-remaining": "3", "x-ratelimit-limit": "20"}, b"")
        )
        is None
    )
    assert retry_after_s(HttpResult(503, {}, b"")) is None


def test_credentials_come_from_the_environment_and_are_masked() -> None:
    t = Targets.build(
        "https://api.example.com", env={"ONFLEET_API_KEY": "k1", "NASH_API_KEY": "n1"}
    )
    assert t.headers("onfleet")["Authorization"].startswith("Basic ")
    assert t.headers("nash")["Authorization"] == "Bearer n1"
    assert "Authorization" not in t.headers("deftship")  # no token, not loopback
    masked = mask_headers(t.headers("onfleet"))
    assert masked["Authorization"] == "Basic ****"
    # Loopback without a key: the emulator's documented demo key.
    assert "Authorization" in Targets.build("http://127.0.0.1:1", env={}).headers("onfleet")
    assert redact_url("https://u:p@api.example.com:8443/x") == "https://api.example.com:8443/x"


def test_placeholders_resolve_or_say_which_reference_is_missing() -> None:
    ids = IdMap({"task:1": "abc~*", "worker:2": "w2"})
    body = {"container": {"worker": "$ref:worker:2"}, "ext": "x-$run-1", "n": 3}
    assert resolve_value(body, ids, "R") == {"container": {"worker": "w2"}, "ext": "x-R-1", "n": 3}
    call = TraceCall(
        id=0,
        at_s=0,
        provider="onfleet",
        op="task.complete",
        method="POST",
        path="/api/v2/tasks/{taskId}/complete",
        params={"taskId": "$ref:task:1"},
    )
    assert resolve_path(call, ids) == "/api/v2/tasks/abc~*/complete"
    with pytest.raises(Unresolved, match="task:9"):
        resolve_value(["$ref:task:9"], ids, "R")


# Emulator-only driver-app calls never go to a target off this machine.
def test_driver_calls_are_skipped_for_remote_targets() -> None:
    assert effective_skip_ops((), "https://onfleet.com") == ("driver.*",)
    assert effective_skip_ops(("task.complete",), "http://10.0.0.5:8080") == (
        "task.complete",
        "driver.*",
    )
    assert effective_skip_ops(("driver.*",), "https://onfleet.com") == ("driver.*",)


def test_driver_calls_are_kept_for_loopback_targets() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:1234", "http://[::1]:80"):
        assert effective_skip_ops((), url) == ()
