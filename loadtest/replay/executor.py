"""Sending one trace call: placeholders, retries, safe creates, id mapping and flows.

Concepts held here: retrying (429 always; 5xx and lost responses only where repeating
is harmless, per :mod:`loadtest.replay.policy`), the create check (a create whose answer was
lost is looked up on the target before it is sent again, so nothing is silently
duplicated), and
:class:`Executor`, which turns a :class:`loadtest.replay.schedule.Ready` call into HTTP through a
:class:`loadtest.replay.wire.Transport` and records samples and flows.  No Locust, no gevent:
the clock and sleep are injected.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from loadtest.replay.policy import (
    CREATES,
    FAILED_STATES,
    FLOW_ASYNC,
    FLOW_BATCH,
    IDEMPOTENT_CREATES,
    PENDING_STATES,
    POLL_FLOWS,
    RECOVERED_JOB,
    SUBMIT_FLOWS,
    UNCHECKABLE_CREATES,
    RetryPolicy,
    meta_task,
    order_handle,
    retry_after_s,
    run_phone,
    transient,
)
from loadtest.replay.reconcile import find_created_tasks, find_worker_or_team
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

    # -- entry point -------------------------------------------------------------------------
    def execute(self, ready: Ready) -> bool:
        """Send one eligible call (with retries); True when it did what the trace says."""
        try:
            return self._execute(ready)
        except Exception as exc:  # a bug or a malformed answer must not stop the replay
            self.recorder.count("failed")
            self.recorder.count("exceptions")
            self.errors.append(f"call {ready.call.id} {ready.call.op}: {type(exc).__name__}: {exc}")
            return False

    def _execute(self, ready: Ready) -> bool:
        call = ready.call
        lag_ms = (self.clock.now() - ready.intended_s) * 1000.0
        path, body = "", None
        for _ in range(4):  # at most a few references from other processes to look up
            try:
                path = resolve_path(call, self.ids, self.run_id)
                body = resolve_value(call.body, self.ids, self.run_id)
                break
            except Unresolved as exc:
                if self.lookup_remote and self._lookup(str(exc.args[0])):
                    continue
                # Never sent: no latency sample, not counted as sent, only as unresolved.
                self.recorder.count("unresolved")
                return False
        self.recorder.lag(lag_ms)
        self.recorder.count("sent")
        if call.op in CREATES and call.provider == "onfleet":
            self.recorder.expected_tasks.extend(call.tasks)
        if call.op == ops.WORKER_CREATE.name and isinstance(body, dict) and "phone" in body:
            body["phone"] = run_phone(str(body["phone"]), self.run_id)
        if call.op in POLL_FLOWS and RECOVERED_JOB in path:
            ok = True  # the job's tasks were found after its answer was lost
        elif call.op in POLL_FLOWS:
            ok = self._poll(ready, path)
        else:
            ok = self._send_call(ready, path, body)
        self.recorder.count("ok" if ok else "failed")
        return ok

    def skip(self, ready: Ready) -> None:
        """Record a call not sent because a call it depends on failed."""
        self.recorder.count("skipped")

    def _lookup(self, ref: str) -> bool:
        """Find a reference another process created (bounded wait)."""
        kind, _, num = ref.partition(":")
        if kind not in ("worker", "team"):
            return False
        deadline = self.clock.now() + self.policy.budget_s
        key = self._key(kind, int(num))
        while key is not None and self.clock.now() < deadline:
            found = find_worker_or_team(self._get, kind, key)
            if found:
                self.ids.set(ref, found)
                return True
            self.sleep(0.2)
        return False

    def _key(self, kind: str, num: int) -> str | None:
        """What a worker (its phone, as this run sends it) or a team (name) is found by."""
        if kind == "worker":
            phone = self.phones.get(num)
            return run_phone(phone, self.run_id) if phone else None
        return self.teams.get(num)

    # -- HTTP with retries ------------------------------------------------------------------
    def _get(self, provider: str, path: str, name: str) -> HttpResult:
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
        t0 = self.clock.now()
        res = self.transport.send(
            method, url, self.targets.headers(call.provider), body, call.name, timeout
        )
        if res.status == 0:
            self.recorder.count("no_response")
        elif res.status in (401, 403):
            self.recorder.count("unauthorised")
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

    def _send_call(self, ready: Ready, path: str, body: Any) -> bool:
        call = ready.call
        started = self.clock.now()
        deadline = started + self.policy.budget_s
        payload = None if body is None else orjson.dumps(body)
        res: HttpResult | None = None
        for attempt in range(self.policy.max_attempts):
            res, times = self._once(ready, call.method, path, payload)
            if res.ok:
                self._sample(ready, res, times)
                return self._handle(ready, res, started)
            wait: float | None
            if res.status == 429:
                wait = retry_after_s(res)
                wait = self.policy.backoff(attempt, self.rng) if wait is None else wait
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
                    verdict, body = self._check_applied(call, body, started)
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
            self._sample(ready, res, times, retried=True)
            self.recorder.count("retries")
            self.sleep(wait)
        return self._fail(ready, res, started)

    def _known_worker(self, call: TraceCall) -> bool:
        """After a 400 to a worker create: map the worker that already has its phone."""
        kind, _, num = call.defines.partition(":")
        key = self._key(kind, int(num)) if kind == "worker" and num.isdigit() else None
        found = find_worker_or_team(self._get, "worker", key) if key else None
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

    # -- the create check ---------------------------------------------------------------------
    def _check_applied(self, call: TraceCall, body: Any, started: float) -> tuple[bool | None, Any]:
        """(True, _) if a lost request took effect; (False, the body to resend) if it did
        not; (None, _) if that cannot be told (the call is then failed, never resent)."""
        since_ms = self.wall_t0_ms + int(started * 1000) - 5000
        if call.op == ops.TASK_BATCH_ASYNC.name:
            return self._check_async_batch(call, body, started, since_ms), body
        if call.op == ops.ORDER_TRACK.name:
            handle = order_handle(body)
            if handle is None:
                return None, body
            res = self._get(
                ops.ORDER_GET.provider,
                ops.ORDER_GET.path.replace("{orderHandle}", handle),
                f"{ops.ORDER_GET.method} {ops.ORDER_GET.path}",
            )
            if res.ok:
                self.recorder.count("recovered")
                return True, body
            return (False, body) if res.status == 404 else (None, body)
        if call.op in (ops.TASK_CREATE.name, ops.TASK_BATCH.name):
            try:
                found = self._find_tasks(set(call.tasks), since_ms)
            except RuntimeError:
                return None, body  # cannot list: do not risk a duplicate
            for ref, sid in found.items():
                self.ids.set(ref, sid)
            if call.op == ops.TASK_CREATE.name:
                if found:
                    self.recorder.count("recovered")
                    return True, body
                return False, body
            missing = [t for t in body["tasks"] if f"task:{meta_task(t)}" not in found]
            if not missing:
                self.recorder.count("recovered")
                self.recorder.flow(FLOW_BATCH, self.clock.now() - started, 0, len(found), 0, True)
                return True, body
            return False, {**body, "tasks": missing}
        if call.op in (ops.WORKER_CREATE.name, ops.TEAM_CREATE.name):
            kind, _, num = call.defines.partition(":")
            key = self._key(kind, int(num))
            found_id = find_worker_or_team(self._get, kind, key) if key else None
            if found_id:
                self.ids.set(call.defines, found_id)
                self.recorder.count("recovered")
                return True, body
            return False, body
        if call.op == ops.TASK_COMPLETE.name or call.op == ops.DRIVER_START.name:
            want = 3 if call.op == ops.TASK_COMPLETE.name else 2
            task_id = self.ids.get(f"task:{call.tasks[0]}") if call.tasks else None
            if task_id:
                res = self._get(
                    ops.TASK_GET.provider,
                    ops.TASK_GET.path.replace("{taskId}", task_id),
                    f"{ops.TASK_GET.method} {ops.TASK_GET.path}",
                )
                if res.ok and orjson.loads(res.body).get("state", -1) >= want:
                    self.recorder.count("recovered")
                    return True, body
            return False, body
        # Driver-app duty and move set absolute state, so repeating them is harmless.
        return False, body

    def _find_tasks(self, wanted: set[int], since_ms: int) -> dict[str, str]:
        return find_created_tasks(
            self._get, self.run_id, wanted, since_ms, self.sleep, self.policy.budget_s
        )

    def _check_async_batch(
        self, call: TraceCall, body: Any, started: float, since_ms: int
    ) -> bool | None:
        """A lost async-batch answer: once the job could have finished, list this run's
        tasks.  All there: recovered (the poll is not sent).  None there: not applied,
        resend.  Some there: the job ran (or still runs): never resend, fail."""
        wanted = {meta_task(t) for t in body.get("tasks", [])} if isinstance(body, dict) else set()
        if not wanted:
            return None
        settle = self.policy.async_settle_s + self.policy.async_settle_per_task_s * len(wanted)
        self.sleep(max(0.0, started + settle - self.clock.now()))
        try:
            found = self._find_tasks(wanted, since_ms)
        except RuntimeError:
            return None
        if not found:
            return False
        for ref, sid in found.items():
            self.ids.set(ref, sid)
        if len(found) < len(wanted):
            return None
        self.recorder.count("recovered")
        if call.defines:
            self.ids.set(call.defines, RECOVERED_JOB)
        self.recorder.flow(FLOW_ASYNC, self.clock.now() - started, 0, len(found), 0, True)
        return True

    # -- responses ------------------------------------------------------------------------------
    def _handle(self, ready: Ready, res: HttpResult, started: float) -> bool:
        call = ready.call
        op = call.op
        data: Any = orjson.loads(res.body) if res.body else None
        self.call_start[call.id] = started  # a later poll measures its flow from here
        if op == ops.TASK_BATCH.name:
            tasks = data.get("tasks", []) if isinstance(data, dict) else []
            errors = data.get("errors", []) if isinstance(data, dict) else []
            self.ids.map_tasks(tasks, self.run_id)
            self.recorder.flow(
                FLOW_BATCH, self.clock.now() - started, 0, len(tasks), len(errors), True
            )
            self.recorder.count("tasks_errored", len(errors))
            return True
        if call.defines and isinstance(data, dict):
            inner = data.get("data")
            sid = data.get("jobId") or data.get("id")
            if sid is None and isinstance(inner, dict):
                sid = inner.get("id")
            if isinstance(sid, str | int) and not isinstance(sid, bool):
                self.ids.set(call.defines, str(sid))
        return True

    def _poll(self, ready: Ready, path: str) -> bool:
        """Poll a job until it is final; record the flow from the call that started it."""
        call = ready.call
        t_submit = (
            self.call_start.pop(call.deps[0], ready.intended_s) if call.deps else (ready.intended_s)
        )
        interval = max(call.poll_s / self.speedup, self.policy.min_poll_s)
        deadline = self.clock.now() + self.policy.poll_budget_s
        polls = 0
        flow = POLL_FLOWS.get(call.op, call.op)
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
                wait = interval
            elif transient(res):
                wait = retry_after_s(res) or max(interval, self.policy.base_s)
            else:
                break
            if self.clock.now() + wait > deadline:
                break
            self.sleep(wait)
        self.recorder.flow(flow, self.clock.now() - t_submit, polls, 0, len(call.tasks), False)
        self.recorder.count("tasks_errored", len(call.tasks))
        return False

    def _poll_verdict(self, call: TraceCall, data: Any) -> tuple[bool, int, int] | None:
        """None while the job runs; else (succeeded, items created, items errored)."""
        if call.op == ops.TASK_BATCH_STATUS.name:
            status = str(data.get("status", "")).lower()
            if status in PENDING_STATES:
                return None
            new = [*data.get("newTasks", []), *data.get("newTasksWithWarnings", [])]
            self.ids.map_tasks(new, self.run_id)
            created = int(data.get("tasksCreated", len(new)))
            if status in FAILED_STATES:  # final, and the job itself failed
                errored = max(int(data.get("tasksErrored", 0)), len(call.tasks) - created)
                return False, created, errored
            return True, created, int(data.get("tasksErrored", 0))
        inner = data.get("data") if isinstance(data, dict) else None
        status = str(inner.get("status", "")) if isinstance(inner, dict) else ""
        counts = inner.get("results") or {} if isinstance(inner, dict) else {}
        if call.op == ops.DEFTSHIP_WAIT_READY.name and status in ("ready", "invalid", "completed"):
            return (
                status != "invalid",
                int(counts.get("valid_count", 0)),
                int(counts.get("invalid_count", 0)),
            )
        if call.op == ops.DEFTSHIP_WAIT_SHIPPED.name and status in ("completed", "invalid"):
            return (
                status == "completed",
                int(counts.get("completed_count", 0)),
                int(counts.get("failed_count", 0)),
            )
        return None
