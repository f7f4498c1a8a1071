"""Simulator benchmarks: a 1,000-worker, 100,000-task day and nearest-worker choice.

* ``sim.day`` runs in a child process (so its peak memory is its own) and is compared
  with a bare SimPy timeout loop measured in the same run: the ratio is the model's
  events per second over SimPy's own ceiling.
* ``sim.nearest`` times autoAssign's ``distance`` choice among 10,000 workers from one
  snapshot, against the brute-force exact geodesic scan in the same run, and checks that
  both pick the same workers.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from fleetsim.bench import BenchContext, BenchFn, BenchResult
from sim.dispatch import (
    AutoAssignOptions,
    FleetSnapshot,
    TaskPoint,
    WorkerView,
    choose_worker,
    choose_worker_bruteforce,
)

REPO = Path(__file__).resolve().parents[2]

DAY_OVERRIDES = [
    "scenario.name='bench-day'",
    "scenario.duration_h=10",
    "scenario.drain_h=3",
    "region.radius_m=3000",
    "fleet.workers=1000",
    "fleet.vehicle='CAR'",
    "fleet.capacity=50",
    "fleet.shift_end_h=13",
    "demand.rate_per_h=8000",
    "demand.mix={dropoff=3, pickup_dropoff=1}",
    "demand.service={kind='lognormal', mean_s=90, sd_s=30}",
    "dispatch.policy='load'",
    "submission.mode='batch'",
]


def bare_simpy_rate(n: int) -> float:
    """Events per second of a SimPy process that only yields timeouts (the ceiling)."""
    env = simpy.Environment()

    def proc(env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        for _ in range(n):
            yield env.timeout(1.0)

    env.process(proc(env))
    t0 = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t0)


def _day_child(overrides: list[str], queue: Any) -> None:
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    scenario = load_scenario(REPO / "scenarios" / "tiny.toml", overrides)
    t0 = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((wall, result.sim_events, len(result.tasks), len(result.events), peak_kb))


def bench_day(ctx: BenchContext) -> list[BenchResult]:
    overrides = list(DAY_OVERRIDES)
    if ctx.quick:
        overrides += ["fleet.workers=100", "demand.rate_per_h=800"]
    mp_ctx = mp.get_context("spawn")
    queue = mp_ctx.Queue()
    proc = mp_ctx.Process(target=_day_child, args=(overrides, queue))
    proc.start()
    wall, events, n_tasks, n_log, peak_kb = queue.get(timeout=600)
    proc.join()
    bare = bare_simpy_rate(500_000 if not ctx.quick else 100_000)
    rate = events / wall
    mem_mb = peak_kb / 1024.0
    extra: dict[str, float | int | str] = {
        "tasks": n_tasks,
        "events_logged": n_log,
        "simpy_events": events,
    }
    return [
        BenchResult(
            "sim.day.wall",
            wall,
            "s",
            target="<= 10",
            met=wall <= 10.0,
            note=f"{n_tasks:,} tasks, 1,000 workers" if not ctx.quick else "quick",
            extra=extra,
        ),
        BenchResult(
            "sim.day.events_per_s",
            rate,
            "events/s",
            baseline=bare,
            ratio=rate / bare,
            note="baseline: bare SimPy timeout loop",
        ),
        BenchResult(
            "sim.day.peak_memory",
            mem_mb,
            "MB",
            target="<= 1024",
            met=mem_mb <= 1024.0,
            note="peak RSS of the child process",
        ),
    ]


def bench_nearest(ctx: BenchContext) -> list[BenchResult]:
    n_workers = 10_000
    n_queries = 2_000 if ctx.quick else 20_000
    n_check = 200 if ctx.quick else 1_000
    rng = np.random.default_rng(2026)
    views = [
        WorkerView(
            id=i,
            lat=float(40.75 + rng.uniform(-0.15, 0.15)),
            lon=float(-73.98 + rng.uniform(-0.2, 0.2)),
            on_duty=bool(rng.random() < 0.9),
        )
        for i in range(n_workers)
    ]
    snap = FleetSnapshot.build(views)
    opts = AutoAssignOptions(mode="distance")
    tasks = [
        TaskPoint(float(40.75 + rng.uniform(-0.15, 0.15)), float(-73.98 + rng.uniform(-0.2, 0.2)))
        for _ in range(n_queries)
    ]
    t0 = time.perf_counter()
    snap.kdtree()
    build_ms = (time.perf_counter() - t0) * 1e3
    choose_worker(snap, tasks[0], opts, use_tree=True)  # warm
    t0 = time.perf_counter()
    fast = [choose_worker(snap, t, opts, use_tree=True) for t in tasks]
    fast_us = (time.perf_counter() - t0) / n_queries * 1e6
    t0 = time.perf_counter()
    brute = [choose_worker_bruteforce(snap, t, opts) for t in tasks[:n_check]]
    brute_us = (time.perf_counter() - t0) / n_check * 1e6
    same = fast[:n_check] == brute
    return [
        BenchResult(
            "sim.nearest",
            fast_us,
            "us/decision",
            baseline=brute_us,
            ratio=fast_us / brute_us,
            target="<= 20, identical",
            met=fast_us <= 20.0 and same,
            note=f"10,000 workers; identical choices on {n_check}: {same}",
            extra={"tree_build_ms": round(build_ms, 2), "queries": n_queries},
        )
    ]


BENCHMARKS: list[tuple[str, BenchFn]] = [("sim.day", bench_day), ("sim.nearest", bench_nearest)]
