"""fleetsim from Python (a notebook, a script): the commands as functions.

``sim`` and ``loadtest`` are the libraries; this package is the composition root.  On the
command line it parses arguments, calls one library function per command and turns
errors into exit codes; here the same library functions are six thin wrappers::

    import fleetsim

    scenario = fleetsim.load_scenario("scenarios/tiny.toml", ["fleet.workers=4"])
    run = fleetsim.simulate(scenario, out="results/tiny-4")   # tables, kpis.json, trace
    fleetsim.read_run("results/tiny-4").kpis["on_time_pct"]
    sw = fleetsim.sweep("scenarios/tiny.toml", sets=["fleet.workers=4,6"], seeds=5)
    res = fleetsim.replay("results/tiny-4", speedup=600)      # a private emulator
    c = fleetsim.compare("results/base", "results/tiny-4")    # deltas with intervals

Bad input raises :class:`sim.errors.UserError` (the CLI's exit 2) with the same message
the command prints.  Imports are deferred to the calls, so ``import fleetsim`` (and so
the CLI's start) stays quick.  ``docs/notebook_example.py`` runs all six.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadtest.replay.results import ReplayResults
    from sim.compare import Comparison
    from sim.output import RunData
    from sim.run import SimResult
    from sim.scenario import Scenario
    from sim.sweep import SweepResult

__all__ = ["compare", "load_scenario", "read_run", "replay", "simulate", "sweep"]

PathLike = str | Path


def load_scenario(path: PathLike, overrides: Sequence[str] = ()) -> Scenario:
    """Read and validate a scenario TOML file, with ``--set``-style overrides
    (``"fleet.workers=80"``).  Errors name the field, the bad value and what is allowed."""
    from sim.scenario_io import load_scenario as _load

    return _load(Path(path), list(overrides))


def simulate(
    scenario: Scenario | PathLike,
    *,
    seed: int | None = None,
    out: PathLike | None = None,
    trace: bool = True,
    trace_providers: Sequence[str] = ("onfleet",),
) -> SimResult:
    """Run a scenario (an object from :func:`load_scenario`, or a file) and return its
    tables (``tasks``, ``events``, ``workers``, ``submissions``) and ``kpis``.

    With ``out``, also write the run directory as ``fleetsim simulate --out`` does:
    Parquet tables, ``kpis.json``, ``scenario.toml`` and, unless ``trace=False``, the API
    trace ``trace.jsonl`` that :func:`replay` sends."""
    from sim.output import write_outputs
    from sim.run import simulate as _simulate

    sc = scenario if not isinstance(scenario, str | Path) else load_scenario(scenario)
    if seed is not None and seed < 0:
        from sim.errors import UserError

        raise UserError(f"seed {seed}: must be a non-negative integer")
    if out is None:
        return _simulate(sc, seed=seed)
    writers: list[Callable[[SimResult, Path], None]] = []
    if trace:
        from loadtest.trace.onfleet import scenario_options, write_trace

        options = scenario_options(sc, tuple(trace_providers))  # a typo fails before the run
        writers.append(lambda r, d: write_trace(r, d / "trace.jsonl", options))
    result = _simulate(sc, seed=seed)
    write_outputs(result, Path(out), extra=[partial(w, result) for w in writers])
    return result


def read_run(path: PathLike) -> RunData:
    """A run directory read back: its tables as DataFrames, ``kpis`` and ``meta``."""
    from sim.output import read_run as _read

    return _read(Path(path))


def sweep(
    scenario: PathLike,
    *,
    sets: Sequence[str] = (),
    seeds: int = 10,
    out: PathLike | None = None,
    serial: bool = True,
    workers: int | None = None,
    target: str | None = None,
    baseline_variant: str | None = None,
    report: bool = False,
) -> SweepResult:
    """Variants × seeds, as ``fleetsim sweep``: ``sets`` are ``"fleet.workers=60,80"``
    grids, every variant runs seeds ``seed .. seed + seeds - 1`` (common random numbers).

    Runs in this process by default (``serial=True``; ``False`` starts a local Dask
    cluster of ``workers`` processes).  Writes ``sweep.parquet``, ``summary.csv`` and
    ``sweep.json`` into ``out`` (default ``results/sweep-<name>/``); ``report`` adds the
    HTML report.  The result's ``rows`` hold every run's KPIs."""
    from sim.sweep import SweepConfig, run_sweep

    config = SweepConfig(
        scenario=Path(scenario),
        sets=tuple(sets),
        seeds=seeds,
        out_dir=Path(out) if out is not None else None,
        serial=serial,
        workers=workers,
        target=target,
        baseline_variant=baseline_variant,
        report=report,
        progress=False,
    )
    return run_sweep(config)


def replay(
    trace: PathLike,
    *,
    host: str | None = None,
    speedup: float = 1.0,
    out: PathLike = "results/replay",
    profile: str = "fast",
    thresholds: PathLike | None = None,
    processes: int = 1,
) -> ReplayResults:
    """Replay a trace (``trace.jsonl`` or the run directory holding it) through Locust in
    a child process, as ``fleetsim replay``, and return the ``results.json`` record.

    Without ``host``, the emulator (``profile``: fast, realistic or a TOML file) is
    served from this process on a free loopback port for the replay's length, as
    ``fleetsim demo`` does.  Locust's own output goes to ``out/locust.log``.  A run that
    wrote no results raises :class:`~sim.errors.UserError`; an invalid run or a failed
    threshold is in the record (``valid``, ``thresholds``), not an exception."""
    from contextlib import nullcontext

    from loadtest.emulator.config import load_profile
    from loadtest.emulator.serve import EmulatorServer
    from loadtest.replay.launch import ReplayOptions, run_replay
    from loadtest.replay.results import read_results
    from sim.errors import UserError

    path = Path(trace)
    if path.is_dir():
        path = path / "trace.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: no such trace")
    out_dir = Path(out)
    server = EmulatorServer(load_profile(profile)) if host is None else None
    with server if server is not None else nullcontext(host) as url:
        assert url is not None
        opts = ReplayOptions(
            trace=path,
            host=url,
            speedup=speedup,
            out=out_dir,
            thresholds=Path(thresholds) if thresholds is not None else None,
            processes=processes,
            log_path=out_dir / "locust.log",
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        code = run_replay(opts)
    results = out_dir / "results.json"
    if not results.is_file():
        raise UserError(f"the replay wrote no results (exit {code}); see {out_dir / 'locust.log'}")
    return read_results(results)


def compare(
    base: PathLike,
    new: PathLike,
    *,
    out: PathLike | None = None,
    what_if: bool = False,
) -> Comparison:
    """Compare two runs, two sweeps or two replays, as ``fleetsim compare``: KPI (or
    latency and error-ratio) deltas with their intervals and verdicts
    (``.deltas``, ``.to_frame()``, ``.lines()``, ``.to_json()``).

    With ``out``, writes ``compare.json`` and ``compare.html`` there.  Runs of
    differently named scenarios need ``what_if=True``.  To gate on the deltas, as
    ``--gate`` does, call :func:`loadtest.replay.compare.run_compare`, which returns the
    checks and the exit code too."""
    from loadtest.replay.compare import run_compare

    outcome = run_compare(
        Path(base), Path(new), Path(out) if out is not None else None, what_if=what_if
    )
    return outcome.comparison
