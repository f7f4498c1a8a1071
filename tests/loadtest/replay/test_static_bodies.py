"""Bodies without placeholders are sent as the trace holds them; the rest are resolved."""

from __future__ import annotations

import orjson

from loadtest.replay.executor import Executor
from loadtest.replay.schedule import Ready
from loadtest.replay.stats import Recorder
from loadtest.replay.wire import HttpResult, Targets, has_placeholder
from loadtest.trace.format import TraceCall
from tests.loadtest.replay.fakeapi import FakeClock


def test_has_placeholder_finds_run_ids_and_references_at_any_depth() -> None:
    assert not has_placeholder({"a": [1, {"b": "plain"}], "c": None, "d": 2.5})
    assert has_placeholder({"a": [1, {"b": "fleetsim-$run-3"}]})
    assert has_placeholder(["$ref:worker:1"])
    assert not has_placeholder("no dollar") and has_placeholder("$run")


class Sent:
    def __init__(self) -> None:
        self.bodies: list[bytes | None] = []

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        name: str,
        t: float,
    ) -> HttpResult:
        self.bodies.append(body)
        return HttpResult(200, {}, b'{"id":"srv1"}')


def _executor(sent: Sent) -> Executor:
    return Executor(
        transport=sent,
        targets=Targets.build("http://127.0.0.1:1", {}),
        clock=FakeClock(),
        sleep=lambda s: None,
        recorder=Recorder(),
        run_id="R1",
        wall_t0_ms=0,
    )


def test_static_and_placeholder_bodies_both_go_out_right_every_time() -> None:
    sent = Sent()
    ex = _executor(sent)
    static = {"notes": "plain", "destination": {"location": [1.0, 2.0]}}
    dynamic = {"notes": "order fleetsim-$run-7", "metadata": [{"value": "$run"}]}
    calls = [
        TraceCall(
            id=i,
            at_s=0.0,
            provider="onfleet",
            op="task.create",
            method="POST",
            path="/api/v2/tasks",
            body=b,
            family=i,
        )
        for i, b in enumerate((static, dynamic))
    ]
    for _ in range(2):  # the same call twice (a retry's body, or --scale's copy)
        for c in calls:
            assert ex.execute(Ready(c, 0.0))
    got = [orjson.loads(b or b"null") for b in sent.bodies]
    assert got[0] == got[2] == static
    assert got[1] == got[3] == {"notes": "order fleetsim-R1-7", "metadata": [{"value": "R1"}]}
    assert calls[1].body == dynamic  # the trace's body is never changed


def test_a_dollar_outside_a_placeholder_still_goes_out_unchanged() -> None:
    """A ``$`` anywhere in the encoding (here a key) only costs a resolve; the body sent
    is the same."""
    sent = Sent()
    ex = _executor(sent)
    body = {"metadata": {"price$": "12"}, "n": 3}
    call = TraceCall(
        id=0,
        at_s=0.0,
        provider="onfleet",
        op="task.create",
        method="POST",
        path="/api/v2/tasks",
        body=body,
        family=0,
    )
    assert ex.execute(Ready(call, 0.0))
    assert sent.bodies == [orjson.dumps(body)]
