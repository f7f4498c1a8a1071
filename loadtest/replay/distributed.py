"""The per-process replay session, and the master/worker protocol it speaks.

Concepts held here: a process's :class:`Role`; :class:`MessageBus` (the part of a Locust
runner the session uses); and :class:`ReplaySession`, one process's replay state (the
recorder, the plan, the sample reporter, the partition run, the merged aggregate) with the
start, claim, stop and collect steps of a test, the webhook grace and an abort.
:class:`Collected` is what the master (or a lone process) holds at the end, ready for
:func:`loadtest.replay.finalize.finalize`.  The messages themselves (names, typed bodies,
checked reading) are :mod:`loadtest.replay.protocol`, re-exported here.

A test, on the wire (a lone process skips the messages)::

    master                                   worker i
    start ──────── MSG_PLAN (plan i) ───────► start_worker: reset, ship samples every 2 s
          ◄─────── MSG_DATA (samples) ─────── ship_samples (only when there are any)
          ◄─────── MSG_DONE (index) ───────── its partition is done; all done: the test ends
                                                  (after the webhook grace, with --webhooks)
          ◄─────── MSG_ABORT (index, error) ─ it cannot run (webhook registration refused)
    collect ────── MSG_FLUSH ───────────────► stop the run, drain
          ◄─────── MSG_FINAL (samples, cpu) ─
    merge, then finalize (waits at most FLUSH_TIMEOUT_S for every final)

Samples travel as our own messages, which the master accepts from any worker (Locust drops
stats reports from a worker it has marked missing under load).  Imports gevent but never
Locust: the runner arrives as a :class:`MessageBus`, so the protocol is tested in-process.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import gevent
from gevent.event import Event

from loadtest.replay.partition import PartitionRun, ReplayPlan
from loadtest.replay.protocol import (
    MSG_ABORT,
    MSG_DATA,
    MSG_DONE,
    MSG_FINAL,
    MSG_FLUSH,
    MSG_GO,
    MSG_HOOKS_READY,
    MSG_PLAN,
    AbortMessage,
    DoneMessage,
    FinalMessage,
    PlanMessage,
    ProtocolError,
    SamplesMessage,
    abort_from_message,
    done_from_message,
    final_from_message,
    plan_from_message,
    plan_to_message,
    samples_from_message,
)
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.wire import Targets, Transport

log = logging.getLogger("fleetsim.replay")

#: The messages live in :mod:`loadtest.replay.protocol`; named here too, where the
#: session that speaks them is.
__all__ = [
    "MSG_ABORT",
    "MSG_DATA",
    "MSG_DONE",
    "MSG_FINAL",
    "MSG_FLUSH",
    "MSG_GO",
    "MSG_HOOKS_READY",
    "MSG_PLAN",
    "AbortMessage",
    "Collected",
    "DoneMessage",
    "FinalMessage",
    "MessageBus",
    "PlanMessage",
    "ProtocolError",
    "ReplaySession",
    "Role",
    "SamplesMessage",
    "abort_from_message",
    "done_from_message",
    "final_from_message",
    "plan_from_message",
    "plan_to_message",
    "samples_from_message",
]


#: How often a worker ships the samples gathered so far (s).
REPORT_EVERY_S = 2.0
#: How long the master waits for every worker's final samples when the test stops (s).
FLUSH_TIMEOUT_S = 15.0
#: The pause before ending a finished test, so the last messages get out first (s).
END_DELAY_S = 0.2
#: How often the grace wait after the last call looks for missing webhooks (s).
GRACE_POLL_S = 0.5


class Role(enum.Enum):
    """What a process does in a replay: a lone process does everything."""

    LOCAL = "local"
    MASTER = "master"
    WORKER = "worker"


class Message(Protocol):
    """A received message (Locust's ``locust.rpc.protocol.Message``)."""

    @property
    def data(self) -> Any: ...


class MessageBus(Protocol):
    """The part of a Locust runner a session uses."""

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        """To the master from a worker; to ``client_id`` (or every worker) from the master."""

    def register_message(
        self, msg_type: str, listener: Callable[..., None], concurrent: bool = False
    ) -> None:
        """Call ``listener(environment=..., msg=...)`` for every message of ``msg_type``."""

    def quit(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Collected:
    """Everything a run measured, gathered in one process once the test stops."""

    plan: ReplayPlan
    aggregate: Aggregate
    cpu_peak_pct: float
    #: The highest CPU any process held for a whole window (see
    #: :mod:`loadtest.replay.saturation`).
    cpu_sustained_pct: float = 0.0
    #: Why a threshold with ``abort = true`` stopped the run ("" when none did).
    aborted: str = ""


class ReplaySession:
    """One process's replay: one per Locust environment, across the tests it runs.

    The recorder lives as long as the session (a partition run keeps a reference to it, so
    replacing it could strand samples); everything else belongs to the current test and is
    reset by :meth:`start` (master, lone process) or :meth:`start_worker`.
    """

    def __init__(
        self,
        role: Role,
        bus: MessageBus,
        *,
        headless: bool,
        report_every_s: float = REPORT_EVERY_S,
        flush_timeout_s: float = FLUSH_TIMEOUT_S,
    ) -> None:
        self.role = role
        self.bus = bus
        self.headless = headless
        self.report_every_s = report_every_s
        self.flush_timeout_s = flush_timeout_s
        self.recorder = Recorder()
        self.reporter: gevent.Greenlet | None = None
        self.plan: ReplayPlan | None = None
        self.run: PartitionRun | None = None
        self.claimed = False
        self.aggregate = Aggregate()
        self.cpu_peak_pct = 0.0
        self.cpu_sustained_pct = 0.0
        #: Why a threshold with ``abort = true`` stopped the run, else "".
        self.aborted = ""
        self.finals: set[int] = set()
        self.done: set[int] = set()
        self.collected = False
        #: Seconds to wait after the last call for expected webhooks (0: webhooks off).
        self.webhook_grace_s = 0.0
        #: Why the run stopped before it started (the process then exits 2), else "".
        self.error = ""
        #: Run once when this process's part of the test is over (the webhook host's
        #: close: registrations removed, receiver stopped).
        self.closers: list[Callable[[], None]] = []
        #: Set when every webhook registration of a distributed run is in place (worker 0
        #: registers; the others wait on this before their first call, so no call can
        #: trigger an event the target would not yet deliver).
        self.hooks_go = Event()

    def register(self) -> None:
        """Listen for this role's messages on the bus (once, when the process starts)."""
        if self.role is Role.WORKER:
            self.bus.register_message(MSG_PLAN, self._on_plan)
            self.bus.register_message(MSG_GO, self._on_go)
            # Concurrent: the flush stops the run, which waits for calls in flight.
            self.bus.register_message(MSG_FLUSH, self._on_flush, concurrent=True)
        elif self.role is Role.MASTER:
            self.bus.register_message(MSG_FINAL, self._on_final)
            self.bus.register_message(MSG_DATA, self._on_data)
            self.bus.register_message(MSG_DONE, self._on_done)
            self.bus.register_message(MSG_ABORT, self._on_abort)
            self.bus.register_message(MSG_HOOKS_READY, self._on_hooks_ready)

    # -- a test's life -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the previous test: its plan, run, reporter and samples."""
        if self.reporter is not None:
            self.reporter.kill(block=False)
        self.reporter = None
        self.plan = None
        self.run = None
        self.claimed = False
        self.aggregate = Aggregate()
        self.cpu_peak_pct = 0.0
        self.cpu_sustained_pct = 0.0
        self.aborted = ""
        self.finals = set()
        self.done = set()
        self.collected = False
        self.error = ""
        self.hooks_go.clear()
        self.close()
        self.recorder.drain()  # a new test starts from no samples

    def start(self, base: ReplayPlan, worker_ids: Sequence[str] = ()) -> ReplayPlan:
        """Master or lone process: start a test; a master sends each worker its partition.

        Returns this process's plan, whose ``parts`` is the number of partitions.
        """
        if self.role is Role.WORKER:
            raise RuntimeError("a worker starts from its master's plan (start_worker)")
        self.reset()
        parts = len(worker_ids) if self.role is Role.MASTER else 1
        for i, client_id in enumerate(worker_ids if self.role is Role.MASTER else ()):
            plan = replace(base, index=i, parts=parts)
            self.bus.send_message(MSG_PLAN, plan_to_message(plan), client_id=client_id)
        self.plan = replace(base, index=0, parts=max(1, parts))
        return self.plan

    def start_worker(self, plan: ReplayPlan) -> None:
        """Worker: start a test on the master's plan, and ship samples as they come."""
        self.reset()
        self.plan = plan
        self.reporter = gevent.spawn(self._report_loop)

    def wait_for_plan(self, timeout_s: float) -> bool:
        """Wait (a worker, for its master's plan) until this process has a plan."""
        deadline = time.monotonic() + timeout_s
        while self.plan is None and time.monotonic() < deadline:
            gevent.sleep(0.05)
        return self.plan is not None

    def hooks_ready(self) -> None:
        """Worker 0: its receiver is registered; the master tells every worker to send."""
        if self.role is Role.WORKER:
            self.bus.send_message(MSG_HOOKS_READY, None)
        self.hooks_go.set()

    def wait_for_hooks(self, timeout_s: float) -> bool:
        """A worker other than 0: wait until worker 0's webhook registrations are in
        place (True), at most ``timeout_s``."""
        return bool(self.hooks_go.wait(timeout_s))

    def claim(self, transport: Transport, targets: Targets) -> PartitionRun | None:
        """The partition run for the one user that drives it; None for every other user.

        Checks and claims without yielding, so two users never both get it.
        """
        if self.plan is None or self.claimed:
            return None
        self.claimed = True
        self.run = PartitionRun(self.plan, transport, targets, self.recorder)
        return self.run

    def partition_finished(self, run: PartitionRun) -> None:
        """The user has sent its whole partition: a worker tells the master; a lone
        process ends the test (unless it is already stopping)."""
        if self.role is Role.WORKER:
            # Samples first: the master judges "no webhook missing" (and may end the test)
            # on its aggregate, which must then hold every expectation this partition made,
            # not only those of the last periodic report (the run ended with events still
            # on their way when a worker's last expectations were not yet shipped).
            self.ship_samples()
            self.bus.send_message(MSG_DONE, DoneMessage(index=run.plan.index))
        elif not run.stopping:
            self.finish_test()

    def finish_test(self) -> None:
        """Every call is sent: wait (at most ``webhook_grace_s``) for the expected webhooks
        to arrive, stopping as soon as none is missing, then end the test."""
        if self.webhook_grace_s <= 0:
            self.end_test()
            return
        gevent.spawn(self._grace_then_end)

    def _grace_then_end(self) -> None:
        deadline = time.monotonic() + self.webhook_grace_s
        while True:
            if self.role is Role.LOCAL:  # the master's aggregate is fed by its workers
                self.aggregate.merge(self.recorder.drain())
            if self.aggregate.webhooks_missing() == 0 or time.monotonic() >= deadline:
                break
            gevent.sleep(GRACE_POLL_S)
        self.end_test()

    def abort(self, error: str) -> None:
        """This process cannot run its part: a worker tells the master; the test ends and
        the process that collects exits 2 with ``error``."""
        if self.role is Role.WORKER:
            index = self.plan.index if self.plan else -1
            self.bus.send_message(MSG_ABORT, AbortMessage(index=index, error=error))
        else:
            self.error = error
            self.end_test()

    def abort_on_threshold(self, reason: str) -> None:
        """Master or lone process: a threshold with ``abort = true`` has been violated for
        longer than its ``abort_after_s``: end the test now (its results are still written,
        and the run exits 1)."""
        if self.aborted or self.role is Role.WORKER:
            return
        self.aborted = reason
        log.warning("aborting: %s", reason)
        self.end_test()

    def close(self) -> None:
        """Run the closers once (removing webhook registrations, stopping the receiver)."""
        closers, self.closers = self.closers, []
        for close in closers:
            close()

    def end_test(self) -> None:
        """Headless: quit; with the web UI: stop, ready for the next test."""
        gevent.spawn_later(END_DELAY_S, self.bus.quit if self.headless else self.bus.stop)

    def stop(self) -> None:
        """Stop shipping samples and stop the partition run (in-flight calls get a grace)."""
        if self.reporter is not None:
            self.reporter.kill(block=False)
            self.reporter = None
        if self.run is not None:
            self.run.stop()

    def collect(self) -> Collected | None:
        """Master or lone process, once per test: gather every sample of the run.

        None on a worker, before any test, or when this test was already collected (Locust
        fires both ``test_stopping`` and ``quitting``).
        """
        if self.role is Role.WORKER or self.collected or self.plan is None:
            return None
        self.collected = True
        plan = self.plan
        if self.role is Role.MASTER:
            self.bus.send_message(MSG_FLUSH, {})
            deadline = time.monotonic() + self.flush_timeout_s
            while len(self.finals) < plan.parts and time.monotonic() < deadline:
                gevent.sleep(0.05)
            if len(self.finals) < plan.parts:
                log.error(
                    "only %d of %d workers sent their final samples", len(self.finals), plan.parts
                )
        else:
            self.stop()
            if self.run is not None:
                self.cpu_peak_pct = self.run.cpu_peak_pct
                self.cpu_sustained_pct = self.run.cpu.sustained_pct
            self.aggregate.merge(self.recorder.drain())
            self.close()
        return Collected(
            plan, self.aggregate, self.cpu_peak_pct, self.cpu_sustained_pct, self.aborted
        )

    # -- worker --------------------------------------------------------------------------

    def ship_samples(self) -> bool:
        """Worker: send the samples gathered since the last report; False if there were none."""
        data = self.recorder.drain()
        if not (
            data["req_name"]
            or data["lag_ms"]
            or data["flows"]
            or data["counters"]
            or data["wh_expected"]
            or data["wh_arrivals"]
            or data["wh_refs"]
        ):
            return False
        index = self.plan.index if self.plan else -1
        self.bus.send_message(MSG_DATA, SamplesMessage(index=index, data=data))
        return True

    def _report_loop(self) -> None:
        while True:
            gevent.sleep(self.report_every_s)
            self.ship_samples()

    def _on_plan(self, msg: Message, **_: Any) -> None:
        try:
            plan = plan_from_message(msg.data)
        except ProtocolError as exc:
            log.error("%s", exc)
            return
        self.start_worker(plan)

    def _on_go(self, msg: Message, **_: Any) -> None:
        self.hooks_go.set()

    def _on_flush(self, msg: Message, **_: Any) -> None:
        self.stop()
        final = FinalMessage(
            index=self.plan.index if self.plan else -1,
            data=self.recorder.drain(),
            cpu=self.run.cpu_peak_pct if self.run else 0.0,
            cpu_sustained=self.run.cpu.sustained_pct if self.run else 0.0,
        )
        self.bus.send_message(MSG_FINAL, final)
        self.close()

    # -- master --------------------------------------------------------------------------

    def _on_data(self, msg: Message, **_: Any) -> None:
        try:
            samples = samples_from_message(msg.data)
        except ProtocolError as exc:
            log.error("%s", exc)
            return
        self.aggregate.merge(samples["data"])

    def _on_final(self, msg: Message, **_: Any) -> None:
        try:
            final = final_from_message(msg.data)
        except ProtocolError as exc:
            log.error("%s", exc)
            return
        self.aggregate.merge(final["data"])
        self.cpu_peak_pct = max(self.cpu_peak_pct, final["cpu"])
        self.cpu_sustained_pct = max(self.cpu_sustained_pct, final["cpu_sustained"])
        self.finals.add(final["index"])

    def _on_done(self, msg: Message, **_: Any) -> None:
        try:
            done = done_from_message(msg.data)
        except ProtocolError as exc:
            log.error("%s", exc)
            return
        self.done.add(done["index"])
        if self.plan is not None and len(self.done) >= self.plan.parts:
            self.finish_test()

    def _on_hooks_ready(self, msg: Message, **_: Any) -> None:
        self.bus.send_message(MSG_GO, None)  # to every worker

    def _on_abort(self, msg: Message, **_: Any) -> None:
        try:
            abort = abort_from_message(msg.data)
        except ProtocolError as exc:
            log.error("%s", exc)
            return
        self.error = f"worker {abort['index']}: {abort['error']}"
        self.end_test()
