"""Running a scenario: demand → submission plan → SimPy model → tables and KPIs.

:func:`simulate` is the library entry point behind ``fleetsim simulate`` (and the sweep).
The run owns its randomness: one seed, one child stream per purpose.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import simpy

from sim import __version__
from sim.demand import Order, build_demand
from sim.kpis import Kpis, compute_kpis
from sim.model import Model
from sim.rng import make_streams
from sim.run_meta import RunMeta
from sim.scenario import Scenario
from sim.submission import PlannedCall, plan_submissions
from sim.tables import submissions_frame, tasks_frame, workers_frame


@dataclass(slots=True)
class SimResult:
    """Everything a run produced: four tables, the KPIs and what identifies the run."""

    scenario: Scenario
    seed: int
    tasks: pd.DataFrame
    events: pd.DataFrame
    workers: pd.DataFrame
    submissions: pd.DataFrame
    kpis: Kpis
    meta: RunMeta
    #: Number of SimPy events the model processed (for the benchmark).
    sim_events: int = 0
    #: Route-optimiser searches ``dispatch.solver_time_limit_s`` cut short (each was run
    #: again to its end, so the routes are the same).  It depends on the machine's load,
    #: so it is reported on stderr, never written to the outputs.
    solver_time_limit_hits: int = 0
    #: Of those, searches cut again on their re-run: their answers were kept, so this
    #: run's outputs may differ on another machine (reported on stderr).
    solver_cut_kept: int = 0


def _ticker(env: simpy.Environment, bar: Any, step_s: float) -> Generator[simpy.Event, Any, None]:
    while True:
        bar.n = round(env.now / 3600.0, 2)
        bar.refresh()
        yield env.timeout(step_s)


def _run_until_done(model: Model, horizon_s: float, progress: bool) -> None:
    """Run until every task is done or the horizon passes, with an optional progress bar."""
    env = model.env
    stop = env.any_of([model.done, env.timeout(horizon_s)])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=round(horizon_s / 3600.0, 2),
            unit="sim-h",
            file=sys.stderr,
            desc=model.scenario.name,
            leave=False,
        )
        env.process(_ticker(env, bar, max(horizon_s / 200.0, 1.0)))
    env.run(until=stop)
    if bar is not None:
        bar.close()


def simulate(scenario: Scenario, seed: int | None = None, progress: bool = False) -> SimResult:
    """Simulate one day of ``scenario`` with ``seed`` (default: the scenario's own)."""
    seed = scenario.scenario.seed if seed is None else seed
    streams = make_streams(seed)
    # The day's tasks and orders live for the whole run and form no garbage cycles, yet
    # every full pass of Python's cyclic collector would walk all 100,000 of them again
    # (a fifth of the CPU of a queueing run).  So the collector is paused while they are
    # built, and then gc.freeze() moves them out of its sight until the run is over.
    # Objects are still freed by reference counting; only the scanning is skipped.  A
    # caller that froze objects itself is left alone.
    with _collector_paused():
        tasks, orders = build_demand(scenario, streams)
        calls = plan_submissions(orders, scenario.submission)
        model = Model(scenario, streams, tasks, orders, calls)
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    try:
        model.start()
        horizon_s = (scenario.scenario.duration_h + scenario.scenario.drain_h) * 3600.0
        horizon_s = max(horizon_s, max((c.available_s for c in calls), default=0.0))
        _run_until_done(model, horizon_s, progress)
        model.close()
        return _collect(scenario, seed, model, orders, calls)
    finally:
        if froze:
            gc.unfreeze()


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _collect(
    scenario: Scenario, seed: int, model: Model, orders: list[Order], calls: list[PlannedCall]
) -> SimResult:
    tasks = tasks_frame(model.tasks, scenario.start_epoch_ms, ZoneInfo(scenario.scenario.timezone))
    workers = workers_frame(model.workers)
    left_out = getattr(model.dispatcher, "left_out", ())
    kpis = compute_kpis(
        tasks,
        workers,
        end_s=model.end_s,
        cost=scenario.cost,
        solver_left_out=len(left_out),
    )
    meta = RunMeta(
        scenario=scenario.name,
        scenario_hash=scenario.content_hash(),
        seed=seed,
        version=__version__,
        start_epoch_ms=scenario.start_epoch_ms,
        duration_s=scenario.scenario.duration_h * 3600.0,
        end_s=model.end_s,
    )
    return SimResult(
        scenario=scenario,
        seed=seed,
        tasks=tasks,
        events=model.log.to_frame(),
        workers=workers,
        submissions=submissions_frame(calls),
        kpis=kpis,
        meta=meta,
        # SimPy numbers every scheduled event; the next number is the count so far.
        sim_events=int(next(model.env._eid)),
        solver_time_limit_hits=int(getattr(model.dispatcher, "limit_hits", 0)),
        solver_cut_kept=int(getattr(model.dispatcher, "cut_kept", 0)),
    )
