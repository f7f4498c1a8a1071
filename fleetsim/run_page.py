"""The run's page as the command line writes it: the simulator's report plus the sections
of the load-test replay: those of ``replay_dir`` (``fleetsim report RUN --replay DIR``),
else of the run directory's own ``results.json`` when it holds one.

``sim.report`` knows nothing of the replay; this composition root hands it the replay's
section provider.
"""

from __future__ import annotations

from pathlib import Path

from sim.errors import UserError


def write_run_report(run_dir: Path, replay_dir: Path | None = None) -> Path:
    """Write ``run_dir/report.html`` with the replay's sections; return its path."""
    from loadtest.replay.report import replay_sections
    from sim.report import write_report

    if replay_dir is None:
        return write_report(run_dir, extra=(replay_sections,))
    if not (replay_dir / "results.json").is_file():
        raise UserError(
            f"--replay {replay_dir}: no results.json there (give the --out directory of "
            "fleetsim replay)"
        )
    chosen = replay_dir
    return write_report(run_dir, extra=(lambda _run: replay_sections(chosen),))
