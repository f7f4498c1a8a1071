"""``fleetsim thresholds check FILE --trace TRACE``: validate a thresholds file, run nothing.

The file is parsed as ``fleetsim replay --thresholds`` parses it, and every endpoint or
flow it names must be one the trace's calls produce or one of an operation in the registry
(exit 2 naming the closest valid name otherwise).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "thresholds", help="work with replay thresholds files (check one without running)"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="validate a thresholds file against a trace; exit 2 if it is bad"
    )
    check.add_argument("file", type=Path, help="thresholds TOML")
    check.add_argument(
        "--trace",
        type=Path,
        help="trace.jsonl (or the run directory holding it); without it, names are checked "
        "against the operation registry alone",
    )
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from loadtest.replay.thresholds import check_file
    from sim.errors import UserError

    path: Path = args.file
    if not path.is_file():
        raise UserError(f"{path}: no such thresholds file")
    trace: Path | None = args.trace
    if trace is not None and trace.is_dir():
        trace = trace / "trace.jsonl"
    for line in check_file(path, trace).lines():
        print(line)
    return 0
