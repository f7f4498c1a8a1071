"""What ``fleetsim sweep`` asks for, as one record: :class:`SweepConfig`.

Its own module, below both the driver and the journal (``meta.py``), so neither imports
the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """One sweep: the scenario, ``--set`` specs, replications and where/how to run."""

    scenario: Path
    sets: tuple[str, ...] = ()
    seeds: int = 10
    out_dir: Path | None = None
    scheduler: str | None = None  # address of an existing Dask cluster
    workers: int | None = None  # local cluster size (default: CPU count)
    serial: bool = False  # run in this process (no Dask); for debugging and tests
    target: str | None = None
    baseline_variant: str | None = None  # paired differences against this grid variant
    fleet_range: tuple[int, int] | None = None
    resume: bool = False
    progress: bool | None = None  # None: a bar when stderr is a terminal
    report: bool = True
