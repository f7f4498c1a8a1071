"""``fleetsim compare BASE NEW``: KPI or latency deltas of two runs, sweeps or replays.

Prints the deltas with their intervals, writes ``compare.json`` and ``compare.html`` into
``--out``, and with ``--gate FILE`` judges limits on the deltas (JUnit XML beside them).
Exit codes: 0 fine; 1 a gate limit significantly violated; 2 bad input (mismatched
directories, different scenarios without ``--what-if``, a bad gate file); 3 a gate asked
of an invalid replay.  The work is :func:`loadtest.replay.compare.run_compare`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "compare",
        help="compare two runs, sweeps or replays: deltas with intervals, and a regression gate",
    )
    p.add_argument("base", type=Path, help="the baseline: a run, sweep or replay directory")
    p.add_argument("new", type=Path, help="the directory to compare with it (same kind)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/compare"),
        help="where compare.json and compare.html go (default results/compare/)",
    )
    p.add_argument(
        "--gate",
        type=Path,
        help="TOML limits on the deltas, e.g. [p99_ms] max_increase_pct = 10 (exit 1 when "
        "one is significantly violated)",
    )
    p.add_argument("--junit", type=Path, help="JUnit XML of the gate (default OUT/junit.xml)")
    p.add_argument(
        "--what-if",
        action="store_true",
        help="compare runs of differently named scenarios (a different content hash under "
        "one name is always compared, with a warning)",
    )
    p.add_argument("--quiet", action="store_true", help="print only warnings and the gate")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from loadtest.replay.compare import run_compare
    from sim.compare_gate import gate_lines
    from sim.errors import UserError

    if args.junit is not None and args.gate is None:
        raise UserError("--junit writes the gate's results: give --gate FILE too")
    outcome = run_compare(args.base, args.new, args.out, args.gate, args.junit, args.what_if)
    c = outcome.comparison
    if args.quiet:
        for w in c.warnings:
            print(f"fleetsim compare: warning: {w}", file=sys.stderr)
    else:
        print("\n".join(c.lines()))
    if outcome.checks is not None:
        print("\n".join(gate_lines(outcome.checks)))
        for why in outcome.invalid:
            print(f"fleetsim compare: invalid replay, the gate cannot pass: {why}", file=sys.stderr)
        n_fail = len(outcome.failed)
        n_skip = sum(1 for ch in outcome.checks if ch.skipped)
        judged = f"{len(outcome.checks) - n_skip} judged, {n_skip} skipped"
        if n_fail:
            print(f"gate: {n_fail} limit(s) significantly violated ({judged})")
        else:
            # All skipped is not a pass a person should read as one (one run each, say).
            print(
                f"gate: passed ({judged})"
                if n_skip < len(outcome.checks)
                else f"gate: nothing could be judged ({judged})"
            )
    print("wrote " + ", ".join(str(f) for f in outcome.files))
    return outcome.exit_code
