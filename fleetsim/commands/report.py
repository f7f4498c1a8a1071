"""``fleetsim report DIR``: the HTML report of a run directory or of a sweep directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import UserError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="write DIR/report.html for a run (from simulate) or a sweep directory",
    )
    p.add_argument("run_dir", type=Path, metavar="DIR", help="run or sweep directory")
    p.add_argument(
        "--replay",
        type=Path,
        metavar="REPLAY_DIR",
        help="add the load-test sections of this replay (the --out of fleetsim replay); "
        "default: DIR's own results.json, if any",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fleetsim.run_page import write_run_report
    from sim.report import write_sweep_report

    d: Path = args.run_dir
    if not d.is_dir():
        raise UserError(f"{d}: no such directory (give a run directory from fleetsim simulate)")
    if (d / "sweep.json").is_file():
        if args.replay is not None:
            raise UserError("--replay adds a replay to a run's report, not to a sweep's")
        path = write_sweep_report(d)
    elif (d / "kpis.json").is_file():
        path = write_run_report(d, args.replay)
    else:
        raise UserError(
            f"{d}: neither a run directory (no kpis.json) nor a sweep directory (no sweep.json)"
        )
    print(f"wrote {path}")
    return 0
