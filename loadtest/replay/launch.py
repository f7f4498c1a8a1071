"""``fleetsim replay`` as a library: run the Locust suite headless, or print a dry run.

Concepts held here: :class:`ReplayOptions` (validated once), :func:`locust_command` (the
exact ``locust`` invocation, so people can copy it), :func:`run_replay` (a Locust child
process; this process never imports Locust or gevent) and :func:`dry_run` (the first N
requests with credentials masked; nothing is sent).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import orjson

import loadtest
from loadtest.providers.webhooks import WEBHOOK_SECRET_ENV
from loadtest.replay.ci import (
    EXIT_INVALID,
    CiOptions,
    ParentWatch,
    compare_with_baseline,
    run_preflight,
)
from loadtest.replay.scale import check_scale
from loadtest.replay.thresholds import load_thresholds
from loadtest.replay.timecheck import check_time_scale
from loadtest.replay.webhooks.options import WebhookOptions, check_secret
from loadtest.replay.wire import Targets, effective_skip_ops, mask_headers, redact_url
from loadtest.trace.format import REF_PREFIX, RUN_PLACEHOLDER, JsonValue, TraceCall, read_trace
from sim.errors import UserError

LOCUSTFILE = Path(loadtest.__file__).parent / "locustfile.py"
HARD_STOP_GRACE_S = 30.0
#: After Ctrl-C the Locust child stops, reconciles and writes its results; it gets this
#: long before it is terminated (reconciliation's own retries stop after 30 s).
INTERRUPT_GRACE_S = 90.0
#: With ``--webhooks`` the day starts at least this long after the plan is made: the
#: receiver must be up and registered (one POST and handshake per trigger) before the
#: first call, in every process (with ``--processes N`` the other workers do not wait for
#: worker 0's registration).
WEBHOOK_START_DELAY_S = 3.0


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h30m`` to seconds."""
    m = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or m is None:
        raise UserError(f"--run-time {text!r}: use seconds or a duration like 90s, 2m, 1h30m")
    h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    total = h * 3600 + mi * 60 + s
    if total <= 0:
        raise UserError(f"--run-time {text!r}: must be > 0")
    return total


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """Everything ``fleetsim replay`` takes; see ``fleetsim replay --help``."""

    trace: Path
    host: str
    speedup: float = 1.0
    users: int | None = None
    run_time_s: float | None = None
    out: Path = Path("results/replay")
    thresholds: Path | None = None
    processes: int = 1
    provider_urls: Mapping[str, str] = field(default_factory=dict)
    skip_ops: tuple[str, ...] = ()
    max_lag_ms: float = 250.0
    start_delay_s: float = 1.0
    log_path: Path | None = None
    webhooks: WebhookOptions = field(default_factory=WebhookOptions)
    #: ``--webhook-secret``; handed to the Locust child in its environment, never on its
    #: command line (which people copy and ``ps`` shows).  None: the environment's.
    webhook_secret: str | None = field(default=None, repr=False)
    #: Pre-flight, progress, time series, /metrics, baseline (``loadtest.replay.ci``).
    ci: CiOptions = field(default_factory=CiOptions)
    #: ``--strict-time``: a target emulator whose time scale is not ``speedup`` is an
    #: error (exit 2) rather than a warning (:mod:`loadtest.replay.timecheck`).
    strict_time: bool = False
    #: ``--scale``: copies of the day side by side, each with its own run id.
    scale: int = 1

    def __post_init__(self) -> None:
        check_scale(self.scale)
        if self.scale > 1 and self.webhooks.enabled:
            raise UserError("--scale with --webhooks: not supported (one receiver per run id)")
        if self.speedup <= 0:
            raise UserError(f"--speedup {self.speedup}: must be > 0")
        if self.processes < 1:
            raise UserError(f"--processes {self.processes}: must be >= 1")
        if self.users is not None and self.users < 1:
            raise UserError(f"--users {self.users}: must be >= 1")
        if not re.match(r"^https?://", self.host):
            raise UserError(f"--host {self.host!r}: must be an http(s) URL")
        if self.thresholds is not None:
            if not self.thresholds.is_file():
                raise UserError(f"--thresholds {self.thresholds}: no such file")
            load_thresholds(self.thresholds)  # a bad file stops here, before anything is sent
        if self.webhooks.enabled:
            check_secret(self.secret_env().get(WEBHOOK_SECRET_ENV) or "00")

    def secret_env(self) -> dict[str, str]:
        """The environment entries that carry ``--webhook-secret`` to the Locust child."""
        if self.webhook_secret is None:
            got = os.environ.get(WEBHOOK_SECRET_ENV)
            return {WEBHOOK_SECRET_ENV: got} if got is not None else {}
        return {WEBHOOK_SECRET_ENV: self.webhook_secret}

    def locust_run_time_s(self, trace_span_s: float) -> float:
        """How long the Locust child may run: the sending, the start delay, the webhook
        grace and a margin for the stop."""
        run_time = self.run_time_s or (trace_span_s / self.speedup + 120.0)
        grace = self.webhooks.grace_s if self.webhooks.enabled else 0.0
        return run_time + self.effective_start_delay_s + grace + HARD_STOP_GRACE_S

    @property
    def effective_start_delay_s(self) -> float:
        """Seconds from the plan to the day's origin (longer with webhooks: see
        :data:`WEBHOOK_START_DELAY_S`)."""
        if self.webhooks.enabled:
            return max(self.start_delay_s, WEBHOOK_START_DELAY_S)
        return self.start_delay_s


def locust_command(opts: ReplayOptions, trace_span_s: float) -> list[str]:
    """The headless Locust command line for a replay."""
    users = opts.users or opts.processes
    run_time = opts.run_time_s or (trace_span_s / opts.speedup + 120.0)
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        opts.host,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{int(opts.locust_run_time_s(trace_span_s))}s",
        "--stop-timeout",
        "5",
        "--trace",
        str(opts.trace),
        "--speedup",
        repr(opts.speedup),
        "--replay-run-time",
        repr(run_time),
        "--fleetsim-out",
        str(opts.out),
        "--max-lag-ms",
        repr(opts.max_lag_ms),
        "--start-delay",
        repr(opts.effective_start_delay_s),
        "--csv",
        str(opts.out / "locust"),
        "--html",
        str(opts.out / "locust_report.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    if opts.thresholds:
        cmd += ["--thresholds", str(opts.thresholds)]
    cmd += opts.ci.locust_args(opts.out)
    if opts.scale > 1:
        cmd += ["--scale", str(opts.scale)]
    cmd += opts.webhooks.locust_args()
    if opts.skip_ops:
        cmd += ["--skip-ops", ",".join(opts.skip_ops)]
    for provider, url in sorted(opts.provider_urls.items()):
        cmd += [f"--{provider}-url", url]
    if opts.processes > 1:
        # Locust's master binds every interface on a fixed port (5557) by default: bind
        # loopback, on a port of our own, so two replays on one machine never collide and
        # nothing off this machine can join the run as a worker.
        port = str(_free_loopback_port())
        cmd += ["--processes", str(opts.processes)]
        cmd += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        cmd += ["--master-host", "127.0.0.1", "--master-port", port]
    return cmd


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_replay(opts: ReplayOptions, stream: TextIO | None = None) -> int:
    """Run the replay in a Locust child process; return its exit code.

    0: passed; 1: thresholds violated; 3: the run is invalid; 2: bad input; 130 or 143:
    interrupted by SIGINT or SIGTERM.  The child runs in a process group of its own, so a
    signal reaches it only through this process, exactly once, whoever sent it: Ctrl-C at
    a terminal, or a CI runner's cancel, which signals this process alone.  The child
    stops sending (Locust's ``--stop-timeout``), reconciles and writes its results while
    this process waits, bounded by INTERRUPT_GRACE_S.
    """
    # Looked up per call, not bound at import: a default of ``sys.stdout`` would keep
    # whatever stream was current then (a closed capture, in tests).
    stream = sys.stdout if stream is None else stream
    trace = read_trace(opts.trace)
    span = trace.calls[-1].at_s if trace.calls else 0.0
    targets = Targets.build(opts.host, opts.provider_urls, {**os.environ, **opts.secret_env()})
    # Pre-flight first: a dead target or a wrong key is one probe per provider and exit 3.
    if not opts.ci.skip_preflight:
        skips = effective_skip_ops(opts.skip_ops, targets.base("onfleet"))
        used = {c.provider for c in trace.calls if not _skipped(c.op, skips)}
        if not run_preflight(targets, used, stream):
            return EXIT_INVALID
    # The emulator's clock against --speedup (a warning, or exit 2 with --strict-time).
    clock_problem = check_time_scale(
        opts.speedup, targets.base("onfleet"), targets.headers("onfleet"), opts.strict_time
    )
    opts.out.mkdir(parents=True, exist_ok=True)
    cmd = locust_command(opts, span)
    limit_s = opts.locust_run_time_s(span) + INTERRUPT_GRACE_S
    print(
        f"replaying {len(trace.calls)} calls{f' x {opts.scale} copies' if opts.scale > 1 else ''} "
        f"at {opts.speedup:g}x against {redact_url(opts.host)} "
        f"({opts.processes} process(es))",
        file=stream,
        flush=True,
    )
    # Before the signal handlers: a taken --metrics-port stops here, with nothing started.
    watch = ParentWatch(opts.ci, opts.out, stream)
    if clock_problem is not None:  # after the first line, which people and tools read
        print(f"warning: {clock_problem}", file=sys.stderr, flush=True)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(opts.secret_env())
    interrupted: list[tuple[float, int]] = []
    started_wall = time.time()

    def on_signal(signum: int, frame: object) -> None:
        # Only noted here; the wait loop forwards it, once, to the child's group.
        if not interrupted:
            interrupted.append((time.monotonic(), signum))

    main = threading.current_thread() is threading.main_thread()
    previous = (
        {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        if main
        else {}
    )
    try:
        if opts.log_path is None:
            code = _wait_child(_start_child(cmd, env), limit_s, interrupted, watch.poll)
        else:
            with opts.log_path.open("wb") as log:
                code = _wait_child(_start_child(cmd, env, log), limit_s, interrupted, watch.poll)
    finally:
        watch.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if interrupted:
        results = opts.out / "results.json"
        written = results.is_file() and results.stat().st_mtime >= started_wall
        print(
            f"interrupted; results {'written to ' + str(results) if written else 'not written'}",
            file=stream,
        )
        return 128 + interrupted[0][1]
    if opts.ci.baseline is not None and code in (0, 1) and (opts.out / "results.json").is_file():
        gate = compare_with_baseline(opts.ci, opts.out, stream)
        code = max(code, gate) if gate != 3 else 3
    return code


def _skipped(op: str, patterns: tuple[str, ...]) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(op, p) for p in patterns)


def _start_child(
    cmd: list[str], env: Mapping[str, str], log: BinaryIO | None = None
) -> subprocess.Popen[bytes]:
    # A session of its own: the terminal's Ctrl-C and a signal to this process reach the
    # child the same way, through _wait_child, and never twice.  No stdin: Locust's
    # keyboard listener would otherwise take over the terminal.
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True,
    )


def _wait_child(
    child: subprocess.Popen[bytes],
    limit_s: float,
    interrupted: list[tuple[float, int]],
    poll: Callable[[], None] = lambda: None,
) -> int:
    """Wait for the Locust child: at most ``limit_s`` in all.  After a signal to this
    process, send the child's group one SIGINT (what Locust stops cleanly on: it stops
    sending, reconciles and writes its results) and wait at most INTERRUPT_GRACE_S more;
    then terminate the group (and kill it if it must).  Whatever happens here, no child is
    left running."""
    started = time.monotonic()
    forwarded = False
    try:
        while True:
            try:
                return child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            poll()  # live progress and /metrics from the child's snapshot
            if interrupted and not forwarded:
                forwarded = True
                _signal_group(child, signal.SIGINT)
            now = time.monotonic()
            late = now - started > limit_s
            if interrupted and now - interrupted[0][0] > INTERRUPT_GRACE_S:
                late = True
            if late:
                break
    finally:
        if child.poll() is None:
            _signal_group(child, signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
    return child.returncode


def _signal_group(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """``sig`` to the child and the workers it forked (its process group)."""
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(child.pid, sig)


def _show(value: JsonValue) -> JsonValue:
    """A body for display: placeholders shown as ``<task:12>``, long lists shortened."""
    if isinstance(value, str):
        if value.startswith(REF_PREFIX):
            return f"<{value[len(REF_PREFIX) :]}>"
        return "<run-id>" if value == RUN_PLACEHOLDER else value
    if isinstance(value, list):
        shown = [_show(v) for v in value[:3]]
        return shown + ([f"... {len(value) - 3} more"] if len(value) > 3 else [])
    if isinstance(value, dict):
        return {k: _show(v) for k, v in value.items()}
    return value


def left_out(
    calls: Sequence[TraceCall], asked: tuple[str, ...], effective: tuple[str, ...]
) -> list[str]:
    """One line per reason a call is not sent: the ``--skip-ops`` globs the user gave,
    and the emulator-only calls never sent to a target off this machine."""
    import fnmatch

    out = []
    counted: set[int] = set()
    for pat in effective:
        hit = [c for c in calls if c.id not in counted and fnmatch.fnmatch(c.op, pat)]
        counted.update(c.id for c in hit)
        if pat in asked:
            why = f"--skip-ops {pat!r}"
        else:
            why = f"{pat!r} calls exist only on the emulator and the target is not loopback"
        out.append(f"left out: {len(hit)} calls ({why})")
    return out


def dry_run(opts: ReplayOptions, first: int, stream: TextIO | None = None) -> int:
    """Print the first ``first`` requests (credentials masked); send nothing."""
    stream = sys.stdout if stream is None else stream
    trace = read_trace(opts.trace)
    targets = Targets.build(opts.host, opts.provider_urls)
    import fnmatch

    skips = effective_skip_ops(opts.skip_ops, targets.base("onfleet"))
    calls = [c for c in trace.calls if not any(fnmatch.fnmatch(c.op, p) for p in skips)]
    print(
        f"dry run: {len(calls)} of the trace's {len(trace.calls)} calls would be sent; "
        f"showing the first {min(first, len(calls))} (nothing is sent)",
        file=stream,
    )
    for line in left_out(trace.calls, opts.skip_ops, skips):
        print(line, file=stream)
    for c in calls[:first]:
        path = c.path
        for k, v in c.params.items():
            path = path.replace("{" + k + "}", str(_show(v)))
        t = c.at_s / opts.speedup
        print(f"\n#{c.id} at +{t:.3f}s  [{c.op}]  deps {list(c.deps)}", file=stream)
        print(f"{c.method} {redact_url(targets.base(c.provider))}{path}", file=stream)
        for k, v in mask_headers(targets.headers(c.provider)).items():
            print(f"{k}: {v}", file=stream)
        if c.body is not None:
            text = orjson.dumps(_show(c.body)).decode()
            print(text if len(text) <= 600 else text[:600] + " ...", file=stream)
    return 0
