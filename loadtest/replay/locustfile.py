"""Locust suite replaying a fleetsim trace (open model): ``locust -f loadtest/locustfile.py``.

Options (also in the web UI): ``--trace FILE``, ``--speedup X``, ``--onfleet-url``,
``--hypertrack-url``, ``--nash-url``, ``--deftship-url`` (default: ``--host``),
``--fleetsim-out DIR``, ``--thresholds FILE``, ``--max-lag-ms MS``, ``--skip-ops GLOBS``.
Credentials come from ``ONFLEET_API_KEY`` (and ``HYPERTRACK_*``, ``NASH_*``,
``DEFTSHIP_API_TOKEN``) and are never written anywhere.

Thin by design: one user per process drives that process's partition of the trace with
:class:`loadtest.replay.partition.PartitionRun`; more users than processes idle.  The master (or
the local runner) gives every process one time origin and run id, gathers every sample
through Locust's messages and writes ``results.json`` via :func:`loadtest.replay.finalize.finalize`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest.replay.finalize import finalize
from loadtest.replay.partition import PartitionRun, ReplayPlan, load_trace, select_calls
from loadtest.replay.results import RunInfo
from loadtest.replay.stats import Aggregate, Recorder
from loadtest.replay.thresholds import load_thresholds
from loadtest.replay.wire import HttpResult, Targets, effective_skip_ops, redact_url
from sim.errors import UserError

log = logging.getLogger("fleetsim.replay")
#: Samples travel as our own messages, which the master accepts from any worker (Locust
#: drops stats reports from a worker it has marked missing under load).
MSG_DATA = "fleetsim_data"
REPORT_EVERY_S = 2.0
#: This process's samples; never replaced, so a state reset cannot strand any.
RECORDER = Recorder()
MSG_PLAN, MSG_FLUSH, MSG_FINAL, MSG_DONE = (
    "fleetsim_plan",
    "fleetsim_flush",
    "fleetsim_final",
    "fleetsim_done",
)


class _State:
    """Per-process replay state (Locust's event hooks are module-level)."""

    def __init__(self) -> None:
        self.plan: ReplayPlan | None = None
        self.run: PartitionRun | None = None
        self.claimed = False
        self.recorder = RECORDER
        self.reporter: Any = None
        self.agg = Aggregate()
        self.cpu_peak = 0.0
        self.finals: set[int] = set()
        self.done: set[int] = set()
        self.finalized = False


S = _State()


def _options(parser: Any) -> None:
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


def _opts(env: Environment) -> Any:
    """Parsed options (Locust types them as optional; a running test always has them)."""
    return env.parsed_options


def _runner(env: Environment) -> Any:
    return env.runner


def _targets(env: Environment) -> Targets:
    o = _opts(env)
    over = {p: getattr(o, f"{p}_url", "") for p in ("onfleet", "hypertrack", "nash", "deftship")}
    return Targets.build(env.host or "", {k: v for k, v in over.items() if v})


def _init(environment: Environment, **_: Any) -> None:
    runner = _runner(environment)
    if isinstance(runner, WorkerRunner):
        runner.register_message(MSG_PLAN, _on_plan)
        runner.register_message(MSG_FLUSH, _on_flush, concurrent=True)
    elif isinstance(runner, MasterRunner):
        runner.register_message(MSG_FINAL, _on_final)
        runner.register_message(MSG_DATA, _on_data)
        runner.register_message(MSG_DONE, _on_done)


def _test_start(environment: Environment, **_: Any) -> None:
    runner = _runner(environment)
    if isinstance(runner, WorkerRunner):
        return
    o = _opts(environment)
    if not o.trace:
        log.error("--trace is required (a trace.jsonl written by `fleetsim simulate`)")
        environment.process_exit_code = 2
        gevent.spawn_later(0.1, runner.quit)
        return
    global S
    S = _State()
    RECORDER.drain()  # a new test starts from no samples
    try:
        trace = load_trace(o.trace)
        if o.thresholds:  # a bad file stops the test here, before anything is sent
            load_thresholds(Path(o.thresholds))
    except UserError as exc:
        log.error("%s", exc)
        environment.process_exit_code = 2
        gevent.spawn_later(0.1, runner.quit)
        return
    run_time = o.replay_run_time or (
        trace.calls[-1].at_s / o.speedup + 120.0 if trace.calls else 10.0
    )
    base = ReplayPlan(
        trace=o.trace,
        speedup=o.speedup,
        run_id=f"{trace.header.scenario}-{secrets.token_hex(4)}",
        t0_epoch=time.time() + o.start_delay,
        run_time_s=run_time,
        skip_ops=effective_skip_ops(
            tuple(x for x in o.skip_ops.split(",") if x), _targets(environment).base("onfleet")
        ),
    )
    if isinstance(runner, MasterRunner):
        clients = sorted(runner.clients.keys())
        for i, cid in enumerate(clients):
            plan = dataclasses.replace(base, index=i, parts=len(clients))
            runner.send_message(MSG_PLAN, dataclasses.asdict(plan), client_id=cid)
    S.plan = dataclasses.replace(base, parts=max(1, _parts(runner)))


def _parts(runner: Any) -> int:
    return len(runner.clients) if isinstance(runner, MasterRunner) else 1


def _on_plan(environment: Environment, msg: Any, **_: Any) -> None:
    global S
    if S.reporter is not None:
        S.reporter.kill(block=False)
    S = _State()
    RECORDER.drain()  # a new test starts from no samples
    d = dict(msg.data)
    d["skip_ops"] = tuple(d["skip_ops"])
    S.plan = ReplayPlan(**d)
    S.reporter = gevent.spawn(_ship_samples, environment, S.plan.index)


def _ship_samples(environment: Environment, index: int) -> None:
    """Worker: send the samples gathered so far to the master, every few seconds."""
    while True:
        gevent.sleep(REPORT_EVERY_S)
        data = RECORDER.drain()
        if data["req_name"] or data["lag_ms"] or data["flows"] or data["counters"]:
            _runner(environment).send_message(MSG_DATA, {"index": index, "data": data})


def _on_flush(environment: Environment, msg: Any, **_: Any) -> None:
    if S.reporter is not None:
        S.reporter.kill(block=False)
    if S.run is not None:
        S.run.stop()
    data = RECORDER.drain()
    cpu = S.run.cpu_peak_pct if S.run else 0.0
    index = S.plan.index if S.plan else -1
    _runner(environment).send_message(MSG_FINAL, {"index": index, "data": data, "cpu": cpu})


def _on_data(environment: Environment, msg: Any, **_: Any) -> None:
    S.agg.merge(msg.data["data"])


def _on_final(environment: Environment, msg: Any, **_: Any) -> None:
    S.agg.merge(msg.data["data"])
    S.cpu_peak = max(S.cpu_peak, float(msg.data["cpu"]))
    S.finals.add(int(msg.data["index"]))


def _on_done(environment: Environment, msg: Any, **_: Any) -> None:
    S.done.add(int(msg.data["index"]))
    if S.plan and len(S.done) >= S.plan.parts:
        _end(environment)


def _end(environment: Environment) -> None:
    runner = _runner(environment)
    headless = bool(getattr(_opts(environment), "headless", False))
    gevent.spawn_later(0.2, runner.quit if headless else runner.stop)


def _stopping(environment: Environment, **_: Any) -> None:
    _collect_and_finalize(environment)


def _quitting(environment: Environment, **_: Any) -> None:
    _collect_and_finalize(environment)  # Ctrl-C: quitting comes before the runner stops


def _collect_and_finalize(environment: Environment) -> None:
    runner = _runner(environment)
    if isinstance(runner, WorkerRunner) or S.finalized or S.plan is None:
        return
    S.finalized = True
    if isinstance(runner, MasterRunner):
        runner.send_message(MSG_FLUSH, {})
        deadline = time.monotonic() + 15.0
        while len(S.finals) < S.plan.parts and time.monotonic() < deadline:
            gevent.sleep(0.05)
        if len(S.finals) < S.plan.parts:
            log.error("only %d of %d workers sent their final samples", len(S.finals), S.plan.parts)
    else:
        if S.run is not None:
            S.run.stop()
            S.cpu_peak = S.run.cpu_peak_pct
        S.agg.merge(RECORDER.drain())
    o = _opts(environment)
    trace = load_trace(S.plan.trace)
    planned = len(select_calls(trace, dataclasses.replace(S.plan, parts=1, index=0)))
    info = RunInfo(
        target=redact_url(environment.host or ""),
        speedup=S.plan.speedup,
        run_id=S.plan.run_id,
        planned=planned,
        max_lag_p99_ms=o.max_lag_ms,
        processes=S.plan.parts,
    )
    duration = max(0.0, min(time.time() - S.plan.t0_epoch, S.plan.run_time_s))
    outcome = finalize(
        S.agg,
        info,
        _targets(environment),
        Path(o.fleetsim_out),
        duration,
        S.cpu_peak,
        thresholds=Path(o.thresholds) if o.thresholds else None,
        since_ms=int(S.plan.t0_epoch * 1000) - 60_000,
        do_reconcile=bool(S.agg.rec.expected_tasks),
    )
    environment.process_exit_code = outcome.exit_code


class LocustTransport:
    """Sends through the user's Locust client, so Locust's stats and reports see it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        name: str,
        timeout_s: float,
    ) -> HttpResult:
        with self.client.request(
            method, url, data=body, headers=headers, name=name, catch_response=True
        ) as resp:
            status = int(resp.status_code or 0)
            if 200 <= status < 300:
                resp.success()
            else:
                resp.failure(f"HTTP {status}" if status else f"no response: {resp.error!r}")
            return HttpResult(
                status,
                _headers(resp.headers),
                resp.content or b"",
                error="" if status else repr(resp.error),
                timed_out=status == 0 and "timeout" in repr(resp.error).lower(),
            )


def _headers(raw: Any) -> dict[str, str]:
    """geventhttpclient gives repeated headers as tuples; keep the last value."""
    out: dict[str, str] = {}
    for k in list(raw.keys()) if raw else []:
        v = raw.get(k)
        out[str(k)] = str(v[-1]) if isinstance(v, tuple | list) else str(v)
    return out


class TraceReplayUser(FastHttpUser):
    """Drives this process's partition of the trace; extra users idle."""

    wait_time = constant(1)
    concurrency = 1000
    network_timeout = 30.0
    connection_timeout = 10.0
    host = "http://127.0.0.1:8080"

    @task
    def replay(self) -> None:
        deadline = time.monotonic() + 60.0
        while S.plan is None and time.monotonic() < deadline:
            gevent.sleep(0.05)
        state = S  # the plan's state; a claim is checked and made without yielding
        if state.plan is None:
            log.error("no replay plan arrived from the master within 60 s")
            gevent.sleep(3600)
            return
        if state.claimed:
            gevent.sleep(3600)
            return
        state.claimed = True
        plan = state.plan
        state.run = PartitionRun(
            plan, LocustTransport(self.client), _targets(self.environment), state.recorder
        )
        state.run.run()
        runner = _runner(self.environment)
        if isinstance(runner, WorkerRunner):
            runner.send_message(MSG_DONE, {"index": plan.index})
        elif not state.run.stopping:
            _end(self.environment)
        gevent.sleep(3600)


# Locust's event hooks (registered here rather than by decorators, which are untyped).
_hooks: Any = events
_hooks.init_command_line_parser.add_listener(_options)
_hooks.init.add_listener(_init)
_hooks.test_start.add_listener(_test_start)
_hooks.test_stopping.add_listener(_stopping)
_hooks.quitting.add_listener(_quitting)
