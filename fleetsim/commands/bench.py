"""``fleetsim bench``: run the benchmarks (each against a same-run baseline)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fleetsim.bench import run_benchmarks


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "bench", help="run the benchmarks and write results/bench/bench.json"
    )
    p.add_argument("--out", type=Path, default=Path("results/bench"), help="output directory")
    p.add_argument("--only", action="append", metavar="PATTERN", help="glob over benchmark names")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    path = run_benchmarks(args.out, only=args.only, quick=args.quick)
    print(f"wrote {path}")
    return 0
