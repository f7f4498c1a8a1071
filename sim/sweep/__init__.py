"""Sweeps: a scenario's variants (a grid of ``--set`` values) × replication seeds, run on
Dask, summarised with confidence intervals, and searched for the smallest fleet that meets
a service-level target.

A sweep directory holds:

* ``runs.jsonl`` -- the journal, one finished run per line (what ``--resume`` reads);
* ``sweep.parquet`` -- one row per run: ``run_id`` (stable hash of scenario content,
  parameters and seed), ``phase`` (``grid`` or ``search``), one column per parameter
  (dotted names such as ``fleet.workers``), ``seed``, one column per KPI (NaN for a failed
  run), ``error`` ("" on success) and ``elapsed_s``;
* ``summary.csv`` -- one row per variant: the parameters, ``n_runs``, ``n_failed`` and for
  every KPI ``<kpi>_mean``, ``<kpi>_ci_low``, ``<kpi>_ci_high`` (95% bootstrap percentile
  over the seeds, inside the KPI's range), plus
  ``meets_target`` with ``--target``;
* ``paired.csv`` -- with ``--baseline-variant``: per variant and KPI the mean per-seed
  difference from the baseline with its 95% interval, ``differs`` when it excludes 0
  (see :mod:`~sim.sweep.paired`);
* ``sweep.json`` -- the grid, seeds, target, baseline and each fleet-size search with its
  points, the paired comparison of its answer with one worker fewer and any ceiling;
* ``report.html`` and ``sweep-*.png`` -- the comparison (see :mod:`sim.report`).

Modules: :mod:`~sim.sweep.grid` (grid and run ids), :mod:`~sim.sweep.runner` (one run,
executors, clusters), :mod:`~sim.sweep.worker_setup` (local workers leave Ctrl-C to the
main process), :mod:`~sim.sweep.stats` (bootstrap intervals),
:mod:`~sim.sweep.target` (targets and bisection), :mod:`~sim.sweep.paired`
(``--baseline-variant``), :mod:`~sim.sweep.store` (journal and
table), :mod:`~sim.sweep.summary` (``summary.csv``), :mod:`~sim.sweep.meta`
(``sweep.json``), :mod:`~sim.sweep.driver` (:func:`run_sweep`).
"""

from sim.sweep.config import SweepConfig
from sim.sweep.driver import FileScenarios, SweepResult, run_sweep

__all__ = ["FileScenarios", "SweepConfig", "SweepResult", "run_sweep"]
