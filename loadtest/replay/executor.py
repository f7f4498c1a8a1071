"""Sending one trace call: placeholders, retries, safe creates, id mapping and flows.

Concepts held here: retrying (429 always; 5xx and lost responses only where repeating
is harmless, per each op's rule in :mod:`loadtest.trace.ops` and the backoff of
:mod:`loadtest.replay.retry`), the create check (a create whose answer was lost is looked
up on the target before it is sent again, by the checkers of
:mod:`loadtest.replay.recovery`, so nothing is silently duplicated), and :class:`Executor`,
which turns a :class:`loadtest.replay.schedule.Ready` call into HTTP through a
:class:`loadtest.replay.wire.Transport` and records samples and flows.  Answers are read by
the providers' pure readers.  No Locust, no gevent: the clock and sleep are injected.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from loadtest.providers import deftship, onfleet
from loadtest.replay.policy import (
    CREATES,
    FLOW_BATCH,
    IDEMPOTENT_CREATES,
    POLL_FLOWS,
    RECOVERED_JOB,
    SUBMIT_FLOWS,
    UNCHECKABLE_CREATES,
    run_phone,
)
from loadtest.replay.reconcile import find_created_tasks, find_worker_or_team
from loadtest.replay.recovery import check_applied
from loadtest.replay.retry import (
    RetryBudget,
    RetryPolicy,
    low_budget_pause_s,
    retry_after_s,
    transient,
)
from loadtest.replay.schedule import Clock, Ready
from loadtest.replay.stats import Recorder
from loadtest.replay.wire import (
    HttpResult,
    IdMap,
    Targets,
    Transport,
    Unresolved,
    resolve_path,
    resolve_value,
)
from loadtest.trace import ops
from loadtest.trace.format import TraceCall
from loadtest.trace.ops import OPS
from sim.submission import ClientLimiter


@dataclass(slots=True)
class Executor:
    """Sends trace calls for one process; see the module docstring."""

    transport: Transport
    targets: Targets
    clock: Clock
    sleep: Callable[[float], None]
    recorder: Recorder
    run_id: str
    wall_t0_ms: int
    speedup: float = 1.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    ids: IdMap = field(default_factory=IdMap)
    lookup_remote: bool = False
    phones: dict[int, str] = field(default_factory=dict)
    teams: dict[int, str] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    call_start: dict[int, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: The retry budget per target base URL (loadtest.replay.retry.RetryBudget).
    budgets: dict[str, RetryBudget] = field(default_factory=dict)
    #: The client-side limiter per provider, at the trace's pacing (calls per simulated
    #: second) times the speedup: every attempt, retries included, goes through it, as
    #: through an SDK's limiter, so a late burst is re-spaced instead of sent at once.
    limiters: dict[str, ClientLimiter] = field(default_factory=dict)
    #: Added to the task numbers this executor records (``--scale``: the copy's tag).
    task_tag: int = 0

    # -- entry point -------------------------------------------------------------------------
    def execute(self, ready: Ready) -> bool:
        """Send one eligible call (with retries); True when it did what the trace says."""
        try:
            return self._execute(ready)
        except Exception as exc:  # a bug or a malformed answer must not stop the replay
            self.recorder.outcome(ready.call.name, False)
            self.recorder.count("exceptions")
            self.errors.append(f"call {ready.call.id} {ready.call.op}: {type(exc).__name__}: {exc}")
            return False

    def _execute(self, ready: Ready) -> bool:
        call = ready.call
        lag_ms = (self.clock.now() - ready.intended_s) * 1000.0
        path, body, payload = "", None, None
        for _ in range(4):  # at most a few references from other processes to look up
            try:
                path = resolve_path(call, self.ids, self.run_id)
                body, payload = self._resolve_body(call)
                break
            except Unresolved as exc:
                if self.lookup_remote and self._lookup(str(exc.args[0])):
                    continue
                # Never sent: no latency sample, not counted as sent, only as unresolved.
                self.recorder.count("unresolved")
                return False
        self.recorder.lag(lag_ms, self.clock.now())
        self.recorder.count("sent")
        if call.op in CREATES and call.provider == "onfleet":
            self.recorder.expected_tasks.extend(t + self.task_tag for t in call.tasks)
        if call.op == ops.WORKER_CREATE.name and isinstance(body, dict) and "phone" in body:
            body["phone"] = run_phone(str(body["phone"]), self.run_id)
        if call.op in POLL_FLOWS and RECOVERED_JOB in path:
            ok = True  # the job's tasks were found after its answer was lost
        elif call.op in POLL_FLOWS:
            ok = self._poll(ready, path)
        else:
            ok = self._send_call(ready, path, body, payload)
            if ok and call.op == ops.TASK_DELETE.name:
                # Cancelled on purpose: reconciliation no longer looks for it.
                self.recorder.deleted_tasks.extend(t + self.task_tag for t in call.tasks)
        if ok:  # a failed call's events never happened: only success expects them
            self.recorder.expect(call, self.ids, self.run_id, self.clock.now())
        self.recorder.outcome(call.name, ok)
        return ok

    def _resolve_body(self, call: TraceCall) -> tuple[Any, bytes | None]:
        """The call's body with placeholders filled, and its encoding when that is already
        known.  Most bodies have none: those are sent as the trace holds them (never
        mutated, never copied), and the encoding that showed there is none (every
        placeholder and reference starts with ``$``, which JSON never escapes) is the one
        sent, so the body is encoded once.  A worker create's body is changed afterwards
        (its phone), so it is always a copy, encoded when sent."""
        if call.body is None:
            return None, None
        if call.op == ops.WORKER_CREATE.name:
            return resolve_value(call.body, self.ids, self.run_id), None
        raw = orjson.dumps(call.body)
        if b"$" not in raw:
            return call.body, raw
        return resolve_value(call.body, self.ids, self.run_id), None

    def skip(self, ready: Ready) -> None:
        """Record a call not sent because a call it depends on failed."""
        self.recorder.count("skipped")

    def _lookup(self, ref: str) -> bool:
        """Find a reference another process created (bounded wait)."""
        kind, _, num = ref.partition(":")
        if kind not in ("worker", "team"):
            return False
        deadline = self.clock.now() + self.policy.budget_s
        key = self.key(kind, int(num))
        while key is not None and self.clock.now() < deadline:
            found = find_worker_or_team(self.get, kind, key)
            if found:
                self.ids.set(ref, found)
                return True
            self.sleep(0.2)
        return False

    def key(self, kind: str, num: int) -> str | None:
        """What a worker (its phone, as this run sends it) or a team (name) is found by."""
        if kind == "worker":
            phone = self.phones.get(num)
            return run_phone(phone, self.run_id) if phone else None
        return self.teams.get(num)

    # -- HTTP with retries ------------------------------------------------------------------
    def get(self, provider: str, path: str, name: str) -> HttpResult:
        url = self.targets.base(provider) + path
        return self.transport.send(
            "GET", url, self.targets.headers(provider), None, name, self.policy.timeout_s
        )

    def _once(
        self, ready: Ready, method: str, path: str, body: bytes | None
    ) -> tuple[HttpResult, tuple[float, float]]:
        """One attempt; the sample is recorded by the caller (:meth:`_sample`) once it
        knows whether a failed attempt will be retried."""
        call = ready.call
        url = self.targets.base(call.provider) + path
        spec = OPS.get(call.op)
        batchy = spec is not None and spec.batch
        timeout = self.policy.batch_timeout_s if batchy else self.policy.timeout_s
        limiter = self.limiters.get(call.provider)
        if limiter is not None and not (spec is not None and spec.driver_app):
            now = self.clock.now()
            slot = limiter.send_at(now)
            if slot > now:
                self.sleep(slot - now)
        t0 = self.clock.now()
        res = self.transport.send(
            method, url, self.targets.headers(call.provider), body, call.name, timeout
        )
        if limiter is not None:
            back_off_s = low_budget_pause_s(res)
            if back_off_s:  # pyonfleet's pause near the limit, in simulated seconds
                limiter.hold_until(self.clock.now() + back_off_s / self.speedup)
        if res.status == 0:
            self.recorder.count("no_response")
        elif res.status in (401, 403):
            self.recorder.count("unauthorised")
        elif res.status == 429:
            self.recorder.count("rate_limited")
        return res, (t0, self.clock.now())

    def _sample(
        self, ready: Ready, res: HttpResult, times: tuple[float, float], retried: bool = False
    ) -> None:
        """Record one attempt; a failed attempt that is retried is not an endpoint error."""
        t0, t1 = times
        self.recorder.request(
            ready.call.name,
            t0,
            (t1 - t0) * 1000.0,
            (t1 - ready.intended_s) * 1000.0,
            res.ok,
            retried=retried and not res.ok,
        )

    def _send_call(self, ready: Ready, path: str, body: Any, encoded: bytes | None = None) -> bool:
        """Send ``body`` (already ``encoded``, if given) with retries; True when done."""
        call = ready.call
        started = self.clock.now()
        deadline = started + self.policy.budget_s
        payload = encoded if encoded is not None or body is None else orjson.dumps(body)
        res: HttpResult | None = None
        budget = self._budget(call.provider)
        budget.deposit()
        for attempt in range(self.policy.max_attempts):
            res, times = self._once(ready, call.method, path, payload)
            if res.ok:
                self._sample(ready, res, times)
                return self._handle(ready, res, started)
            wait: float | None
            if res.status == 429:
                wait = self.policy.after_refusal(retry_after_s(res), attempt, self.rng)
            elif res.status >= 500 or res.status in (0, 408, 412):
                if (
                    res.status == 412
                    or call.method in ("GET", "PUT", "DELETE")
                    or (call.op in IDEMPOTENT_CREATES)
                ):
                    wait = self.policy.backoff(attempt, self.rng)
                elif call.op in UNCHECKABLE_CREATES:
                    # No way to look it up: report it rather than risk a duplicate.
                    self.recorder.count("lost_not_resent")
                    self._sample(ready, res, times)
                    return self._fail(ready, res, started)
                else:
                    # The request may have been applied: check before sending it again.
                    self.recorder.count("checked_before_retry")
                    verdict, body = check_applied(self, call, body, started, self.wall_t0_ms)
                    if verdict is True:
                        self._sample(ready, res, times, retried=True)
                        return True
                    if verdict is None:  # cannot tell: never resend blindly
                        self.recorder.count("lost_not_resent")
                        self._sample(ready, res, times)
                        return self._fail(ready, res, started)
                    payload = orjson.dumps(body)
                    wait = retry_after_s(res) or self.policy.backoff(attempt, self.rng)
            elif res.status == 400 and call.op == ops.DRIVER_START.name and self.lookup_remote:
                # Split over processes, this worker's previous task may be finishing in
                # another process (an ``after`` edge not waited for): try again shortly.
                self.recorder.count("ordering_retries")
                wait = self.policy.backoff(attempt, self.rng)
            elif res.status == 409 and call.op == ops.ORDER_TRACK.name and attempt > 0:
                # A resend after a lost answer: HyperTrack says the order exists.
                self._sample(ready, res, times, retried=True)
                self.recorder.count("recovered")
                return True
            elif (
                res.status == 400 and call.op == ops.WORKER_CREATE.name and self._known_worker(call)
            ):
                # The phone is taken (e.g. by an earlier replay with the same run id):
                # use that worker rather than fail everything assigned to it.
                self._sample(ready, res, times, retried=True)
                self.recorder.count("workers_reused")
                return True
            else:
                self._sample(ready, res, times)
                return self._fail(ready, res, started)
            last = attempt == self.policy.max_attempts - 1
            if last or self.clock.now() + wait > deadline:
                self._sample(ready, res, times)
                break
            if not budget.withdraw():  # retries past the target's budget add only load
                self.recorder.count("retry_budget_exhausted")
                self._sample(ready, res, times)
                break
            self._sample(ready, res, times, retried=True)
            self.recorder.count("retries")
            self.sleep(wait)
        return self._fail(ready, res, started)

    def _known_worker(self, call: TraceCall) -> bool:
        """After a 400 to a worker create: map the worker that already has its phone."""
        kind, _, num = call.defines.partition(":")
        key = self.key(kind, int(num)) if kind == "worker" and num.isdigit() else None
        found = find_worker_or_team(self.get, "worker", key) if key else None
        if found:
            self.ids.set(call.defines, found)
        return found is not None

    def _fail(self, ready: Ready, res: HttpResult | None, started: float) -> bool:
        """A call that finally failed; a failed submit is a failed flow with every task
        errored (its poll, if any, is skipped, so it is counted here once)."""
        flow = SUBMIT_FLOWS.get(ready.call.op)
        if flow is not None:
            n = len(ready.call.tasks)
            self.recorder.flow(flow, self.clock.now() - started, 0, 0, n, False)
            self.recorder.count("tasks_errored", n)
        return False

    # -- look-ups (also what :mod:`loadtest.replay.recovery` checks through) ---------------
    def find_tasks(self, wanted: set[int], since_ms: int) -> dict[str, str]:
        return find_created_tasks(
            self.get, self.run_id, wanted, since_ms, self.sleep, self.policy.budget_s
        )

    # -- responses ------------------------------------------------------------------------------
    def _handle(self, ready: Ready, res: HttpResult, started: float) -> bool:
        call = ready.call
        op = call.op
        data: Any = orjson.loads(res.body) if res.body else None
        self.call_start[call.id] = started  # a later poll measures its flow from here
        if op == ops.TASK_BATCH.name:
            answer = onfleet.batch_answer(data)
            self.ids.map_tasks(answer.tasks, self.run_id)
            self.recorder.flow(
                FLOW_BATCH,
                self.clock.now() - started,
                0,
                len(answer.tasks),
                len(answer.errors),
                True,
            )
            self.recorder.count("tasks_errored", len(answer.errors))
            return True
        if call.defines:
            sid = onfleet.created_id(data)
            if sid is not None:
                self.ids.set(call.defines, sid)
        return True

    def _poll(self, ready: Ready, path: str) -> bool:
        """Poll a job until it is final; record the flow from the call that started it."""
        call = ready.call
        t_submit = (
            self.call_start.pop(call.deps[0], ready.intended_s) if call.deps else (ready.intended_s)
        )
        interval = max(call.poll_s / self.speedup, self.policy.min_poll_s)
        deadline = self.clock.now() + self.policy.poll_budget_s
        polls = refused = 0
        flow = POLL_FLOWS.get(call.op, call.op)
        self._budget(call.provider).deposit()  # the poll is a call; polling again, a retry
        while True:
            polls += 1
            res, times = self._once(ready, "GET", path, None)
            self._sample(ready, res, times, retried=not res.ok and transient(res))
            if res.ok:
                verdict = self._poll_verdict(call, orjson.loads(res.body))
                if verdict is not None:
                    ok, created, errored = verdict
                    self.recorder.count("tasks_errored", errored)
                    self.call_start[call.id] = self.clock.now()
                    self.recorder.flow(
                        flow, self.clock.now() - t_submit, polls, created, errored, ok
                    )
                    return ok
                wait, refused = interval, 0
            elif transient(res):
                wait = self._poll_retry_wait(call, res, interval, refused)
                refused += 1
            else:
                break
            if self.clock.now() + wait > deadline:
                break
            self.sleep(wait)
        self.recorder.flow(flow, self.clock.now() - t_submit, polls, 0, len(call.tasks), False)
        self.recorder.count("tasks_errored", len(call.tasks))
        return False

    def _poll_retry_wait(
        self, call: TraceCall, res: HttpResult, interval: float, refused: int
    ) -> float:
        """The wait before polling again after a refused or failed poll: the poll interval
        or the target's hint, whichever is longer, plus full jitter (so the polls one window
        refused do not come back together).
        The poll again is a retry, paid from the target's budget like any other; past the
        budget the job is not given up (its tasks may well exist) but polled at the
        slowest backoff, so a storm of 429s slows the polls instead of multiplying them."""
        self.recorder.count("retries")
        hint = max(interval, retry_after_s(res) or 0.0)
        wait = hint + self.policy.backoff(refused, self.rng)  # refused: the earlier in a row
        if not self._budget(call.provider).withdraw():
            self.recorder.count("retry_budget_exhausted")
            wait = max(wait, self.policy.max_backoff_s)
        return wait

    def _budget(self, provider: str) -> RetryBudget:
        """The retry budget of the provider's target (shared by every call to it)."""
        base = self.targets.base(provider)
        return self.budgets.get(base) or self.budgets.setdefault(base, self.policy.budget())

    def _poll_verdict(self, call: TraceCall, data: Any) -> tuple[bool, int, int] | None:
        """None while the job runs; else (succeeded, items created, items errored)."""
        if call.op == ops.TASK_BATCH_STATUS.name:
            job = onfleet.job_status(data)
            if not job.final:
                return None
            self.ids.map_tasks(list(job.new_tasks), self.run_id)
            if job.failed:  # final, and the job itself failed
                return False, job.created, max(job.errored, len(call.tasks) - job.created)
            return True, job.created, job.errored
        batch = deftship.batch_status(data)
        if call.op == ops.DEFTSHIP_WAIT_READY.name and batch.status in deftship.VALIDATED:
            return batch.status != "invalid", batch.valid_count, batch.invalid_count
        if call.op == ops.DEFTSHIP_WAIT_SHIPPED.name and batch.status in deftship.SHIPPED:
            return batch.status == "completed", batch.completed_count, batch.failed_count
        return None
