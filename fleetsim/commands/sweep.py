"""``fleetsim sweep SCENARIO --set k=v1,v2 --seeds N``: variants × seeds on Dask."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fleetsim.options import add_set_option
from sim.errors import UserError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sweep",
        help="run a scenario's variants × seeds on Dask; summary with 95%% CIs and a report",
    )
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    add_set_option(p, dest="sets", sweep=True)
    p.add_argument(
        "--seeds",
        type=int,
        default=10,
        help="replications per variant; seeds are the scenario's seed + 0..N-1",
    )
    p.add_argument("--out", type=Path, help="output directory (default results/sweep-<name>/)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster); "
        "its workers need fleetsim installed",
    )
    p.add_argument(
        "--workers", type=int, help="local cluster size in processes (default: CPU count)"
    )
    p.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    p.add_argument(
        "--target",
        metavar="KPI>=VALUE",
        help='find the smallest fleet meeting it, e.g. --target "on_time_pct>=95"',
    )
    p.add_argument(
        "--baseline-variant",
        metavar="PATH=VALUE[,...]",
        help="compare every variant with this one, seed by seed, in paired.csv and the "
        "report, e.g. --baseline-variant fleet.workers=60 (or just 60 with one --set)",
    )
    p.add_argument(
        "--fleet-range",
        metavar="LO:HI",
        help="fleet sizes the --target search may try (default 1 to 8× the largest)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip runs that a previous, interrupted sweep into --out finished",
    )
    p.add_argument("--no-report", action="store_true", help="skip report.html and its plots")
    p.set_defaults(func=_run)


def _fleet_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(lo), int(hi)
    except ValueError:
        raise UserError(f"--fleet-range {text!r}: expected LO:HI, e.g. 10:200") from None


def _run(args: argparse.Namespace) -> int:
    from sim.sweep import SweepConfig, run_sweep

    if args.scheduler and args.workers:
        raise UserError("--workers sizes a local cluster; it cannot be used with --scheduler")
    config = SweepConfig(
        scenario=args.scenario,
        sets=tuple(args.sets),
        seeds=args.seeds,
        out_dir=args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        serial=args.serial,
        target=args.target,
        baseline_variant=args.baseline_variant,
        fleet_range=_fleet_range(args.fleet_range),
        resume=args.resume,
        report=not args.no_report,
    )
    try:
        result = run_sweep(config)
    except KeyboardInterrupt:
        print("finished runs are kept; run again with --resume to continue", file=sys.stderr)
        raise
    for _, search in result.searches:
        print(search.describe())
    n_failed = len(result.failed)
    print(f"{len(result.rows)} runs, {n_failed} failed; wrote {result.out_dir}/")
    return 1 if result.rows and n_failed == len(result.rows) else 0
