"""Retries: full jitter, and a per-target budget so a storm of 429s cannot multiply load."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from loadtest.replay.results import CallCounts
from loadtest.replay.retry import RetryBudget, RetryPolicy
from loadtest.replay.stats import Aggregate
from tests.loadtest.replay.fakeapi import Fault
from tests.loadtest.replay.test_executor import replay


def test_full_jitter_spreads_over_the_whole_range() -> None:
    policy = RetryPolicy(base_s=0.1, max_backoff_s=5.0)
    rng = random.Random(1)
    for attempt, cap in ((0, 0.1), (3, 0.8), (9, 5.0)):
        waits = [policy.backoff(attempt, rng) for _ in range(400)]
        assert all(0.0 <= w <= cap for w in waits)
        # Uniform over [0, cap]: both ends are reached, nothing clusters.
        assert min(waits) < 0.05 * cap and max(waits) > 0.95 * cap
        assert len(set(waits)) == len(waits)


def test_refused_calls_do_not_come_back_together() -> None:
    # Twenty calls refused by one window with the same hint wait twenty different times.
    policy = RetryPolicy()
    rng = random.Random(2)
    waits = [policy.after_refusal(0.05, 0, rng) for _ in range(20)]
    assert all(w >= 0.05 for w in waits)
    assert len({round(w, 6) for w in waits}) == 20
    assert max(waits) - min(waits) > 0.05


def test_budget_bounds_retries_by_a_share_of_calls() -> None:
    budget = RetryBudget(ratio=0.1, floor=10.0)
    retries = 0
    for _ in range(1000):  # every call refused, every call tries five retries
        budget.deposit()
        retries += sum(budget.withdraw() for _ in range(5))
    assert retries <= 10 + 0.1 * 1000
    assert retries >= 100  # the budget is spent, not withheld
    assert budget.exhausted == 5000 - retries


def test_budget_does_not_bank_a_storm() -> None:
    budget = RetryBudget(ratio=0.1, floor=10.0)
    for _ in range(100_000):
        budget.deposit()
    assert budget.tokens == budget.cap == pytest.approx(110.0)


def test_a_429_storm_exhausts_the_budget_and_is_reported() -> None:
    storm = [Fault("PUT", "/api/v2/tasks", 429) for _ in range(400)]
    storm += [Fault("POST", "/api/v2/tasks", 429) for _ in range(400)]
    policy = RetryPolicy(retry_ratio=0.1, retry_floor=2.0, max_backoff_s=0.2)
    _, ex, rec = replay("single", faults=storm, policy=policy)
    sent = rec.counters["sent"]
    retries = rec.counters.get("retries", 0)
    assert retries <= 2 + 0.1 * sent
    assert rec.counters["retry_budget_exhausted"] > 0
    counts = CallCounts.from_counters(sent, rec.counters)
    assert counts.retry_budget_exhausted == rec.counters["retry_budget_exhausted"]
    assert counts.to_json()["retry_budget_exhausted"] > 0
    assert list(ex.budgets) == ["http://127.0.0.1:9"]  # one target, one budget


def test_low_budget_pause_is_pyonfleets() -> None:
    from loadtest.replay.retry import low_budget_pause_s
    from loadtest.replay.wire import HttpResult

    def res(status: int, remaining: str | None) -> HttpResult:
        headers = {} if remaining is None else {"X-RateLimit-Remaining": remaining}
        return HttpResult(status, headers, b"")

    assert low_budget_pause_s(res(200, "4")) == 0.25
    assert low_budget_pause_s(res(200, "1")) == 1.0
    assert low_budget_pause_s(res(200, "5")) == 0.0
    assert low_budget_pause_s(res(200, None)) == 0.0
    assert low_budget_pause_s(res(200, "x")) == 0.0
    assert low_budget_pause_s(res(429, "0")) == 0.0  # the retry loop waits for a 429


def test_the_client_limiter_holds_a_pause() -> None:
    from sim.submission import ClientLimiter

    lim = ClientLimiter(20.0)
    assert lim.send_at(0.0) == 0.0
    lim.hold_until(1.0)
    assert lim.send_at(0.1) == 1.0 and lim.send_at(0.2) == pytest.approx(1.05)
    lim.hold_until(0.5)  # an earlier pause changes nothing
    assert lim.send_at(0.3) == pytest.approx(1.10)


def test_the_executor_paces_api_calls_but_not_the_driver_app() -> None:
    from loadtest.replay.executor import Executor
    from loadtest.replay.schedule import Schedule, run_open_model
    from loadtest.replay.stats import Recorder
    from loadtest.replay.wire import Targets
    from loadtest.trace.onfleet import build_trace
    from sim.submission import ClientLimiter
    from tests.fixtures.runs import make_day
    from tests.loadtest.replay.fakeapi import FakeClock, FakeOnfleet

    clock = FakeClock()
    api = FakeOnfleet(clock)
    sent: list[tuple[float, str]] = []
    real_send = api.send

    def send(method: str, url: str, *rest: Any) -> Any:
        sent.append((clock.now(), url))
        return real_send(method, url, *rest)

    api.send = send  # type: ignore[method-assign]
    ex = Executor(
        transport=api,
        targets=Targets.build("http://127.0.0.1:9", env={}),
        clock=clock,
        sleep=clock.sleep,
        recorder=Recorder(),
        run_id="run-1",
        wall_t0_ms=0,
        speedup=10.0,
    )
    ex.limiters["onfleet"] = ClientLimiter(20.0)  # 2 calls per simulated s at 10x
    _, calls = build_trace(make_day("single"))
    run_open_model(Schedule(calls, 10.0), clock, lambda fn: fn(), ex.execute, 1e9, ex.skip)
    api_times = [t for t, url in sent if "/api/v2/" in url]
    driver = [t for t, url in sent if "/emulator/v1/" in url]
    assert len(api_times) > 10 and driver
    gaps = [b - a for a, b in itertools.pairwise(api_times)]
    assert min(gaps) >= 0.05 - 1e-9  # never closer than the limiter allows


def _poll_gaps(api: Any) -> list[float]:
    return [b - a for a, b in itertools.pairwise(api.poll_times)]


def test_job_polls_refused_in_a_storm_back_off_and_pay_from_the_budget() -> None:
    """A refused job poll is polled again after the target's hint plus jitter; past the
    target's retry budget it is not given up but slowed to the slowest backoff, so a storm
    of 429s on the job status does not multiply the polls."""
    from tests.loadtest.replay.fakeapi import FakeClock, FakeOnfleet

    clock = FakeClock()
    api = FakeOnfleet(clock, latency_s=0.01, job_polls_pending=1)
    poll_times: list[float] = []
    real_send = api.send

    def send(method: str, url: str, *rest: Any) -> Any:
        if method == "GET" and "/tasks/batch/" in url:
            poll_times.append(clock.now())
        return real_send(method, url, *rest)

    api.send = send  # type: ignore[method-assign]
    api.poll_times = poll_times  # type: ignore[attr-defined]
    storm = [Fault("GET", "/api/v2/tasks/batch/", 429, headers={"Retry-After": "0"})] * 12
    policy = RetryPolicy(retry_ratio=0.0, retry_floor=3.0, max_backoff_s=1.5)
    _, _, rec = replay("batch-async", api=api, clock=clock, faults=list(storm), policy=policy)
    assert len(poll_times) == 12 + 2  # every refusal polled again, then pending, then done
    assert rec.counters["retries"] == 12
    assert rec.counters["retry_budget_exhausted"] == 12 - 3
    gaps = _poll_gaps(api)
    # The first three retries come from the budget: jittered, under the slowest backoff.
    assert len({round(g, 6) for g in gaps[:3]}) == 3
    # Past the budget each poll waits at least the slowest backoff.
    assert all(g >= 1.5 for g in gaps[3:12])
    agg = Aggregate()
    agg.merge(rec.drain())
    (flow,) = agg.flow_stats()
    assert flow.tasks_created == 6 and flow.tasks_errored == 0  # the job was not given up
