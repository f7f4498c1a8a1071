"""Emulator benchmarks: Locust (FastHttpUser, a subprocess) against ``fleetsim emulate``
and against a bare echo app on the same server stack (``loadtest.emulator.serve``), in the
same run, plus in-process measurements of the emulator's own work.

* ``emulator.create`` -- single-task creates per second; the ratio is server CPU
  efficiency: the echo app's CPU per request / the emulator's CPU per create (target
  >= 0.6, i.e. a create costs at most 1.6 echo requests).
* ``emulator.batch500`` -- tasks per second through the 500-task sync batch path, with
  p50 and p99 per batch and the server CPU per task (target >= 120,000 tasks/s and
  <= 8 µs of server CPU per task), and the server's resident memory per task held.
* ``emulator.async500`` -- submit-to-completed time of a 500-task async job (fast profile).
* ``emulator.autoassign_load`` -- ms per single create with autoAssign ``load`` at 200
  workers x 100 tasks each, against ``distance`` mode on the same fleet (target: p99 <= 50).
* ``emulator.memory`` -- resident bytes per stored task at 1M tasks (target <= 1 kB).

Every load loop is bounded: Locust runs for a fixed time with a fixed user count, and each
server is stopped afterwards.  Only loopback addresses are used.
"""

from __future__ import annotations

import csv
import gc
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

from fleetsim.bench import BenchContext, BenchResult
from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.onfleet.model import Task
from loadtest.emulator.onfleet.state import OnfleetState
from loadtest.emulator.onfleet.validate import parse_task
from loadtest.emulator.serve import EmulatorProcess, ServerProcess

_LOCUSTFILE = Path(__file__).resolve().parent / "fixtures" / "locust_users.py"


def _emulator(work: Path) -> EmulatorProcess:
    """The real ``fleetsim emulate`` command, as a person starts it."""
    return EmulatorProcess("--profile", "fast", log=work / "emulator.log")


def _echo(work: Path) -> ServerProcess:
    """The echo app, served by the same :func:`loadtest.emulator.serve.serve_app` stack."""
    argv = [sys.executable, "-m", "fleetsim.benches.fixtures.echo"]
    return ServerProcess(argv, log=work / "echo.log")


def _rss_bytes(server: ServerProcess) -> int:
    """The server process's resident memory now."""
    return int(psutil.Process(server.pid).memory_info().rss)


def _cpu_s(server: ServerProcess) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    t = psutil.Process(server.pid).cpu_times()
    return float(t.user + t.system)


@dataclass(frozen=True, slots=True)
class _Stats:
    count: int
    failures: int
    rps: float
    p50_ms: float
    p99_ms: float


def _locust(user: str, host: str, users: int, seconds: int, work: Path, name: str) -> _Stats:
    """Run one Locust scenario headless (bounded in time) and read the row ``name``."""
    prefix = work / f"locust-{user}"
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(_LOCUSTFILE),
        user,
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
        "--loglevel",
        "WARNING",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with (work / f"locust-{user}.log").open("wb") as log:
        subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False, timeout=seconds + 60
        )
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as f:
        for row in csv.DictReader(f):
            if row["Name"] == name:
                return _Stats(
                    count=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    rps=float(row["Requests/s"]),
                    p50_ms=float(row["50%"] or 0),
                    p99_ms=float(row["99%"] or 0),
                )
    raise RuntimeError(f"locust wrote no row {name!r}; see {work}/locust-{user}.log")


def _seconds(ctx: BenchContext) -> int:
    return 3 if ctx.quick else 10


def _cpu_per_request(
    server: ServerProcess, user: str, s: int, work: Path, row: str
) -> tuple[_Stats, float]:
    """One closed-loop Locust run (32 users) against ``server``: its stats and the
    server's CPU microseconds per request."""
    c0 = _cpu_s(server)
    got = _locust(user, server.url, 32, s, work, row)
    cpu = _cpu_s(server) - c0
    return got, (cpu * 1e6 / got.count if got.count else 0.0)


def bench_create(ctx: BenchContext) -> list[BenchResult]:
    s = _seconds(ctx)
    pairs = 2 if ctx.quick else 3
    echo_runs: list[tuple[_Stats, float]] = []
    create_runs: list[tuple[_Stats, float]] = []
    # A B A B A B, each run on a fresh server: the machine's load drifts between runs a
    # minute apart (the echo side alone moved by 40% in one session), so each side keeps
    # its least disturbed run, the one with the least CPU per request.
    for _ in range(pairs):
        with _echo(ctx.workdir) as echo:
            echo_runs.append(_cpu_per_request(echo, "EchoUser", s, ctx.workdir, "echo"))
        with _emulator(ctx.workdir) as emu:
            create_runs.append(_cpu_per_request(emu, "CreateUser", s, ctx.workdir, "create"))
    base, echo_us = min(echo_runs, key=lambda r: r[1] if r[1] else float("inf"))
    got, create_us = min(create_runs, key=lambda r: r[1] if r[1] else float("inf"))
    failures = sum(r[0].failures for r in create_runs)
    # The ratio is CPU efficiency, not throughput: a single Locust client saturates first.
    ratio = echo_us / create_us if create_us else 0.0
    return [
        BenchResult(
            name="emulator.create",
            value=got.rps,
            unit="creates/s",
            baseline=base.rps,
            ratio=ratio,
            target="cpu ratio >= 0.6",
            met=ratio >= 0.6 and failures == 0,
            note="baseline: echo app on the same stack, same Locust load (32 users); runs "
            "alternated A B A B A B on fresh servers, least CPU per request of each side; "
            "ratio = echo server CPU per request / create server CPU per request",
            extra={
                "rps_ratio": round(got.rps / base.rps, 3) if base.rps else 0.0,
                "p50_ms": got.p50_ms,
                "p99_ms": got.p99_ms,
                "failures": failures,
                "echo_p50_ms": base.p50_ms,
                "requests": got.count,
                "server_cpu_us_per_create": round(create_us, 1),
                "server_cpu_us_per_echo": round(echo_us, 1),
                "cpu_ratio": round(ratio, 3),
                "runs_cpu_us_echo_create": " ".join(
                    f"{a[1]:.0f}/{b[1]:.0f}" for a, b in zip(echo_runs, create_runs, strict=True)
                ),
            },
        )
    ]


def bench_batch500(ctx: BenchContext) -> list[BenchResult]:
    s = _seconds(ctx)
    with _echo(ctx.workdir) as echo:
        base = _locust("EchoBatchUser", echo.url, 4, s, ctx.workdir, "echo500")
    with _emulator(ctx.workdir) as emu:
        cpu0, rss0 = _cpu_s(emu), _rss_bytes(emu)
        got = _locust("BatchUser", emu.url, 4, s, ctx.workdir, "batch500")
        cpu_s, rss_growth = _cpu_s(emu) - cpu0, _rss_bytes(emu) - rss0
    tasks_s = got.rps * 500
    # Server CPU per task: the figure that survives a shared, noisy machine.
    cpu_us = cpu_s * 1e6 / (got.count * 500) if got.count else 0.0
    return [
        BenchResult(
            name="emulator.batch500",
            value=tasks_s,
            unit="tasks/s",
            baseline=base.rps,
            ratio=got.rps / base.rps if base.rps else None,
            target=">= 120000, <= 8 us cpu/task",
            met=tasks_s >= 120_000 and cpu_us <= 8.0 and got.failures == 0,
            note="baseline: echo app answering the same 500-task body (batches/s, 4 users each)",
            extra={
                "batch_p50_ms": got.p50_ms,
                "batch_p99_ms": got.p99_ms,
                "batches": got.count,
                "failures": got.failures,
                "server_cpu_us_per_task": round(cpu_us, 2),
                "tasks_per_server_cpu_s": round(1e6 / cpu_us) if cpu_us else 0,
                # Every task stays in memory (max_tasks bounds the total): the bound's cost.
                "server_bytes_per_task": round(rss_growth / (got.count * 500)) if got.count else 0,
            },
        )
    ]


def bench_async500(ctx: BenchContext) -> list[BenchResult]:
    s = _seconds(ctx)
    with _emulator(ctx.workdir) as emu:
        got = _locust("AsyncUser", emu.url, 2, s, ctx.workdir, "async500 submit-to-completed")
    with _emulator(ctx.workdir) as emu:
        sync = _locust("BatchUser", emu.url, 1, max(2, s // 2), ctx.workdir, "batch500")
    return [
        BenchResult(
            name="emulator.async500",
            value=got.p50_ms,
            unit="ms (p50 submit-to-completed)",
            baseline=sync.p50_ms,
            ratio=got.p50_ms / sync.p50_ms if sync.p50_ms else None,
            note="baseline: p50 of one 500-task sync batch, one user",
            extra={"p99_ms": got.p99_ms, "jobs": got.count, "failures": got.failures},
        )
    ]


# -- in-process benchmarks (the emulator's own work, no HTTP) ------------------------------
def _onfleet_state(**overrides: Any) -> OnfleetState:
    """A fresh in-memory Onfleet state, as ``fleetsim emulate`` builds it."""
    from loadtest.emulator.app import create_app

    app = create_app(EmulatorConfig(api_keys=("bench-key-123456",), **overrides))
    state: OnfleetState = app.state.emulator.onfleet.state
    return state


def _fleet(st: OnfleetState, workers: int, tasks_each: int) -> None:
    """``workers`` on-duty workers around San Francisco, each holding ``tasks_each``
    assigned tasks (created in 500-task batches into the workers' containers)."""
    team = st.create_team({"name": "bench"})
    wids = []
    for i in range(workers):
        w = st.create_worker({"name": f"W{i}", "phone": f"+1415{i:07d}", "teams": [team.id]})
        st.set_duty(w.id, True, [-122.50 + (i % 20) * 0.01, 37.70 + (i // 20) * 0.01])
        wids.append(w.id)
    bodies = [
        {
            "destination": {"location": [-122.5 + (k % 97) * 0.002, 37.7 + (k % 89) * 0.002]},
            "container": {"type": "WORKER", "worker": wid},
        }
        for wid in wids
        for k in range(tasks_each)
    ]
    for i in range(0, len(bodies), 500):
        st.create_many(st.parse_many(bodies[i : i + 500]))
    st.rt.commit()


def _create_ms(st: OnfleetState, mode: str, n: int) -> list[float]:
    """Wall milliseconds of each of ``n`` single autoAssign creates: what the create
    handler does between reading the body and answering (parse, create, commit, encode)."""
    out = []
    for k in range(n):
        body = {
            "destination": {"location": [-122.45 + (k % 31) * 0.003, 37.75 + (k % 29) * 0.003]},
            "autoAssign": {"mode": mode},
        }
        t0 = time.perf_counter()
        (res,), _ = st.create_many([parse_task(body)], single=True)
        st.rt.commit()
        assert isinstance(res, Task) and res.did_auto_assign
        orjson.dumps(res.to_json())
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def bench_autoassign_load(ctx: BenchContext) -> list[BenchResult]:
    workers, each = (200, 100) if not ctx.quick else (50, 100)
    n = 200 if not ctx.quick else 50
    got: dict[str, list[float]] = {}
    for mode in ("distance", "load"):
        st = _onfleet_state(max_tasks=None)
        _fleet(st, workers, each)
        got[mode] = _create_ms(st, mode, n)
    load, dist = got["load"], got["distance"]
    p50 = statistics.median(load)
    base = statistics.median(dist)
    worst = max(load)
    p99 = statistics.quantiles(load, n=100)[98]
    return [
        BenchResult(
            name="emulator.autoassign_load",
            value=p50,
            unit="ms per create (p50)",
            baseline=base,
            ratio=p50 / base if base else None,
            target="p99 <= 50 ms",
            met=p99 <= 50.0,
            note=f"autoAssign load, {workers} workers x {each} tasks, {n} creates in-process; "
            "baseline: the same creates in distance mode, same fleet size, same run; "
            "met on p99 (max also shown: on a shared machine it includes preemption)",
            extra={
                "p99_ms": round(p99, 3),
                "max_ms": round(worst, 3),
                "distance_max_ms": round(max(dist), 3),
            },
        )
    ]


def _bytes_per_task(total: int, *, own_recipient: bool) -> tuple[float, float, int]:
    """(RSS growth per task, CPU µs per task, one task's JSON bytes) over ``total`` tasks
    created in-process in 500-task batches in a fresh state."""
    st = _onfleet_state(max_tasks=None)
    proc = psutil.Process()
    serial = iter(range(10**9)).__next__

    def body() -> bytes:
        bodies = [
            {
                "destination": {"location": [-122.50 + (i // 50) / 100, 37.70 + (i % 50) / 500]},
                "notes": f"order {i}",
                "recipients": [
                    {
                        "name": "Ann",
                        "phone": f"+1415{serial():07d}" if own_recipient else "4155550100",
                    }
                ],
            }
            for i in range(500)
        ]
        return orjson.dumps({"tasks": bodies})

    shared = body()

    def batch() -> bytes:
        # A body with new phones is built per batch (its cost is not the emulator's CPU).
        specs = st.parse_many(orjson.loads(body() if own_recipient else shared)["tasks"])
        results, _ = st.create_many(specs)
        st.rt.commit()
        return orjson.dumps({"tasks": [r.to_json() for r in results if isinstance(r, Task)]})

    batch()  # first-use allocations (recipient, id pools) are not per task
    gc.collect()
    rss0 = proc.memory_info().rss
    created0 = len(st.order)
    cpu0 = time.process_time()
    for _ in range(total // 500):
        batch()
    cpu_s = time.process_time() - cpu0
    gc.collect()
    created = len(st.order) - created0
    wire = len(orjson.dumps(st.order[-1].to_json()))
    return (proc.memory_info().rss - rss0) / created, cpu_s * 1e6 / created, wire


def bench_memory(ctx: BenchContext) -> list[BenchResult]:
    """Bytes of resident memory per stored task, at 1M tasks (100k with ``--quick``): the
    benchmark's process creates them in 500-task batches through the same state methods as
    ``POST /tasks/batch`` (parse, create, commit, encode the answer) and measures its
    growth.  Baseline: the bytes of one task's JSON answer (what it costs on the wire).

    The tasks share one recipient (the ``batch500`` body).  ``bytes_per_task_own_recipient``
    measures tasks that each bring a new recipient (a first-class record of its own, with
    its id and phone indexes), at a tenth of the count."""
    total = 100_000 if ctx.quick else 1_000_000
    per_task, cpu_us, wire = _bytes_per_task(total, own_recipient=False)
    own, _, _ = _bytes_per_task(total // 10, own_recipient=True)
    return [
        BenchResult(
            name="emulator.memory",
            value=per_task,
            unit="bytes per stored task",
            baseline=float(wire),
            ratio=per_task / wire,
            target="<= 1024",
            met=per_task <= 1024,
            note=f"RSS growth over {total:,} tasks created in-process in 500-task batches, "
            "one shared recipient; baseline: one task's JSON answer in bytes",
            extra={
                "tasks": total,
                "cpu_us_per_task_in_process": round(cpu_us, 2),
                "bytes_per_task_own_recipient": round(own),
            },
        )
    ]


BENCHMARKS = [
    ("emulator.create", bench_create),
    ("emulator.batch500", bench_batch500),
    ("emulator.async500", bench_async500),
    ("emulator.autoassign_load", bench_autoassign_load),
    ("emulator.memory", bench_memory),
]
