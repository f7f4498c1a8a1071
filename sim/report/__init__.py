"""Reports people would rather look at than read: one self-contained HTML page per run
(:func:`write_report`) or per sweep (:func:`write_sweep_report`), charts embedded as PNG.

Modules: :mod:`~sim.report.figures` (chart records, deterministic rendering),
:mod:`~sim.report.html` (escaped page building), :mod:`~sim.report.run_charts` (one
run's charts), :mod:`~sim.report.replay` (load-test results), :mod:`~sim.report.run_report`
and :mod:`~sim.report.sweep_report` (the two pages).
"""

from __future__ import annotations

from pathlib import Path


def write_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` for a simulated run; return its path."""
    from sim.report.run_report import write_report as _write

    return _write(run_dir)


def write_sweep_report(out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` for a sweep directory; return its path."""
    from sim.report.sweep_report import write_sweep_report as _write_sweep

    return _write_sweep(out_dir)


__all__ = ["write_report", "write_sweep_report"]
