"""Retrying a call: how many times, how long to back off, and what the target asks for.

Concepts held here: :class:`RetryPolicy` (bounded attempts, exponential backoff with
jitter, time budgets and poll limits), :func:`retry_after_s` (``Retry-After`` and the
rate-limit headers) and :func:`transient` (answers worth another attempt).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from loadtest.replay.wire import HttpResult


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter."""

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

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return float(min(self.max_backoff_s, self.base_s * 2**attempt) * (0.5 + rng.random()))


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


def transient(res: HttpResult) -> bool:
    return res.status == 429 or res.status >= 500 or res.status == 0
