"""What ``fleetsim replay`` adds for CI around the Locust child: options and the parent's part.

Concepts held here: :class:`CiOptions` (``--skip-preflight``, ``--quiet``,
``--timeseries``, ``--metrics-port``, ``--baseline``, ``--gate``; validated once),
:func:`run_preflight` (the pre-flight of :mod:`loadtest.replay.preflight` over the
providers the trace calls, printed one line per failure), :class:`ParentWatch` (what the
parent does while the child runs: live progress from the child's ``live.json`` and the
``/metrics`` server) and :func:`compare_with_baseline` (``--baseline``: the existing
:func:`loadtest.replay.compare.compare_replays` at the end, ``--gate`` applied).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from loadtest.replay.finalize import EXIT_INVALID
from loadtest.replay.metrics import MetricsServer
from loadtest.replay.preflight import preflight
from loadtest.replay.progress import LIVE_FILE, ProgressPrinter, read_snapshot
from loadtest.replay.timeseries import TIMESERIES_SUFFIXES
from loadtest.replay.wire import Targets
from sim.errors import UserError

__all__ = ["EXIT_INVALID", "CiOptions", "ParentWatch", "compare_with_baseline", "run_preflight"]


@dataclass(frozen=True, slots=True)
class CiOptions:
    """The CI flags of ``fleetsim replay`` (see ``fleetsim replay --help``)."""

    skip_preflight: bool = False
    quiet: bool = False
    timeseries: Path | None = None
    metrics_port: int | None = None
    baseline: Path | None = None
    gate: Path | None = None

    def __post_init__(self) -> None:
        if self.timeseries is not None and self.timeseries.suffix not in TIMESERIES_SUFFIXES:
            raise UserError(
                f"--timeseries {self.timeseries}: the name must end in "
                f"{' or '.join(TIMESERIES_SUFFIXES)} (the format is chosen by it)"
            )
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise UserError(f"--metrics-port {self.metrics_port}: must be 0..65535")
        if self.baseline is not None and not (self.baseline / "results.json").is_file():
            raise UserError(
                f"--baseline {self.baseline}: no results.json there (give the --out "
                "directory of an earlier replay)"
            )
        if self.gate is not None:
            if self.baseline is None:
                raise UserError("--gate needs --baseline (it limits the change from it)")
            if not self.gate.is_file():
                raise UserError(f"--gate {self.gate}: no such file")
            try:  # its names are checked against the comparison, at the end
                tomllib.loads(self.gate.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise UserError(f"--gate {self.gate}: {exc}") from None

    def locust_args(self, out: Path) -> list[str]:
        """The Locust child's options: where it writes its live snapshot and time series."""
        args = ["--fleetsim-live", str(out / LIVE_FILE)]
        if self.timeseries is not None:
            args += ["--fleetsim-timeseries", str(self.timeseries)]
        return args


def run_preflight(targets: Targets, providers: Iterable[str], stream: TextIO) -> bool:
    """Probe every provider in ``providers``; print one line per failure.  True: go."""
    results = preflight(targets, providers)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"pre-flight: {r.problem}", file=stream)
    if failed:
        print(
            "pre-flight failed: nothing was sent (exit 3; --skip-preflight to go ahead)",
            file=stream,
        )
        return False
    return True


class ParentWatch:
    """While the child runs: progress lines and ``/metrics`` from its ``live.json``."""

    def __init__(self, opts: CiOptions, out: Path, stream: TextIO) -> None:
        self.live_path = out / LIVE_FILE
        self.live_path.unlink(missing_ok=True)  # an earlier run's snapshot is not ours
        self.printer = None if opts.quiet else ProgressPrinter(stream)
        self.metrics = MetricsServer(opts.metrics_port) if opts.metrics_port is not None else None
        self._mtime = 0.0
        if self.metrics is not None:
            self.metrics.start()
            print(f"metrics: http://127.0.0.1:{self.metrics.port}/metrics", file=stream)

    def poll(self) -> None:
        """Read a new snapshot if the child wrote one; show it."""
        try:
            mtime = self.live_path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            if self.printer is not None:
                self.printer.tick()
            return
        self._mtime = mtime
        snap = read_snapshot(self.live_path)
        if snap is None:
            return
        if self.metrics is not None:
            self.metrics.update(snap)
        if self.printer is not None:
            self.printer.show(snap)

    def close(self) -> None:
        self.poll()
        if self.printer is not None:
            self.printer.close()
        if self.metrics is not None:
            self.metrics.close()


def compare_with_baseline(opts: CiOptions, out: Path, stream: TextIO) -> int:
    """``--baseline``: compare this run with the baseline, print and write the comparison
    into ``out/compare`` (``compare.json``, ``compare.html``); with ``--gate``, 1 when a
    limit on the change is exceeded, else 0."""
    from loadtest.replay.compare import run_compare
    from sim.compare_gate import gate_lines

    assert opts.baseline is not None
    outcome = run_compare(opts.baseline, out, out / "compare", opts.gate)
    print(f"compared with the baseline {opts.baseline}:", file=stream)
    print("\n".join(outcome.comparison.lines()), file=stream)
    if outcome.checks is not None:
        print("\n".join(gate_lines(outcome.checks)), file=stream)
        for why in outcome.invalid:
            print(f"invalid replay, the gate cannot pass: {why}", file=stream)
        print(f"gate: {len(outcome.failed)} limit(s) significantly violated", file=stream)
    print("wrote " + ", ".join(str(f) for f in outcome.files), file=stream)
    return outcome.exit_code
