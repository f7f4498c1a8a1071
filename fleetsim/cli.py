"""``fleetsim`` command line: parse, call one library function, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from sim import __version__
from sim.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default) but never prints a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fleetsim",
        description="Discrete-event fleet simulator and load-testing harness.",
    )
    parser.add_argument("--version", action="version", version=f"fleetsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    import fleetsim.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"fleetsim.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except UserError as exc:
        print(f"fleetsim {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`fleetsim trace RUN | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"fleetsim {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
