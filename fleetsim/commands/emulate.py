"""``fleetsim emulate``: serve the platform emulator on a loopback port.

Parses the flags into an :class:`EmulatorConfig` and calls
:func:`loadtest.emulator.serve.serve`, the one server stack the demo, the tests and the
benchmarks also run; a bad flag, file or address is a :class:`UserError` (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import UserError

if TYPE_CHECKING:
    from loadtest.emulator.config import EmulatorConfig


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "emulate",
        help="serve the Onfleet/Nash/Deftship/HyperTrack emulator",
        description="Serve the platform emulator.  Keys come from --api-key (repeatable) "
        "and the FLEETSIM_API_KEYS environment variable (comma separated); with none, the "
        "documented demo key is accepted and printed.",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (0 = any free port)")
    p.add_argument("--profile", default="fast", help="fast, realistic, or a TOML file")
    p.add_argument("--db", type=Path, default=None, help="SQLite file for durable state")
    p.add_argument("--seed", type=int, default=None, help="seed for ids, latency and faults")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accepted API key (repeatable)",
    )
    p.add_argument(
        "--log-level",
        default="warning",
        type=str.lower,
        help="uvicorn log level: critical, error, warning, info, debug or trace",
    )
    p.set_defaults(func=_run)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The :class:`EmulatorConfig` the flags describe (raises UserError on bad input)."""
    from loadtest.emulator.config import API_KEYS_ENV, load_profile

    cfg = load_profile(args.profile)
    keys = [k.strip() for k in args.api_key if k.strip()]
    keys += [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
    if any(len(k) < 8 or any(c.isspace() or c == ":" for c in k) for k in keys):
        raise UserError("--api-key: keys need 8 or more characters, no spaces or ':'")
    if args.db is not None and args.db.exists() and args.db.is_dir():
        raise UserError(f"--db {args.db}: is a directory; give a file path")
    changes: dict[str, Any] = {"db_path": args.db or cfg.db_path}
    if keys:
        changes["api_keys"] = tuple(keys)
    if args.seed is not None:
        changes["seed"] = args.seed
    return dataclasses.replace(cfg, **changes)


def _run(args: argparse.Namespace) -> int:
    from loadtest.emulator.serve import serve

    cfg = config_from_args(args)
    serve(
        cfg,
        args.host,
        args.port,
        log_level=args.log_level,
        on_listening=lambda url: _announce(cfg, url, args.host),
    )
    return 0


def _announce(cfg: EmulatorConfig, url: str, host: str = "127.0.0.1") -> None:
    """Where the emulator listens and which keys it accepts (never the configured keys),
    with a warning when it is reachable from other machines."""
    from loadtest.emulator.config import DEMO_API_KEY
    from loadtest.emulator.middleware.hostguard import is_loopback

    print(
        f"fleetsim emulator ({cfg.profile}) on {url}; OpenAPI at {url}/openapi.json",
        file=sys.stderr,
    )
    if not cfg.api_keys:
        print(f"no API key configured: accepting the demo key {DEMO_API_KEY}", file=sys.stderr)
    else:
        print(f"accepting {len(cfg.api_keys)} configured API key(s)", file=sys.stderr)
    if not is_loopback(host):
        # The demo key is published in the docs: on a network interface it is no secret.
        print(
            f"warning: --host {host} is not loopback, so other machines can reach this "
            f"emulator (and the Host guard against DNS rebinding is off); "
            + (
                f"it accepts the public demo key {DEMO_API_KEY}: give your own with "
                "--api-key or FLEETSIM_API_KEYS"
                if not cfg.api_keys
                else f"the public demo key {DEMO_API_KEY} is not accepted"
            ),
            file=sys.stderr,
        )
    sys.stderr.flush()
