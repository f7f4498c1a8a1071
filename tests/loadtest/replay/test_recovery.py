"""The lost-answer checkers, each against a fake target: applied, not applied, unknown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from loadtest.replay.policy import RECOVERED_JOB
from loadtest.replay.recovery import CHECKS, check_applied
from loadtest.replay.retry import RetryPolicy
from loadtest.replay.wire import HttpResult, IdMap
from loadtest.trace import ops
from loadtest.trace.format import TraceCall
from loadtest.trace.ops import OPS


@dataclass
class FakeClock:
    t: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep_until(self, t_s: float) -> None:
        self.t = max(self.t, t_s)


@dataclass
class FakeRecorder:
    counters: dict[str, int] = field(default_factory=dict)
    flows: list[tuple[Any, ...]] = field(default_factory=list)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def flow(self, *args: Any) -> None:
        self.flows.append(args)


@dataclass
class FakeReplayer:
    """On the target: ``tasks`` (found by listing), ``objects`` (GET path -> body)."""

    tasks: dict[str, str] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    cannot_list: bool = False
    ids: IdMap = field(default_factory=IdMap)
    recorder: FakeRecorder = field(default_factory=FakeRecorder)
    clock: FakeClock = field(default_factory=FakeClock)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    gets: list[tuple[str, str, str]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.clock.t += seconds

    def get(self, provider: str, path: str, name: str) -> HttpResult:
        self.gets.append((provider, path, name))
        if path in self.objects:
            return HttpResult(200, {}, orjson.dumps(self.objects[path]))
        return HttpResult(404, {}, b"{}")

    def find_tasks(self, wanted: set[int], since_ms: int) -> dict[str, str]:
        if self.cannot_list:
            raise RuntimeError("cannot list")
        return {r: s for r, s in self.tasks.items() if int(r.split(":")[1]) in wanted}

    def key(self, kind: str, num: int) -> str | None:
        return f"+1555000{num:04d}" if kind == "worker" else None


def _call(spec: ops.OpSpec, **kw: Any) -> TraceCall:
    return TraceCall(0, 0.0, spec.provider, spec.name, spec.method, spec.path, **kw)


def _task(n: int) -> dict[str, Any]:
    return {"metadata": [{"name": "fleetsim_task", "value": n}]}


def test_every_check_rule_op_has_a_checker_and_no_other() -> None:
    assert set(CHECKS) == {n for n, s in OPS.items() if s.lost == "check"}


def test_batch_resends_only_the_missing_tasks() -> None:
    r = FakeReplayer(tasks={"task:1": "s1"})
    body = {"tasks": [_task(1), _task(2)]}
    verdict, resend = check_applied(r, _call(ops.TASK_BATCH, tasks=(1, 2)), body, 10.0, 0)  # type: ignore[arg-type]
    assert verdict is False and resend == {"tasks": [_task(2)]}
    assert r.ids.get("task:1") == "s1"
    r.tasks["task:2"] = "s2"
    verdict, _ = check_applied(r, _call(ops.TASK_BATCH, tasks=(1, 2)), body, 10.0, 0)  # type: ignore[arg-type]
    assert verdict is True and r.recorder.counters["recovered"] == 1
    assert r.recorder.flows[0][0] == ops.FLOW_BATCH


def test_unlistable_target_is_unknown_never_resent() -> None:
    r = FakeReplayer(cannot_list=True)
    call = _call(ops.TASK_CREATE, tasks=(3,))
    assert check_applied(r, call, _task(3), 0.0, 0)[0] is None  # type: ignore[arg-type]


def test_async_batch_waits_to_settle_then_all_some_or_none() -> None:
    body = {"tasks": [_task(1), _task(2)]}
    call = _call(ops.TASK_BATCH_ASYNC, tasks=(1, 2), defines="job:5")
    r = FakeReplayer()
    assert check_applied(r, call, body, 0.0, 0)[0] is False  # type: ignore[arg-type]
    assert r.clock.t >= r.policy.async_settle_s
    r = FakeReplayer(tasks={"task:1": "s1"})
    assert check_applied(r, call, body, 0.0, 0)[0] is None  # type: ignore[arg-type]
    r = FakeReplayer(tasks={"task:1": "s1", "task:2": "s2"})
    assert check_applied(r, call, body, 0.0, 0)[0] is True  # type: ignore[arg-type]
    assert r.ids.get("job:5") == RECOVERED_JOB


def test_task_complete_is_applied_once_the_task_is_completed() -> None:
    r = FakeReplayer()
    r.ids.set("task:4", "srv4")
    path = ops.TASK_GET.path.replace("{taskId}", "srv4")
    call = _call(ops.TASK_COMPLETE, tasks=(4,))
    r.objects[path] = {"state": 2}
    assert check_applied(r, call, {}, 0.0, 0)[0] is False  # type: ignore[arg-type]
    assert r.gets[-1] == ("onfleet", path, f"GET {ops.TASK_GET.path}")
    r.objects[path] = {"state": 3}
    assert check_applied(r, call, {}, 0.0, 0)[0] is True  # type: ignore[arg-type]
    # Starting needs only the active state.
    r.objects[path] = {"state": 2}
    assert check_applied(r, _call(ops.DRIVER_START, tasks=(4,)), None, 0.0, 0)[0] is True  # type: ignore[arg-type]


def test_order_track_found_missing_or_unknown() -> None:
    body = {"orders": [{"order_handle": "h1"}]}
    call = _call(ops.ORDER_TRACK)
    r = FakeReplayer()
    assert check_applied(r, call, body, 0.0, 0)[0] is False  # type: ignore[arg-type]
    r.objects[ops.ORDER_GET.path.replace("{orderHandle}", "h1")] = {"order_handle": "h1"}
    assert check_applied(r, call, body, 0.0, 0)[0] is True  # type: ignore[arg-type]
    assert check_applied(r, call, {"orders": []}, 0.0, 0)[0] is None  # type: ignore[arg-type]


def test_absolute_state_updates_are_simply_resent() -> None:
    r = FakeReplayer()
    body = {"onDuty": True}
    assert check_applied(r, _call(ops.DRIVER_DUTY), body, 0.0, 0) == (False, body)  # type: ignore[arg-type]
    assert r.gets == []
