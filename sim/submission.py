"""Submission: how the merchant's system sends tasks to the platform.

Modes (``submission.mode``):

* ``single`` -- one ``POST /tasks`` per task, as each order arrives;
* ``batch`` -- orders wait in a buffer that is flushed when the next order would push it
  past ``batch_size`` (≤ 500) tasks, and every ``flush_s`` seconds; one
  ``POST /tasks/batch`` per flush, and all its tasks exist when the response comes;
* ``batch-async`` -- the same flushes as ``POST /tasks/batch-async`` jobs; the platform
  works through jobs one at a time at ``async_tasks_per_s`` and each task exists from the
  moment the job has processed it.

Requests leave through a :class:`ClientLimiter` at ``rate_limit_rps`` (the platform's
limit, as the official SDKs pace themselves), and the response takes ``api_delay_s``
(+ ``batch_delay_per_task_s`` per task for a sync batch).
An order's tasks always travel in one request so dependencies stay inside a batch.
This module is pure: it plans the calls from the order times; the model replays them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Final

from sim.demand import Order
from sim.scenario import Submission


class ClientLimiter:
    """A client-side rate limiter as the official SDKs run one: calls leave in the order
    they are ready, at least ``1 / rate_per_s`` apart.

    pyonfleet caps itself at 20 calls/s and node-onfleet spaces calls 50 ms apart (a
    reservoir of 20 per second); even spacing is the form of that cap that never puts
    more than ``rate_per_s`` calls in any one-second window, which is what a rolling-window
    server limit counts.  The simulator's submission model and the trace writer
    (``loadtest.trace``) both pace through this class, so they agree on the numbers.
    ``rate_per_s`` None or 0: no limiter (calls leave when ready).
    """

    __slots__ = ("gap_s", "next_free_s")

    def __init__(self, rate_per_s: float | None) -> None:
        if rate_per_s is not None and not (math.isfinite(rate_per_s) and rate_per_s >= 0):
            raise ValueError(f"client rate must be a finite number >= 0, not {rate_per_s!r}")
        self.gap_s = 1.0 / rate_per_s if rate_per_s else 0.0
        self.next_free_s = -math.inf

    def hold_until(self, t_s: float) -> None:
        """No call leaves before ``t_s`` (a pause the target asked for)."""
        if t_s > self.next_free_s:
            self.next_free_s = t_s

    def send_at(self, ready_s: float) -> float:
        """When a call ready at ``ready_s`` leaves (calls must come in ready order)."""
        sent = ready_s if ready_s >= self.next_free_s else self.next_free_s
        self.next_free_s = sent + self.gap_s
        return sent


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One API call the merchant makes and the tasks it creates."""

    submission_id: int
    mode: str
    sent_s: float
    acked_s: float
    task_ids: tuple[int, ...]
    #: When each task of ``task_ids`` exists on the platform (same order).
    created_s: tuple[float, ...]
    job_id: str

    @property
    def available_s(self) -> float:
        return max(self.created_s) if self.created_s else self.acked_s


_CALL_SETTERS: Final = tuple(getattr(PlannedCall, f.name).__set__ for f in fields(PlannedCall))


def _flush_groups(orders: Sequence[Order], cfg: Submission) -> list[tuple[float, list[int]]]:
    """(flush time, task ids) per batch: size-triggered or on the ``flush_s`` tick."""
    groups: list[tuple[float, list[int]]] = []
    buf: list[int] = []
    last_t = 0.0
    for order in orders:
        # Ticks that fell while this order was on its way flush what was waiting.
        if buf:
            tick = (math.floor(last_t / cfg.flush_s) + 1) * cfg.flush_s
            if tick <= order.ordered_s:
                groups.append((tick, buf))
                buf = []
        if buf and len(buf) + len(order.task_ids) > cfg.batch_size:
            groups.append((last_t, buf))
            buf = []
        buf.extend(order.task_ids)
        last_t = order.ordered_s
        if len(buf) >= cfg.batch_size:
            groups.append((order.ordered_s, buf))
            buf = []
    if buf:
        tick = (math.floor(last_t / cfg.flush_s) + 1) * cfg.flush_s
        groups.append((tick, buf))
    return groups


def plan_submissions(orders: Sequence[Order], cfg: Submission) -> list[PlannedCall]:
    """All calls of the day, in the order they are sent."""
    limiter = ClientLimiter(cfg.rate_limit_rps)
    calls: list[PlannedCall] = []
    if cfg.mode == "single":
        # One call per task (200,000 of them in an M/M/20 benchmark run): built through
        # the slots' setters, the same objects as PlannedCall(...) at a third of the cost
        # of a frozen dataclass's __init__ (object.__setattr__ per field).
        new = object.__new__
        s_id, s_mode, s_sent, s_acked, s_ids, s_created, s_job = _CALL_SETTERS
        delay = cfg.api_delay_s
        for order in orders:
            for tid in order.task_ids:
                sent = limiter.send_at(order.ordered_s)
                acked = sent + delay
                c = new(PlannedCall)
                s_id(c, len(calls))
                s_mode(c, "single")
                s_sent(c, sent)
                s_acked(c, acked)
                s_ids(c, (tid,))
                s_created(c, (acked,))
                s_job(c, "")
                calls.append(c)
        return calls
    job_free = -math.inf
    for flush_s, ids in _flush_groups(orders, cfg):
        sent = limiter.send_at(flush_s)
        n = len(ids)
        if cfg.mode == "batch":
            acked = sent + cfg.api_delay_s + cfg.batch_delay_per_task_s * n
            created = (acked,) * n
            job = ""
        else:
            acked = sent + cfg.api_delay_s
            start = max(acked, job_free)
            step = 1.0 / cfg.async_tasks_per_s
            created = tuple(start + (j + 1) * step for j in range(n))
            job_free = created[-1]
            job = f"job{len(calls):06d}"
        calls.append(PlannedCall(len(calls), cfg.mode, sent, acked, tuple(ids), created, job))
    return calls
