"""Retrying a call: how many times, how long to back off, and what the target asks for.

Concepts held here: :class:`RetryPolicy` (bounded attempts, exponential backoff with
full jitter, time budgets and poll limits), :class:`RetryBudget` (retries per target
bounded by a share of its calls), :func:`retry_after_s` (``Retry-After`` and the
rate-limit headers) and :func:`transient` (answers worth another attempt).

Why both: without jitter, every call refused in the same rolling window waits the same
time and comes back together, to be refused together again; without a budget, a storm of
429s multiplies the offered load by the attempt count just when the target is shedding it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from loadtest.replay.wire import HttpResult


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter (AWS's "full jitter":
    a uniform wait between 0 and the exponential cap), inside a time budget."""

    max_attempts: int = 6
    base_s: float = 0.1
    max_backoff_s: float = 5.0
    budget_s: float = 30.0
    timeout_s: float = 15.0
    batch_timeout_s: float = 60.0
    min_poll_s: float = 0.1
    poll_budget_s: float = 120.0
    #: A lost async-batch answer is checked this long after the send (plus
    #: ``async_settle_per_task_s`` per task), once the job could have finished.
    async_settle_s: float = 5.0
    async_settle_per_task_s: float = 0.005

    #: The retry budget per target (:class:`RetryBudget`): retries may add at most
    #: ``retry_ratio`` of the calls, plus ``retry_floor`` to start with.
    retry_ratio: float = 0.1
    retry_floor: float = 10.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in ``[0, min(max_backoff_s, base_s * 2**attempt)]``."""
        return float(rng.uniform(0.0, min(self.max_backoff_s, self.base_s * 2**attempt)))

    def after_refusal(self, hint_s: float | None, attempt: int, rng: random.Random) -> float:
        """The wait after a 429: the target's hint (``Retry-After`` or the rate-limit
        headers) when it gave one, plus full jitter, so the calls one window refused do
        not all come back in the same instant."""
        return (hint_s or 0.0) + self.backoff(attempt, rng)

    def budget(self) -> RetryBudget:
        return RetryBudget(self.retry_ratio, self.retry_floor)


class RetryBudget:
    """A token bucket of retries for one target (gRPC's retry throttling, Finagle's
    RetryBudget): each call deposits ``ratio`` of a token, each retry withdraws one, and
    it starts with ``floor`` tokens (and never holds more than ``floor`` plus what 1,000
    calls deposit, so a calm hour does not bank a storm).  So retries never exceed
    ``floor + ratio * calls``: 10% more load at most, however many calls are refused.
    """

    __slots__ = ("cap", "exhausted", "ratio", "tokens")

    def __init__(self, ratio: float = 0.1, floor: float = 10.0) -> None:
        if not (ratio >= 0.0 and floor >= 0.0):
            raise ValueError(f"retry budget: ratio {ratio} and floor {floor} must be >= 0")
        self.ratio = ratio
        self.tokens = floor
        self.cap = floor + 1000.0 * ratio
        #: Retries refused for want of budget (``retry_budget_exhausted`` in results).
        self.exhausted = 0

    def deposit(self) -> None:
        """A call was sent (its first attempt)."""
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        """May a retry go?  Takes a token if so; counts a refusal if not."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.exhausted += 1
        return False


def retry_after_s(res: HttpResult) -> float | None:
    """Seconds to wait from ``Retry-After`` or the rate-limit headers (None: not said)."""
    ra = res.header("Retry-After")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            return None
    remaining = res.header("X-RateLimit-Remaining")
    limit = res.header("X-RateLimit-Limit")
    if remaining is not None and limit:
        try:
            if int(remaining) <= 0:
                # A rolling one-second window: one slot frees every 1/limit seconds.
                return 1.0 / max(1, int(limit))
        except ValueError:
            return None
    return None


#: pyonfleet pauses ``1 / remaining`` seconds after an answer whose
#: ``X-RateLimit-Remaining`` is below this (API-NOTES §1.3; onfleet/request.py).
LOW_BUDGET = 5


def low_budget_pause_s(res: HttpResult) -> float:
    """The pause (target seconds) a client takes after ``res`` because the target says
    its rate budget is nearly spent, as pyonfleet does: ``1 / remaining`` when
    ``X-RateLimit-Remaining`` is 1..4; 0 otherwise (a 429 is the retry loop's business)."""
    remaining = res.header("X-RateLimit-Remaining")
    if remaining is None or not res.ok:
        return 0.0
    try:
        left = int(remaining)
    except ValueError:
        return 0.0
    return 1.0 / left if 0 < left < LOW_BUDGET else 0.0


def transient(res: HttpResult) -> bool:
    return res.status == 429 or res.status >= 500 or res.status == 0
