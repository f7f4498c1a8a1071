"""``fleetsim emulate``: serve the platform emulator on a loopback port."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import socket
import sys
from pathlib import Path
from typing import Any

from sim.errors import UserError


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
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    p.set_defaults(func=_run)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`EmulatorConfig` the flags describe (raises UserError on bad input)."""
    from loadtest.emulator.config import API_KEYS_ENV, load_profile

    cfg = load_profile(args.profile)
    keys = [k.strip() for k in args.api_key if k.strip()]
    keys += [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
    if any(len(k) < 8 or any(c.isspace() or c == ":" for c in k) for k in keys):
        raise UserError("--api-key: keys need 8 or more characters, no spaces or ':'")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: must be 0..65535")
    if args.db is not None and args.db.exists() and args.db.is_dir():
        raise UserError(f"--db {args.db}: is a directory; give a file path")
    changes: dict[str, Any] = {"db_path": args.db or cfg.db_path}
    if keys:
        changes["api_keys"] = tuple(keys)
    if args.seed is not None:
        changes["seed"] = args.seed
    return dataclasses.replace(cfg, **changes)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from loadtest.emulator.app import create_app
    from loadtest.emulator.config import DEMO_API_KEY

    cfg = config_from_args(args)
    try:
        app = create_app(cfg)
    except Exception as exc:  # a bad --db file: say so without a traceback
        raise UserError(f"cannot start the emulator: {exc}") from exc
    # Bind here so the printed address is the real one (also for --port 0).
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    port = sock.getsockname()[1]
    where = f"http://{args.host}:{port}"
    print(
        f"fleetsim emulator ({cfg.profile}) on {where}; OpenAPI at {where}/openapi.json",
        file=sys.stderr,
        flush=True,
    )
    if not cfg.api_keys:
        print(f"no API key configured: accepting the demo key {DEMO_API_KEY}", file=sys.stderr)
    else:
        print(f"accepting {len(cfg.api_keys)} configured API key(s)", file=sys.stderr)
    sys.stderr.flush()
    # The state is hundreds of thousands of long-lived records: collect the young generation
    # less often (the default 700 makes a 500-task batch trigger several collections).
    gc.set_threshold(100_000, 50, 1000)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http="httptools",
            loop="uvloop",
            log_level=args.log_level,
            access_log=False,
            lifespan="on",
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
