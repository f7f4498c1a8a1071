"""Route-optimisation benchmark ``sim.optimise`` (``dispatch.policy = "optimise"``).

* ``sim.optimise.solve`` times :func:`sim.vrp.solve` on 100 workers and 1,000 open tasks:
  wall and process CPU (both solver threads) per solve, the VROOM calls the 1 s guard cut,
  and the answer's km, routes and tasks left out;
* ``sim.optimise.day`` runs a (shortened) parcel morning under ``optimise`` against the
  same day under FIFO ``load`` in the same run: wall and CPU of each, and their KPIs.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from fleetsim.bench import BenchContext, BenchFn, BenchResult
from fleetsim.benches.sim import REPO

# Two hours of orders with the scenario's 8-hour promise: the drain covers every deadline,
# since the optimiser may plan a task late in its window.
OPTIMISE_DAY = [
    "scenario.duration_h=2",
    "scenario.drain_h=8",
    "demand.rate_per_h=300",
    "fleet.workers=20",
    "submission.flush_s=1200",
    "dispatch.reoptimise_s=900",
]


def _solve_instance(n_workers: int, n_tasks: int) -> Any:
    from sim.travel import GeodesicTravel
    from sim.vrp import Item, Problem, Stop, Vehicle

    rng = np.random.default_rng(11)
    speed = 25 / 3.6
    vehicles = [
        Vehicle(
            i,
            41.88 + float(rng.uniform(-0.05, 0.05)),
            -87.63 + float(rng.uniform(-0.07, 0.07)),
            0.0,
            9 * 3600.0,
            speed,
            120.0,
        )
        for i in range(n_workers)
    ]
    items = [
        Item(
            (
                Stop(
                    j,
                    41.88 + float(rng.uniform(-0.1, 0.1)),
                    -87.63 + float(rng.uniform(-0.13, 0.13)),
                    75.0,
                    math.nan,
                    8 * 3600.0,
                    False,
                    1.0,
                ),
            )
        )
        for j in range(n_tasks)
    ]
    return Problem(0.0, vehicles, items, GeodesicTravel(1.3, [], 7.0), 1.0)


def _routes_km(problem: Any, sol: Any) -> float:
    """Distance (km) along every route of ``sol``, from each vehicle's start."""
    from sim.geo import geodesic_many_m

    where = {s.task_id: (s.lat, s.lon) for it in problem.items for s in it.pickup + it.delivery}
    starts = {v.id: (v.lat, v.lon) for v in problem.vehicles}
    total = 0.0
    for vid, seq in sol.routes.items():
        pts = np.array([starts[vid], *(where[t] for t in seq)])
        total += float(geodesic_many_m(pts[:-1, 0], pts[:-1, 1], pts[1:, 0], pts[1:, 1]).sum())
    return total / 1000.0


def bench_optimise(ctx: BenchContext) -> list[BenchResult]:
    from sim.run import simulate
    from sim.scenario_io import load_scenario
    from sim.vrp import solve
    from sim.vrp_split import split

    problem = _solve_instance(100, 1000)
    calls = 1 if ctx.quick else 3
    walls, cpus, cut = [], [], 0
    for _ in range(calls):
        t0, c0 = time.perf_counter(), time.process_time()
        sol = solve(problem)
        walls.append(time.perf_counter() - t0)
        # Process CPU: both solver threads, so the figure a quiet machine would need.
        cpus.append(time.process_time() - c0)
        cut += sol.limit_hits
    per_call = sum(walls) / calls
    day = list(OPTIMISE_DAY)
    if ctx.quick:
        day += ["demand.rate_per_h=120", "fleet.workers=8"]
    path = REPO / "scenarios" / "parcel-morning.toml"

    def day_run(policy: str) -> tuple[Any, float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        res = simulate(load_scenario(path, [*day, f"dispatch.policy='{policy}'"]))
        return res, time.perf_counter() - t0, time.process_time() - c0

    # F O F O, each side's fastest: the first run of a process pays one-time imports and
    # caches (~0.18 s here), which counted in FIFO's time alone made the ratio look 3x
    # better than it is.
    runs = [day_run(p) for _ in range(2) for p in ("load", "optimise")]
    fifo, fifo_s, fifo_cpu = min(runs[0::2], key=lambda r: r[1])
    opt, opt_s, opt_cpu = min(runs[1::2], key=lambda r: r[1])
    return [
        BenchResult(
            "sim.optimise.solve",
            per_call,
            "s/solve",
            target="<= 1",
            met=per_call <= 1.0,
            note=(
                f"100 workers, 1,000 open tasks in {len(split(problem))} parts; "
                f"{cut} VROOM calls cut by the 1 s limit (and run again) over {calls} solves"
            ),
            extra={
                "calls": calls,
                "max_s": round(max(walls), 3),
                "cpu_s_per_solve": round(sum(cpus) / calls, 3),
                "km": round(_routes_km(problem, sol), 1),
                "routes": len(sol.routes),
                "unassigned": len(sol.unassigned),
            },
        ),
        BenchResult(
            "sim.optimise.day",
            opt_s,
            "s",
            baseline=fifo_s,
            ratio=opt_s / fifo_s,
            target="<= 3x FIFO",
            met=opt_s <= 3 * fifo_s,
            note="parcel morning (shortened), optimise vs FIFO load; runs alternated "
            "F O F O in one process, fastest of each",
            extra={
                "cpu_s": round(opt_cpu, 3),
                "cpu_s_fifo": round(fifo_cpu, 3),
                "cpu_ratio": round(opt_cpu / fifo_cpu, 1),
                "solver_time_limit_hits": opt.solver_time_limit_hits,
                "tasks": int(opt.kpis["tasks_created"]),
                "on_time_pct_optimise": float(opt.kpis["on_time_pct"]),
                "on_time_pct_fifo": float(fifo.kpis["on_time_pct"]),
                "km_optimise": float(opt.kpis["km_driven"]),
                "km_fifo": float(fifo.kpis["km_driven"]),
            },
        ),
    ]


BENCHMARKS: list[tuple[str, BenchFn]] = [("sim.optimise", bench_optimise)]
