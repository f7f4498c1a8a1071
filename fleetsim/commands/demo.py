"""``fleetsim demo`` (what ``make demo`` runs): simulate, trace, emulate, replay, summarize.

The whole pipeline in one command on a fresh clone: the default scenario is simulated,
its trace written, the emulator started in this process on a free loopback port (fast
profile, its clock scaled to the replay's speedup so its limits hold in simulated time),
the trace (paced by the client-side limiter) replayed through Locust at a speedup that
fits the time budget with
the webhooks the emulator delivers received and measured (``--no-webhooks`` to skip), and
``results/demo/`` filled with the simulator outputs, Locust's reports and results.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fleetsim.options import CLIENT_RATE_HELP

DEFAULT_SCENARIO = Path("scenarios/lunch-rush.toml")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="simulate the default scenario and replay it against the emulator"
    )
    p.add_argument(
        "--scenario",
        type=Path,
        default=DEFAULT_SCENARIO,
        help=f"scenario to simulate (default {DEFAULT_SCENARIO})",
    )
    p.add_argument("--out", type=Path, default=Path("results/demo"), help="output directory")
    p.add_argument(
        "--replay-s",
        type=float,
        default=45.0,
        help="target wall time of the replay in seconds (default 45)",
    )
    p.add_argument("--profile", default="fast", help="emulator profile (default fast)")
    p.add_argument("--client-rate", default="documented", metavar="N|none", help=CLIENT_RATE_HELP)
    p.add_argument(
        "--no-webhooks",
        dest="webhooks",
        action="store_false",
        help="do not receive and measure the emulator's webhooks",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fleetsim.pipeline import run_demo
    from loadtest.trace.pacing import parse_client_rate

    return run_demo(
        args.scenario,
        args.out,
        args.replay_s,
        args.profile,
        sys.stdout,
        webhooks=args.webhooks,
        client_rate=parse_client_rate(args.client_rate),
    )
