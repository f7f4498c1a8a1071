"""``fleetsim trace RUN_DIR``: summarize a run's trace.jsonl (calls, peak rate, batches)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "trace", help="summarize a trace: calls by operation, peak rate, batch sizes"
    )
    p.add_argument("run", type=Path, help="run directory (or a trace.jsonl file)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from loadtest.summary import format_summary, summarize
    from loadtest.trace import read_trace

    path: Path = args.run
    if path.is_dir():
        path = path / "trace.jsonl"
    trace = read_trace(path)
    print(format_summary(trace, summarize(trace)))
    return 0
