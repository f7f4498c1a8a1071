"""``fleetsim simulate``: run a scenario and write its tables, KPIs (and trace).

Before it runs it prints the scenario's warnings (:mod:`sim.scenario_checks`, the same
as ``fleetsim validate``) on stderr, ``--quiet`` or not: they are about the result.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetsim.options import CLIENT_RATE_HELP, add_set_option
from sim.errors import UserError
from sim.kpis import format_kpis
from sim.output import write_outputs
from sim.run import simulate
from sim.scenario_checks import check_scenario
from sim.scenario_io import load_scenario


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "simulate", help="simulate a scenario and write tables, KPIs and the API trace"
    )
    p.add_argument("scenario", type=Path, help="scenario TOML file (see scenarios/)")
    p.add_argument("--out", type=Path, help="output directory (default results/<name>/)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    add_set_option(p, dest="overrides")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--no-trace", action="store_true", help="skip writing trace.jsonl")
    p.add_argument(
        "--trace-providers",
        default="onfleet",
        metavar="LIST",
        help="providers in the trace, comma-separated: onfleet plus any of hypertrack, "
        "nash, deftship (default onfleet)",
    )
    p.add_argument("--client-rate", default="documented", metavar="N|none", help=CLIENT_RATE_HELP)
    p.add_argument("--report", action="store_true", help="also write report.html")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no KPI table")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario, args.overrides)
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed {args.seed}: must be a non-negative integer")
    for w in check_scenario(scenario):
        print(f"fleetsim simulate: warning: {args.scenario}: {w}", file=sys.stderr)
    extra: list[Callable[[Path], None]] = []
    if not args.no_trace:
        from loadtest.trace.onfleet import scenario_options, write_trace
        from loadtest.trace.pacing import parse_client_rate

        providers = tuple(p.strip() for p in args.trace_providers.split(",") if p.strip())
        # Built before the run, so a typo in the provider list costs no simulation.
        options = scenario_options(
            scenario, providers, client_rate=parse_client_rate(args.client_rate)
        )
        extra.append(lambda d: write_trace(result, d / "trace.jsonl", options))
    progress = sys.stderr.isatty() and not args.quiet
    result = simulate(scenario, seed=args.seed, progress=progress)
    out = args.out or Path("results") / scenario.name
    write_outputs(result, out, fmt=args.format, extra=extra)
    if result.solver_time_limit_hits:
        print(
            f"fleetsim simulate: warning: {result.solver_time_limit_hits} route-optimiser "
            "search(es) ran past dispatch.solver_time_limit_s and were run again to their end "
            "(the same routes, only slower; a higher limit stops this warning)",
            file=sys.stderr,
        )
    if result.solver_cut_kept:
        print(
            f"fleetsim simulate: warning: {result.solver_cut_kept} route-optimiser search(es) "
            "were still cut on their re-run; their answers were kept, so these outputs may "
            "differ on another machine (raise dispatch.solver_time_limit_s to make them repeat)",
            file=sys.stderr,
        )
    if not args.quiet:
        print(format_kpis(result.kpis))
    if args.report:
        from fleetsim.run_page import write_run_report

        print(f"wrote {write_run_report(out)}")
    print(f"wrote {out}/")
    return 0
