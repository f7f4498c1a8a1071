"""Sweeps: a scenario's variants (a grid of ``--set`` values) × replication seeds, run on
Dask, summarised with confidence intervals, and searched for the smallest fleet that meets
a service-level target.

Modules: :mod:`~sim.sweep.grid` (grid and run ids), :mod:`~sim.sweep.runner` (one run,
executors, clusters), :mod:`~sim.sweep.stats` (Student-t intervals),
:mod:`~sim.sweep.target` (targets and bisection), :mod:`~sim.sweep.store` (journal and
table), :mod:`~sim.sweep.summary` (``summary.csv``), :mod:`~sim.sweep.meta`
(``sweep.json``), :mod:`~sim.sweep.driver` (:func:`run_sweep`).
"""

from sim.sweep.driver import FileScenarios, SweepConfig, SweepResult, run_sweep

__all__ = ["FileScenarios", "SweepConfig", "SweepResult", "run_sweep"]
