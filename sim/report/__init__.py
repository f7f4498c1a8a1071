"""Reports people would rather look at than read: one self-contained HTML page per run
(:func:`write_report`) or per sweep (:func:`write_sweep_report`), charts embedded as PNG.

Modules: :mod:`~sim.report.figures` (chart records, deterministic rendering),
:mod:`~sim.report.html` (escaped page building, pass/fail/skipped badges),
:mod:`~sim.report.clock` (clock times in ``scenario.timezone``),
:mod:`~sim.report.run_charts` (one run's charts, the density map, duration units),
:mod:`~sim.report.hourly` (on time and lateness by hour of day),
:mod:`~sim.report.sweep_answer` (the sweep's answer sentence, varying and constant KPIs,
the paired-difference chart), :mod:`~sim.report.run_report` and
:mod:`~sim.report.sweep_report` (the two pages).  The run page takes extra sections
from its caller: ``fleetsim`` adds the load-test replay's (:mod:`loadtest.replay.report`),
so this package knows nothing of ``results.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.report.run_report import SectionProvider


def write_report(run_dir: Path, extra: Sequence[SectionProvider] = ()) -> Path:
    """Write ``run_dir/report.html`` for a simulated run; return its path.

    ``extra`` section providers add sections after the run's own (see
    :data:`sim.report.run_report.SectionProvider`).
    """
    from sim.report.run_report import write_report as _write

    return _write(run_dir, extra)


def write_sweep_report(out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` for a sweep directory; return its path."""
    from sim.report.sweep_report import write_sweep_report as _write_sweep

    return _write_sweep(out_dir)


__all__ = ["write_report", "write_sweep_report"]
