"""End-to-end replays of the tiny scenario against the emulator, through Locust.

Locust runs in child processes (it monkey-patches with gevent); the emulator is served
from this process on a free loopback port.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.replay.results import ReplayResults, read_results
from loadtest.trace.format import read_trace
from tests.fixtures.scenarios import REPO

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


def fleetsim(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetsim.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def check_clean(res: ReplayResults, trace: Path) -> None:
    recon = res.reconciliation
    head = read_trace(trace).header
    assert res.problems == () and recon is not None
    assert res.calls.planned == head.counts["calls"]
    assert recon.expected == head.counts["tasks"]
    assert recon.missing == 0 and recon.duplicated == 0
    assert res.valid is True


def test_local_runner_replays_the_tiny_day(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path]
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "local_runner.py"),
            emulator,
            str(tiny_traces["batch-async"]),
            str(out),
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = read_results(out / "results.json")
    check_clean(res, tiny_traces["batch-async"])
    calls = res.calls
    assert calls.sent == calls.planned and calls.failed == 0
    (flow,) = res.flows
    assert flow.name == "onfleet.batch_async"
    assert res.reconciliation and flow.tasks_created == res.reconciliation.expected
    assert flow.polls_per_job >= 1
    names = {e.name for e in res.endpoints}
    assert "GET /api/v2/tasks/batch/{jobId}" in names
    assert not any("~" in n or "*" in n.split("/")[-1] for n in names)


def test_replay_cli_with_two_processes(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path]
) -> None:
    out = tmp_path / "out"
    proc = fleetsim(
        "replay",
        str(tiny_traces["batch"]),
        "--host",
        emulator,
        "--speedup",
        "1000",
        "--processes",
        "2",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = read_results(out / "results.json")
    try:
        check_clean(res, tiny_traces["batch"])
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}") from exc
    assert res.processes == 2
    calls = res.calls
    assert calls.sent == calls.planned and calls.failed == 0
    (flow,) = res.flows
    assert flow.name == "onfleet.batch"
    assert res.reconciliation and flow.tasks_created == res.reconciliation.expected
    assert (out / "locust_stats.csv").is_file() and (out / "locust_report.html").is_file()


def test_faults_are_retried_and_nothing_is_lost(
    tmp_path: Path, tiny_traces: dict[str, Path]
) -> None:
    from loadtest.emulator.config import FaultConfig, fast
    from loadtest.emulator.serve import EmulatorServer

    cfg = dataclasses.replace(fast(), faults=FaultConfig(error_rate=0.08), seed=3)
    out = tmp_path / "out"
    with EmulatorServer(cfg) as url:
        proc = fleetsim(
            "replay",
            str(tiny_traces["single"]),
            "--host",
            url,
            "--speedup",
            "1000",
            "--out",
            str(out),
        )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = read_results(out / "results.json")
    check_clean(res, tiny_traces["single"])
    calls = res.calls
    assert calls.retries > 0 and calls.checked_before_retry > 0
    # The injected 503s were seen, as retried attempts, not as errors (all succeeded).
    assert any(e.retried > 0 for e in res.endpoints)
    assert all(e.errors == 0 for e in res.endpoints)


def test_thresholds_gate_the_exit_code(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path]
) -> None:
    th = tmp_path / "th.toml"
    th.write_text(
        '[endpoints."POST /api/v2/tasks/batch"]\np99_ms = 0.001\n[schedule_lag]\nmax_ms = 100000\n'
    )
    out = tmp_path / "out"
    proc = fleetsim(
        "replay",
        str(tiny_traces["batch"]),
        "--host",
        emulator,
        "--speedup",
        "2000",
        "--out",
        str(out),
        "--thresholds",
        str(th),
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "THRESHOLDS VIOLATED" in proc.stdout
    assert (out / "junit.xml").read_text().count("<failure") == 1


def _replay_under_way(
    trace: Path, host: str, out: Path, start_new_session: bool = False
) -> subprocess.Popen[bytes]:
    """``fleetsim replay`` of ``trace`` at 100x in a child process, once its first calls
    are out (the tiny day then takes ~80 s, time enough to interrupt it)."""
    cmd = ["replay", str(trace), "--host", host, "--speedup", "100", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetsim.cli", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=start_new_session,
    )
    assert proc.stdout is not None
    assert b"replaying" in proc.stdout.readline()
    time.sleep(6)  # Locust starts, the first calls go out
    return proc


def test_ctrl_c_still_writes_results(tmp_path: Path, tiny_traces: dict[str, Path]) -> None:
    from loadtest.emulator.config import LatencyConfig, RouteLatency, fast
    from loadtest.emulator.serve import EmulatorServer

    # A slow reconciliation (every task listing takes ~1.5 s): the results are written
    # only if the parent waits for its Locust child after Ctrl-C instead of killing it.
    slow = LatencyConfig(
        enabled=True,
        default=RouteLatency(0.5, 1.0),
        routes={"GET /api/v2/tasks/all": RouteLatency(1500.0, 1600.0)},
    )
    out = tmp_path / "out"
    with EmulatorServer(dataclasses.replace(fast(), latency=slow)) as url:
        proc = _replay_under_way(tiny_traces["single"], url, out, start_new_session=True)
        os.killpg(proc.pid, signal.SIGINT)
        text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, text[-3000:]
    res = read_results(out / "results.json")
    assert res.problems == ()
    assert 0 < res.calls.sent < res.calls.planned
    assert res.reconciliation and res.reconciliation.duplicated == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_parent_alone_stops_the_child(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path], sig: signal.Signals
) -> None:
    # What a CI runner's cancel does: signal `fleetsim replay` itself, not its process
    # group.  The Locust child must stop too (not go on loading the target), and the
    # results are still written.
    import psutil

    out = tmp_path / "out"
    proc = _replay_under_way(tiny_traces["single"], emulator, out)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the replay runs Locust in a child process"
    signalled = time.monotonic()
    proc.send_signal(sig)
    text, _ = proc.communicate(timeout=120)
    assert time.monotonic() - signalled < 60, text[-3000:]
    assert proc.returncode == 128 + sig, text[-3000:]
    assert "interrupted; results written" in text.decode()
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {alive}"
    res = read_results(out / "results.json")
    assert res.problems == ()
    assert 0 < res.calls.sent < res.calls.planned


def test_second_replay_against_the_same_emulator(
    emulator: str, tiny_traces: dict[str, Path]
) -> None:
    from loadtest.replay.executor import Executor
    from loadtest.replay.partition import _phones, _teams
    from loadtest.replay.reconcile import reconcile
    from loadtest.replay.schedule import Schedule, run_open_model
    from loadtest.replay.stats import Recorder
    from loadtest.replay.transports import HttpxTransport
    from loadtest.replay.wire import HttpResult, Targets

    class Clock:
        def __init__(self) -> None:
            self.t0 = time.monotonic()

        def now(self) -> float:
            return time.monotonic() - self.t0

        def sleep_until(self, t_s: float) -> None:
            time.sleep(max(0.0, t_s - self.now()))

    trace = read_trace(tiny_traces["batch"])
    targets = Targets.build(emulator, env={})
    transport = HttpxTransport()
    try:
        for run in ("tiny-first", "tiny-second"):
            rec = Recorder()
            clock = Clock()
            since = int(time.time() * 1000) - 60_000
            ex = Executor(
                transport,
                targets,
                clock,
                time.sleep,
                rec,
                run,
                int(time.time() * 1000),
                speedup=1e6,
                phones=_phones(trace),
                teams=_teams(trace),
            )
            sched = Schedule(list(trace.calls), 1e6)
            run_open_model(sched, clock, lambda fn: fn(), ex.execute, 60.0, on_skip=ex.skip)
            assert rec.counters.get("failed", 0) == 0, (run, rec.counters)
            assert rec.counters["ok"] == len(trace.calls)

            def get(p: str, path: str, name: str) -> HttpResult:
                return transport.send(
                    "GET", targets.base(p) + path, targets.headers(p), None, name, 30
                )

            r = reconcile(get, run, set(rec.expected_tasks), since)
            assert (r.missing, r.duplicated, r.error) == (0, 0, ""), run
            assert r.expected == trace.header.counts["tasks"]
    finally:
        transport.close()


def test_realistic_profile_rate_limits_and_faults_lose_nothing(
    tmp_path: Path, tiny_traces: dict[str, Path]
) -> None:
    from loadtest.emulator.config import realistic
    from loadtest.emulator.serve import EmulatorServer

    out = tmp_path / "out"
    # The emulator's clock at the replay's speed: its 20 calls/s are per simulated second.
    with EmulatorServer(dataclasses.replace(realistic(), time_scale=600.0)) as url:
        proc = fleetsim(
            "replay",
            str(tiny_traces["batch-async"]),
            "--host",
            url,
            "--speedup",
            "600",
            "--strict-time",
            "--out",
            str(out),
        )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = read_results(out / "results.json")
    check_clean(res, tiny_traces["batch-async"])
    calls = res.calls
    assert calls.sent == calls.planned and calls.failed == 0
    assert calls.retries > 0  # injected 503s (and any 429) are retried, within the budget


def test_run_ends_by_itself_at_its_run_time(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path]
) -> None:
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = fleetsim(
        "replay",
        str(tiny_traces["single"]),
        "--host",
        emulator,
        "--speedup",
        "100",
        "--run-time",
        "6s",
        "--out",
        str(out),
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = read_results(out / "results.json")
    assert 0 < res.calls.sent < res.calls.planned
    assert res.duration_s <= 6.0
    assert elapsed < 40  # the trace alone would take ~80 s at this speedup


def test_plain_locust_serves_its_web_ui_with_our_options(
    emulator: str, tiny_traces: dict[str, Path]
) -> None:
    import urllib.request

    from loadtest.emulator.serve import free_port

    port = free_port()
    locustfile = REPO / "loadtest" / "locustfile.py"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--host",
            emulator,
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
            "--trace",
            str(tiny_traces["single"]),
            "--speedup",
            "60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = b""
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"speedup" in page and b"trace" in page
    finally:
        proc.terminate()
        proc.wait(timeout=30)
