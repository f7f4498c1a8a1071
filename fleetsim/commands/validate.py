"""``fleetsim validate``: load and check scenarios without running them.

Errors (what cannot run) print as ``fleetsim validate: error: ...`` and exit 2; warnings
(legal but probably wrong, from :mod:`sim.scenario_checks`) print as
``fleetsim validate: warning: ...`` on stderr; each clean file prints ``ok: FILE`` on
stdout.  ``--strict`` turns warnings into exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fleetsim.options import add_set_option
from sim.errors import UserError
from sim.history import read_history
from sim.scenario_checks import ScenarioWarning, check_scenario
from sim.scenario_io import load_scenario
from sim.travel import travel_model

#: Exit code of ``--strict`` when a scenario is valid but has warnings (2 stays errors).
EXIT_WARNINGS = 1


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="check scenarios without running them: errors exit 2, warnings are printed",
    )
    p.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO", help="TOML file(s)")
    add_set_option(p, dest="overrides")
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when a valid scenario has warnings"
    )
    p.set_defaults(func=_run)


def validate_file(path: Path, overrides: list[str] | None = None) -> list[ScenarioWarning]:
    """Load, override and validate ``path`` (and its order CSV, when it has one) as
    ``simulate`` would, and return its warnings; raise :class:`UserError` on an error."""
    scenario = load_scenario(path, overrides)
    if scenario.demand.source == "csv":
        # simulate reads it before running; a bad row is an error worth finding now.
        read_history(scenario.csv_path(), scenario.scenario.start.timestamp())
    if scenario.travel.model == "matrix":
        travel_model(scenario, network=False)  # reads and checks the matrix file
    return check_scenario(scenario)


def _run(args: argparse.Namespace) -> int:
    errors = warned = 0
    for path in args.scenarios:
        try:
            warnings = validate_file(path, args.overrides)
        except UserError as exc:
            print(f"fleetsim validate: error: {exc}", file=sys.stderr)
            errors += 1
            continue
        for w in warnings:
            print(f"fleetsim validate: warning: {path}: {w}", file=sys.stderr)
        if warnings:
            warned += 1
        if not (warnings and args.strict):
            n = len(warnings)
            note = f" ({n} warning{'s' if n > 1 else ''})" if n else ""
            print(f"ok: {path}{note}")
    if errors:
        return UserError.exit_code
    return EXIT_WARNINGS if warned and args.strict else 0
