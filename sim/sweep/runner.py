"""Running the sweep's runs: one run in isolation, and executors that run many.

Concepts held here:

* :class:`RunRow` -- the flat result of one run (id, phase, parameters, seed, KPIs, and
  the error text when it failed).  A failure is data, not an exception: the sweep goes on.
* :func:`execute` -- what a Dask worker (or the serial loop) runs for one
  :class:`~sim.sweep.grid.RunSpec`; it never raises.
* :class:`SerialExecutor` and :class:`DaskExecutor` -- the same contract (run these jobs,
  call ``on_row`` as each finishes), in-process or on a Dask cluster.  Comparing the two
  is how the tests check that distribution changes nothing.
* :func:`local_cluster` / :func:`connect` -- a ``LocalCluster`` of processes with one
  thread each (the simulator is pure Python: threads would fight over the GIL) whose
  workers ignore Ctrl-C, or a client of an existing cluster at a checked address.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sim.errors import UserError
from sim.sweep.grid import ParamValue, RunSpec

KpiValue = float | int
SimFn = Callable[[Any, int], Mapping[str, KpiValue]]
"""``fn(scenario, seed) -> kpis``: the simulation a run performs (picklable by reference)."""

Job = tuple[RunSpec, Any]  # a run and the (validated) scenario object it simulates


@dataclass(frozen=True, slots=True)
class RunRow:
    """One finished run.  ``error`` is "" on success; then ``kpis`` holds every KPI."""

    run_id: str
    phase: str
    params: tuple[tuple[str, ParamValue], ...]
    seed: int
    kpis: tuple[tuple[str, float], ...]
    error: str
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return not self.error

    def kpi(self, name: str) -> float:
        return dict(self.kpis).get(name, math.nan)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "phase": self.phase,
            "params": dict(self.params),
            "seed": self.seed,
            "kpis": dict(self.kpis),
            "error": self.error,
            "elapsed_s": self.elapsed_s,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunRow:
        return cls(
            run_id=str(d["run_id"]),
            phase=str(d.get("phase", "grid")),
            params=tuple((str(k), v) for k, v in dict(d["params"]).items()),
            seed=int(d["seed"]),
            kpis=tuple((str(k), float(v)) for k, v in dict(d["kpis"]).items()),
            error=str(d.get("error", "")),
            elapsed_s=float(d.get("elapsed_s", math.nan)),
        )


def failed_row(spec: RunSpec, error: str, elapsed_s: float = math.nan) -> RunRow:
    return RunRow(spec.run_id, spec.phase, spec.variant.items, spec.seed, (), error, elapsed_s)


def _describe(exc: BaseException) -> str:
    """``Type: message`` plus the innermost frame, enough to find the bug from the table."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def execute(fn: SimFn, scenario: Any, spec: RunSpec) -> RunRow:
    """Run one simulation and return its row; any exception becomes the row's error."""
    t0 = time.perf_counter()
    try:
        kpis = fn(scenario, spec.seed)
        values = tuple((str(k), float(v)) for k, v in kpis.items())
    except Exception as exc:  # a failing run is recorded, and the sweep goes on
        return failed_row(spec, _describe(exc), time.perf_counter() - t0)
    elapsed = time.perf_counter() - t0
    return RunRow(spec.run_id, spec.phase, spec.variant.items, spec.seed, values, "", elapsed)


def simulate_kpis(scenario: Any, seed: int) -> dict[str, KpiValue]:
    """The default run: the fleet simulator's KPIs for ``scenario`` at ``seed``."""
    from sim.run import simulate

    return dict(simulate(scenario, seed).kpis)


class RunExecutor(Protocol):
    """Runs jobs and reports each row as it finishes (in any order)."""

    def run(self, fn: SimFn, jobs: Sequence[Job], on_row: Callable[[RunRow], None]) -> None: ...


class SerialExecutor:
    """Runs every job in this process, in order (the reference for the Dask executor)."""

    def run(self, fn: SimFn, jobs: Sequence[Job], on_row: Callable[[RunRow], None]) -> None:
        for spec, scenario in jobs:
            on_row(execute(fn, scenario, spec))


class DaskExecutor:
    """Runs jobs on a Dask cluster through ``client`` (a ``distributed.Client``)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, fn: SimFn, jobs: Sequence[Job], on_row: Callable[[RunRow], None]) -> None:
        dist: Any = importlib.import_module("distributed")

        if not jobs:
            return
        # Each variant's scenario travels to the cluster once, not once per seed.
        scattered: dict[int, Any] = {}
        for _, scenario in jobs:
            if id(scenario) not in scattered:
                scattered[id(scenario)] = self.client.scatter(scenario, hash=False)
        batch = uuid.uuid4().hex[:8]  # keys stay unique on a shared, long-lived cluster
        specs: dict[str, RunSpec] = {}
        futures: list[Any] = []
        for spec, scenario in jobs:
            fut = self.client.submit(
                execute,
                fn,
                scattered[id(scenario)],
                spec,
                key=f"fleetsim-run-{spec.run_id}-{batch}",
                pure=False,
                retries=0,
            )
            specs[fut.key] = spec
            futures.append(fut)
        try:
            for fut in dist.as_completed(futures):
                spec = specs[fut.key]
                try:
                    row = fut.result()
                except Exception as exc:  # the worker died or the task was lost
                    row = failed_row(spec, _describe(exc))
                on_row(row)
                fut.release()
        except BaseException:
            self.client.cancel(futures)
            raise
        finally:
            self.client.cancel(list(scattered.values()))


WORKER_PRELOAD = "sim.sweep.worker_setup"
"""Imported by every local worker: it ignores SIGINT, so Ctrl-C is the main process's."""

_ADDRESS_RE = re.compile(
    r"^(?:(?:tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d+)/?$"
)


@contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Mute distributed's loggers in this process while a cluster shuts down: workers that
    leave mid-task make the scheduler log errors that say nothing about the sweep."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextmanager
def local_cluster(n_workers: int) -> Iterator[Any]:
    """A client on a fresh ``LocalCluster``: ``n_workers`` processes, one thread each.

    Workers ignore SIGINT (:mod:`sim.sweep.worker_setup`); Ctrl-C interrupts this process,
    which cancels the runs and closes the cluster quietly.  The scheduler's HTTP server
    (Dask always starts one) listens on a free loopback port, not 8787, so two sweeps at
    once do not warn about a port in use; the dashboard itself is off.
    """
    if n_workers < 1:
        raise UserError(f"--workers {n_workers}: need at least 1")
    dist: Any = importlib.import_module("distributed")
    cluster = dist.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        preload=[WORKER_PRELOAD],
    )
    try:
        client = dist.Client(cluster)
        try:
            yield client
        finally:
            with _quiet_distributed():
                client.close()
    finally:
        with _quiet_distributed():
            cluster.close()


def check_address(address: str) -> None:
    """A scheduler address must look like ``tcp://host:port`` (the scheme is optional)."""
    m = _ADDRESS_RE.match(address.strip())
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise UserError(
            f"--scheduler {address!r}: not a scheduler address; expected tcp://host:port, "
            "e.g. tcp://10.0.0.5:8786"
        )


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """A client of the existing cluster at ``address`` (``tcp://host:8786``)."""
    check_address(address)
    dist: Any = importlib.import_module("distributed")
    try:
        client = dist.Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise UserError(
            f"--scheduler {address!r}: cannot reach a Dask scheduler there ({exc}); "
            "start one with `dask scheduler` or omit --scheduler for a local cluster"
        ) from None
    except (ValueError, TypeError, AssertionError) as exc:  # an address Dask cannot parse
        raise UserError(
            f"--scheduler {address!r}: not a scheduler address ({exc}); "
            "expected tcp://host:port, e.g. tcp://10.0.0.5:8786"
        ) from None
    with client:
        yield client
