"""Command-line options that more than one command shares (not a command: ``fleetsim.commands``
holds only subcommand modules)."""

from __future__ import annotations

import argparse


def add_set_option(p: argparse.ArgumentParser, *, dest: str, sweep: bool = False) -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable): a scenario field override; with ``sweep``,
    a swept parameter and its comma-separated values.  Values are parsed by
    ``sim.scenario_io.parse_set_value`` in both cases."""
    p.add_argument(
        "--set",
        dest=dest,
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2" if sweep else "SECTION.KEY=VALUE",
        help=(
            "a swept parameter and its values, e.g. --set fleet.workers=60,80,100 "
            "(repeatable; the grid is every combination)"
            if sweep
            else "override a scenario field, e.g. --set fleet.workers=80 (repeatable)"
        ),
    )


#: ``--client-rate`` (fleetsim simulate, trace --write, demo): loadtest.trace.pacing.
CLIENT_RATE_HELP = (
    "client-side limit the trace paces every call of a rate-limited provider to: calls/s, "
    "'documented' (default: each provider's SDK limit, Onfleet and Nash 20/s) or 'none' "
    "(a deliberate stress test)"
)
