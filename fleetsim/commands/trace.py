"""``fleetsim trace RUN_DIR``: summarize a run's trace.jsonl (calls, peak rate, batches).

With ``--write`` it first (re)writes the trace from the run's tables, choosing the
providers and whether the emulator-only driver-app calls are included.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fleetsim.options import CLIENT_RATE_HELP


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "trace", help="summarize a trace: calls by operation, peak rate, batch sizes"
    )
    p.add_argument("run", type=Path, help="run directory (or a trace.jsonl file)")
    p.add_argument(
        "--write", action="store_true", help="(re)write RUN/trace.jsonl from the run's tables first"
    )
    p.add_argument(
        "--providers",
        default="onfleet",
        help="with --write: comma list from onfleet, hypertrack, nash, deftship",
    )
    p.add_argument(
        "--client-rate",
        default="documented",
        metavar="N|none",
        help="with --write: " + CLIENT_RATE_HELP,
    )
    p.add_argument(
        "--no-driver-app",
        action="store_true",
        help="with --write: leave out the emulator-only driver-app calls",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from loadtest.trace.format import read_trace
    from loadtest.trace.onfleet import run_options, write_trace
    from loadtest.trace.pacing import parse_client_rate
    from loadtest.trace.summary import format_summary, summarize
    from sim.errors import UserError

    path: Path = args.run
    client_rate = parse_client_rate(args.client_rate)
    if args.write:
        if not path.is_dir():
            raise UserError(f"--write needs a run directory, got {path}")
        from sim.output import read_run

        # The run's own scenario gives the options simulate used (its poll interval).
        opts = run_options(
            path,
            providers=tuple(p.strip() for p in args.providers.split(",") if p.strip()),
            driver_app=not args.no_driver_app,
            client_rate=client_rate,
        )
        write_trace(read_run(path), path / "trace.jsonl", opts)
    if path.is_dir():
        path = path / "trace.jsonl"
    trace = read_trace(path)
    print(format_summary(trace, summarize(trace)))
    return 0
