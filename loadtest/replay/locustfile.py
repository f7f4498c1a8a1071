"""Locust suite replaying a fleetsim trace (open model): ``locust -f loadtest/locustfile.py``.

Options (also in the web UI): ``--trace FILE``, ``--speedup X``, ``--onfleet-url``,
``--hypertrack-url``, ``--nash-url``, ``--deftship-url`` (default: ``--host``),
``--fleetsim-out DIR``, ``--thresholds FILE``, ``--max-lag-ms MS``, ``--skip-ops GLOBS``,
``--scale N``,
and ``--webhooks`` with its ``--webhook-*`` options (see ``fleetsim replay --help``).
Credentials come from ``ONFLEET_API_KEY`` (and ``HYPERTRACK_*``, ``NASH_*``,
``DEFTSHIP_API_TOKEN``), the webhook secret from ``FLEETSIM_WEBHOOK_SECRET`` (and
``FLEETSIM_NASH_WEBHOOK_SECRET``); none is written anywhere.

Concepts held here: the options, the event hooks that wire each Locust environment to its
own :class:`loadtest.replay.distributed.ReplaySession` (kept on the environment, so two
environments in one process share nothing) and the thin :class:`TraceReplayUser`, which
sends through :class:`loadtest.replay.httpclient.LocustTransport`.  One user per process
drives that process's partition of the trace; more users than processes idle.  With
``--webhooks``, the user of the process that hosts the receiver (a lone process, or
worker 0: see :mod:`loadtest.replay.webhooks.host`) starts and registers it before
sending.  The master/worker messages live in :mod:`loadtest.replay.distributed`; the
master (or the local runner) writes ``results.json`` via
:func:`loadtest.replay.finalize.finalize`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import User, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest.replay.abort import AbortWatch
from loadtest.replay.distributed import ReplaySession, Role
from loadtest.replay.finalize import finalize
from loadtest.replay.httpclient import LocustTransport, ReplayHttp
from loadtest.replay.monitor import Monitor
from loadtest.replay.partition import ReplayPlan, load_trace, select_calls
from loadtest.replay.progress import LiveTracker
from loadtest.replay.results import RunInfo
from loadtest.replay.scale import check_scale
from loadtest.replay.thresholds import KnownNames, check_names, load_thresholds
from loadtest.replay.webhooks.options import DEFAULT_GRACE_S, REGISTER_MODES, WebhookOptions
from loadtest.replay.webhooks.registration import wanted_events
from loadtest.replay.wire import Targets, effective_skip_ops, redact_url
from sim.errors import UserError

log = logging.getLogger("fleetsim.replay")
#: The attribute of a Locust environment that holds its session.
SESSION_ATTR = "fleetsim_replay_session"
#: The attribute of a Locust environment that holds its test's monitor.
MONITOR_ATTR = "fleetsim_replay_monitor"
#: How long a user (a worker's, mostly) waits for its plan before giving up (s).
PLAN_TIMEOUT_S = 60.0


def _options(parser: Any) -> None:
    # Locust's web UI listens on every interface by default; ours on loopback unless
    # --web-host says otherwise (the UI starts and stops load against the target).
    parser.set_defaults(web_host="127.0.0.1")
    parser.add_argument("--trace", default="", help="trace.jsonl (or a run directory)")
    parser.add_argument("--speedup", type=float, default=1.0, help="simulated s per real s")
    for p in ("onfleet", "hypertrack", "nash", "deftship"):
        parser.add_argument(f"--{p}-url", default="", help=f"{p} base URL (default --host)")
    parser.add_argument("--fleetsim-out", default="results/replay", help="results directory")
    parser.add_argument("--thresholds", default="", help="thresholds TOML")
    parser.add_argument(
        "--max-lag-ms",
        type=float,
        default=250.0,
        help="schedule lag p99 above which the run is invalid",
    )
    parser.add_argument("--skip-ops", default="", help="comma-separated op globs to skip")
    parser.add_argument(
        "--start-delay",
        type=float,
        default=1.0,
        help="seconds between test start and the shared time origin",
    )
    parser.add_argument(
        "--replay-run-time",
        type=float,
        default=0.0,
        help="stop sending after this many seconds (0: the trace's length)",
    )
    parser.add_argument(
        "--webhooks", action="store_true", help="receive, verify and measure webhooks"
    )
    parser.add_argument("--webhook-listen", default="", help="receiver HOST:PORT")
    parser.add_argument("--webhook-public-url", default="", help="URL the target calls")
    parser.add_argument("--webhook-delay-ms", type=float, default=0.0, help="answer delay")
    parser.add_argument("--webhook-fail-ratio", type=float, default=0.0, help="answer 500")
    parser.add_argument("--webhook-grace", type=float, default=DEFAULT_GRACE_S, help="wait (s)")
    parser.add_argument("--webhook-register", default="auto", choices=REGISTER_MODES)
    parser.add_argument("--webhook-seed", type=int, default=0, help="seed of the fail ratio")
    parser.add_argument(
        "--fleetsim-live", default="", help="write the live progress snapshot here each second"
    )
    parser.add_argument(
        "--fleetsim-timeseries", default="", help="per-second rows, .csv or .jsonl, at the end"
    )
    parser.add_argument("--scale", type=int, default=1, help="copies of the day side by side")


def _opts(env: Environment) -> Any:
    """Parsed options (Locust types them as optional; a running test always has them)."""
    return env.parsed_options


def _runner(env: Environment) -> Any:
    return env.runner


def _targets(env: Environment) -> Targets:
    o = _opts(env)
    over = {p: getattr(o, f"{p}_url", "") for p in ("onfleet", "hypertrack", "nash", "deftship")}
    return Targets.build(env.host or "", {k: v for k, v in over.items() if v})


def session_of(environment: Environment) -> ReplaySession:
    """The environment's session, made (and its messages registered) on first use."""
    session = getattr(environment, SESSION_ATTR, None)
    if isinstance(session, ReplaySession):
        return session
    runner = _runner(environment)
    role = (
        Role.WORKER
        if isinstance(runner, WorkerRunner)
        else Role.MASTER
        if isinstance(runner, MasterRunner)
        else Role.LOCAL
    )
    headless = bool(getattr(environment.parsed_options, "headless", False))
    session = ReplaySession(role, runner, headless=headless)
    session.register()
    setattr(environment, SESSION_ATTR, session)
    return session


def _webhook_options(environment: Environment) -> WebhookOptions:
    return WebhookOptions.from_locust(_opts(environment))


def _init(environment: Environment, **_: Any) -> None:
    session = session_of(environment)  # a worker must listen for its plan before the start
    try:
        hooks = _webhook_options(environment)
    except UserError as exc:  # checked by `fleetsim replay`; a direct Locust run lands here
        log.error("%s", exc)
        hooks = WebhookOptions()
        session.error = str(exc)
    session.recorder.webhooks = hooks.enabled
    session.webhook_grace_s = hooks.grace_s if hooks.enabled else 0.0
    if hooks.enabled and session.role is not Role.MASTER:
        # uvicorn and svix take over a second to import: here, at start-up, rather than
        # in the hosting user just before the day (where it would block gevent's hub).
        import loadtest.replay.webhooks.host  # noqa: F401


def _test_start(environment: Environment, **_: Any) -> None:
    session = session_of(environment)
    if session.role is Role.WORKER:
        return
    error = session.error  # bad --webhook-* options, found at init
    session.reset()  # a test that fails to start leaves nothing of the last one behind
    plan = None if error else _plan(environment)
    if plan is None:
        environment.process_exit_code = 2
        gevent.spawn_later(0.1, _runner(environment).quit)
        return
    runner = _runner(environment)
    workers = sorted(runner.clients.keys()) if session.role is Role.MASTER else []
    session.start(plan, workers)
    _start_monitor(environment, session, plan)


def _start_monitor(environment: Environment, session: ReplaySession, plan: ReplayPlan) -> None:
    """The once-a-second look at the run: live progress and abort-on-threshold."""
    o = _opts(environment)
    calls = select_calls(load_trace(plan.trace), dataclasses.replace(plan, parts=1, index=0))
    last_due = calls[-1].at_s / plan.speedup if calls else 0.0
    limits = load_thresholds(Path(o.thresholds)) if o.thresholds else []
    monitor = Monitor(
        session,
        plan.t0_epoch,
        LiveTracker(len(calls), min(last_due, plan.run_time_s)),
        Path(o.fleetsim_live) if o.fleetsim_live else None,
        AbortWatch.of(limits),
    )
    setattr(environment, MONITOR_ATTR, monitor)
    monitor.start()


def _monitor(environment: Environment) -> Monitor | None:
    m = getattr(environment, MONITOR_ATTR, None)
    return m if isinstance(m, Monitor) else None


def _plan(environment: Environment) -> ReplayPlan | None:
    """The run's plan from the options (the master's view); None after logging bad input."""
    o = _opts(environment)
    if not o.trace:
        log.error("--trace is required (a trace.jsonl written by `fleetsim simulate`)")
        return None
    try:
        scale = int(getattr(o, "scale", 1))  # a library caller's options may not have it
        check_scale(scale)
        if scale > 1 and getattr(o, "webhooks", False):
            raise UserError("--scale with --webhooks: not supported (one receiver per run id)")
        trace = load_trace(o.trace)
        if o.thresholds:  # a bad file stops the test here, before anything is sent
            # ... and so does a name that can match nothing (it would gate nothing)
            limits = load_thresholds(Path(o.thresholds))
            check_names(limits, KnownNames.of(trace.calls), str(o.thresholds))
    except UserError as exc:
        log.error("%s", exc)
        return None
    run_time = o.replay_run_time or (
        trace.calls[-1].at_s / o.speedup + 120.0 if trace.calls else 10.0
    )
    return ReplayPlan(
        trace=o.trace,
        speedup=o.speedup,
        run_id=f"{trace.header.scenario}-{secrets.token_hex(4)}",
        t0_epoch=time.time() + o.start_delay,
        run_time_s=run_time,
        skip_ops=effective_skip_ops(
            tuple(x for x in o.skip_ops.split(",") if x), _targets(environment).base("onfleet")
        ),
        scale=scale,
    )


def _stopping(environment: Environment, **_: Any) -> None:
    _collect_and_finalize(environment)


def _quitting(environment: Environment, **_: Any) -> None:
    _collect_and_finalize(environment)  # Ctrl-C: quitting comes before the runner stops
    session_of(environment).close()  # a worker's receiver and its registrations


def _collect_and_finalize(environment: Environment) -> None:
    session = session_of(environment)
    monitor = _monitor(environment)
    if monitor is not None and not session.collected and session.plan is not None:
        monitor.pause()  # no abort check while the workers flush
    collected = session.collect()
    if collected is None:
        return
    if monitor is not None:
        monitor.stop()
    if session.error:  # the run never started (e.g. the webhook registration was refused)
        log.error("%s", session.error)
        environment.process_exit_code = 2
        return
    plan = collected.plan
    o = _opts(environment)
    trace = load_trace(plan.trace)
    planned = len(select_calls(trace, dataclasses.replace(plan, parts=1, index=0))) * plan.scale
    info = RunInfo(
        target=redact_url(environment.host or ""),
        speedup=plan.speedup,
        run_id=plan.run_id,
        planned=planned,
        max_lag_p99_ms=o.max_lag_ms,
        processes=plan.parts,
        webhooks=_webhook_options(environment).enabled,
    )
    duration = max(0.0, min(time.time() - plan.t0_epoch, plan.run_time_s))
    outcome = finalize(
        collected.aggregate,
        info,
        _targets(environment),
        Path(o.fleetsim_out),
        duration,
        collected.cpu_peak_pct,
        thresholds=Path(o.thresholds) if o.thresholds else None,
        since_ms=int(plan.t0_epoch * 1000) - 60_000,
        do_reconcile=bool(collected.aggregate.rec.expected_tasks),
        cpu_sustained_pct=collected.cpu_sustained_pct,
        aborted=collected.aborted,
        timeseries=Path(o.fleetsim_timeseries) if o.fleetsim_timeseries else None,
        scale=plan.scale,
    )
    environment.process_exit_code = outcome.exit_code


class TraceReplayUser(User):
    """Drives this process's partition of the trace; extra users idle."""

    wait_time = constant(1)
    #: Most connections kept open to one target (as FastHttpUser's ``concurrency``).
    concurrency = 1000
    connection_timeout = 10.0
    host = "http://127.0.0.1:8080"

    @task
    def replay(self) -> None:
        session = session_of(self.environment)
        if not session.wait_for_plan(PLAN_TIMEOUT_S):
            log.error("no replay plan arrived from the master within %g s", PLAN_TIMEOUT_S)
        else:
            http = ReplayHttp(self.connection_timeout, self.concurrency)
            session.closers.append(http.close)
            transport = LocustTransport(self.environment.events.request, http)
            run = session.claim(transport, _targets(self.environment))
            if run is not None and _host_webhooks(self.environment, session):
                run.run()
                session.partition_finished(run)
        gevent.sleep(3600)


def _host_webhooks(environment: Environment, session: ReplaySession) -> bool:
    """Start and register this process's webhook receiver if it hosts one (a lone
    process, or worker 0), or wait for worker 0's (any other worker); False when that
    failed and the run is aborted."""
    hooks = _webhook_options(environment)
    plan = session.plan
    if not hooks.enabled or plan is None or session.role is Role.MASTER:
        return True
    if plan.index != 0:
        # Worker 0 hosts and registers: a call sent before its registrations are in place
        # would trigger events the target does not deliver (missed, or unexpected ones).
        if session.wait_for_hooks(PLAN_TIMEOUT_S):
            return True
        session.abort(f"worker 0 did not register the webhook receiver within {PLAN_TIMEOUT_S:g} s")
        return False
    # Imported here: only the hosting process needs uvicorn and svix (slow to import).
    from loadtest.replay.webhooks.host import WebhookHost

    trace = load_trace(plan.trace)
    wanted = wanted_events(select_calls(trace, dataclasses.replace(plan, parts=1, index=0)))
    try:
        host = WebhookHost(
            hooks, _targets(environment), wanted, plan.run_id, plan.t0_epoch, stream=sys.stdout
        )
        session.closers.append(host.close)
        host.start()
    except UserError as exc:  # logged once, by the process that collects the run
        session.abort(str(exc))
        return False
    session.recorder.arrival_source = host.drain
    session.hooks_ready()
    return True


# Locust's event hooks (registered here rather than by decorators, which are untyped).
_hooks: Any = events
_hooks.init_command_line_parser.add_listener(_options)
_hooks.init.add_listener(_init)
_hooks.test_start.add_listener(_test_start)
_hooks.test_stopping.add_listener(_stopping)
_hooks.quitting.add_listener(_quitting)
