"""The run's page as the command line writes it: the simulator's report plus the sections
of the load-test replay (when the run directory holds a ``results.json``).

``sim.report`` knows nothing of the replay; this composition root hands it the replay's
section provider.
"""

from __future__ import annotations

from pathlib import Path


def write_run_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` with the replay's sections; return its path."""
    from loadtest.replay.report import replay_sections
    from sim.report import write_report

    return write_report(run_dir, extra=(replay_sections,))
