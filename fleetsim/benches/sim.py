"""Simulator benchmarks: a 1,000-worker, 100,000-task day, nearest-worker choice, and
an M/M/20 queue against Ciw.

* ``sim.day`` runs in a child process (so its peak memory is its own) and is compared
  with a bare SimPy timeout loop measured in the same run: the ratio is the model's
  events per second over SimPy's own ceiling.
* ``sim.nearest`` (the nearest-worker choice among 10,000 moving workers) lives in
  :mod:`fleetsim.benches.sim_nearest`.
* ``sim.optimise`` lives in :mod:`fleetsim.benches.optimise`.
* ``sim.queue_vs_ciw`` runs an M/M/20 queue (rho 0.9, mean service 120 s) in fleetsim --
  ``simulate()`` of a scenario with travel ``none``, the ``queue`` policy and single
  submissions, so tables and KPIs are included -- and in Ciw, an independent DES library,
  in the same run: customers per CPU-second of each, and whether the two agree on the
  mean wait and the utilisation (batch means, as ``tests/sim/test_queueing.py`` does).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import resource
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from fleetsim.bench import BenchContext, BenchFn, BenchResult

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


def own_peak_kb() -> int:
    """This process's own peak resident set (KiB) since it was exec'd.

    On Linux ``ru_maxrss`` of RUSAGE_SELF survives exec: a spawned child reports the
    larger of its own peak and the peak of the process it was forked from (a full
    ``fleetsim bench`` run had grown to over 1 GB by then).  ``VmHWM`` in
    /proc/self/status is reset at exec, so it is the child's own figure; elsewhere
    ``ru_maxrss`` is all there is (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _day_child(overrides: list[str], queue: Any) -> None:
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    scenario = load_scenario(REPO / "scenarios" / "tiny.toml", overrides)
    t0, c0 = time.perf_counter(), time.process_time()
    result = simulate(scenario)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak_kb = own_peak_kb()
    queue.put((wall, cpu, result.sim_events, len(result.tasks), len(result.events), peak_kb))


def bench_day(ctx: BenchContext) -> list[BenchResult]:
    overrides = list(DAY_OVERRIDES)
    if ctx.quick:
        overrides += ["fleet.workers=100", "demand.rate_per_h=800"]
    mp_ctx = mp.get_context("spawn")
    queue = mp_ctx.Queue()
    proc = mp_ctx.Process(target=_day_child, args=(overrides, queue))
    proc.start()
    wall, cpu, events, n_tasks, n_log, peak_kb = queue.get(timeout=600)
    proc.join()
    bare = bare_simpy_rate(500_000 if not ctx.quick else 100_000)
    rate = events / wall
    mem_mb = peak_kb / 1024.0
    extra: dict[str, float | int | str] = {
        # CPU seconds of simulate(): on a shared, loaded machine the steadier figure.
        "cpu_s": round(cpu, 3),
        "tasks": n_tasks,
        "events_logged": n_log,
        "simpy_events": events,
    }
    return [
        BenchResult(
            "sim.day.wall",
            wall,
            "s",
            target="<= 3",
            met=wall <= 3.0,
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
            target="<= 400",
            met=mem_mb <= 400.0,
            note="peak RSS of the child process",
        ),
    ]


# -- M/M/20 against Ciw ------------------------------------------------------------------
MMC_SERVERS = 20
MMC_RHO = 0.9
MMC_MEAN_S = 120.0
MMC_CUSTOMERS = 200_000
MMC_QUICK_CUSTOMERS = 20_000
MMC_SEED = 2026


def mmc_scenario(customers: int, servers: int = MMC_SERVERS) -> Any:
    """An M/M/``servers`` scenario with ``customers`` expected arrivals: teleporting
    workers (travel ``none``) pulling from the central ``queue``, oldest first, with every
    task created the moment its order arrives (single calls, no rate limit, no delay)."""
    from sim.scenario_io import parse_scenario

    lam_per_h = MMC_RHO * servers * 3600.0 / MMC_MEAN_S
    hours = customers / lam_per_h
    raw: dict[str, Any] = {
        "scenario": {"name": "mmc", "seed": MMC_SEED, "duration_h": hours, "drain_h": 5.0},
        "region": {"center": [40.75, -73.98], "radius_m": 1500},
        "fleet": {"workers": servers, "shift_end_h": hours + 5.0, "capacity": 1e9},
        "travel": {"model": "none"},
        "demand": {
            "rate_per_h": lam_per_h,
            "mix": {"dropoff": 1, "pickup_dropoff": 0},
            "service": {"kind": "exponential", "mean_s": MMC_MEAN_S},
        },
        "dispatch": {"policy": "queue", "queue_rule": "oldest"},
        "submission": {"mode": "single", "rate_limit_rps": 0, "api_delay_s": 0},
    }
    return parse_scenario(raw)


def batch_means(x: np.ndarray, batches: int = 20) -> tuple[float, float]:
    """Mean and standard error from ``batches`` consecutive batch means."""
    means = np.array([b.mean() for b in np.array_split(x, batches)])
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(batches))


def queue_stats(
    arrival_s: np.ndarray, wait_s: np.ndarray, service_s: np.ndarray, servers: int
) -> dict[str, tuple[float, float]]:
    """Mean wait and utilisation (mean, standard error) after a 5% warm-up.

    Customers are taken in arrival order and cut into 20 batches; a batch's utilisation
    is the work it brought over the server time its arrivals spanned (arrival rate ×
    mean service / servers), which for a stable queue is the fraction of time servers
    are busy.  The same estimator is applied to both simulators.
    """
    order = np.argsort(arrival_s, kind="stable")
    arrival_s, wait_s, service_s = arrival_s[order], wait_s[order], service_s[order]
    skip = len(arrival_s) // 20
    arrival_s, wait_s, service_s = arrival_s[skip:], wait_s[skip:], service_s[skip:]
    util = np.array(
        [
            s.sum() / (servers * (a[-1] - a[0]))
            for a, s in zip(
                np.array_split(arrival_s, 20), np.array_split(service_s, 20), strict=True
            )
        ]
    )
    return {
        "wait_s": batch_means(wait_s),
        "utilisation": (float(util.mean()), float(util.std(ddof=1) / math.sqrt(20))),
    }


def erlang_c_wait_s(servers: int, rho: float, mean_s: float) -> float:
    """Mean wait in queue of M/M/c (Erlang C)."""
    a = rho * servers
    top = a**servers / math.factorial(servers) * servers / (servers - a)
    pw = top / (sum(a**k / math.factorial(k) for k in range(servers)) + top)
    return pw / (servers / mean_s * (1.0 - rho))


def run_fleetsim_mmc(customers: int) -> tuple[float, int, dict[str, tuple[float, float]]]:
    """CPU seconds of ``simulate()`` (demand, model, tables, KPIs), customers served, stats."""
    from sim.run import simulate

    scenario = mmc_scenario(customers)
    t0 = time.process_time()
    result = simulate(scenario)
    cpu = time.process_time() - t0
    t = result.tasks
    created = t["created_s"].to_numpy()
    stats = queue_stats(
        created, t["started_s"].to_numpy() - created, t["service_s"].to_numpy(), MMC_SERVERS
    )
    return cpu, len(t), stats


def run_ciw_mmc(customers: int) -> tuple[float, int, dict[str, tuple[float, float]]]:
    """CPU seconds of building and running the Ciw simulation to ``customers`` exits."""
    import ciw  # type: ignore[import-untyped]  # Ciw ships no type hints

    lam = MMC_RHO * MMC_SERVERS / MMC_MEAN_S
    ciw.seed(MMC_SEED)
    t0 = time.process_time()
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / MMC_MEAN_S)],
        number_of_servers=[MMC_SERVERS],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(customers, method="Finish")
    cpu = time.process_time() - t0
    recs = sim.get_all_records()  # outside the timing: Ciw's own result is its records
    arrival = np.array([r.arrival_date for r in recs])
    stats = queue_stats(
        arrival,
        np.array([r.waiting_time for r in recs]),
        np.array([r.service_time for r in recs]),
        MMC_SERVERS,
    )
    return cpu, len(recs), stats


def agreement(
    a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """z-score of the difference between two estimates, per statistic."""
    return {k: abs(a[k][0] - b[k][0]) / math.sqrt(a[k][1] ** 2 + b[k][1] ** 2 or 1e-300) for k in a}


def bench_queue_vs_ciw(ctx: BenchContext) -> list[BenchResult]:
    n = MMC_QUICK_CUSTOMERS if ctx.quick else MMC_CUSTOMERS
    f_cpu, f_n, f_stats = run_fleetsim_mmc(n)
    c_cpu, c_n, c_stats = run_ciw_mmc(n)
    f_rate, c_rate = f_n / f_cpu, c_n / c_cpu
    z = agreement(f_stats, c_stats)
    agree = all(v < 3.5 for v in z.values())
    wq = erlang_c_wait_s(MMC_SERVERS, MMC_RHO, MMC_MEAN_S)
    note = (
        f"M/M/{MMC_SERVERS} rho {MMC_RHO}; agree (|z| < 3.5): {agree}; "
        f"wait {f_stats['wait_s'][0]:.1f} vs {c_stats['wait_s'][0]:.1f} s "
        f"(Erlang C {wq:.1f}), util {f_stats['utilisation'][0]:.4f} vs "
        f"{c_stats['utilisation'][0]:.4f}"
    )
    extra: dict[str, float | int | str] = {
        "fleetsim_customers": f_n,
        "ciw_customers": c_n,
        "fleetsim_cpu_s": round(f_cpu, 3),
        "ciw_cpu_s": round(c_cpu, 3),
        "fleetsim_wait_s": round(f_stats["wait_s"][0], 3),
        "fleetsim_wait_se_s": round(f_stats["wait_s"][1], 3),
        "ciw_wait_s": round(c_stats["wait_s"][0], 3),
        "ciw_wait_se_s": round(c_stats["wait_s"][1], 3),
        "erlang_c_wait_s": round(wq, 3),
        "fleetsim_utilisation": round(f_stats["utilisation"][0], 5),
        "ciw_utilisation": round(c_stats["utilisation"][0], 5),
        "z_wait": round(z["wait_s"], 3),
        "z_utilisation": round(z["utilisation"], 3),
    }
    return [
        BenchResult(
            "sim.queue_vs_ciw",
            f_rate,
            "customers/cpu-s",
            baseline=c_rate,
            ratio=f_rate / c_rate,
            target="ratio >= 1.0, agree",
            met=f_rate >= c_rate and agree,
            note=note,
            extra=extra,
        )
    ]


BENCHMARKS: list[tuple[str, BenchFn]] = [
    ("sim.day", bench_day),
    ("sim.queue_vs_ciw", bench_queue_vs_ciw),
]
