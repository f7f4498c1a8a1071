"""``fleetsim emulate``: serve the platform emulator on a loopback port.

Parses the flags into an :class:`EmulatorConfig` and calls
:func:`loadtest.emulator.serve.serve`, the one server stack the demo, the tests and the
benchmarks also run; a bad flag, file or address is a :class:`UserError` (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import UserError

if TYPE_CHECKING:
    from loadtest.emulator.config import EmulatorConfig, WebhookConfig


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
        "--time-scale",
        type=float,
        default=None,
        metavar="X",
        help="run the emulator's clock X times faster than the wall clock: rate-limit "
        "windows, latency, async jobs, timed transitions and webhook retries all scale "
        "(default 1; match a replay's --speedup X)",
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accepted API key (repeatable)",
    )
    p.add_argument(
        "--webhook-secret",
        default=None,
        metavar="HEX",
        help="the organisation's hex webhook secret (else env FLEETSIM_WEBHOOK_SECRET, else "
        "the documented demo secret, printed at start)",
    )
    p.add_argument(
        "--webhook-time-factor",
        type=float,
        default=None,
        metavar="F",
        help="scale every webhook retry delay (default 1.0; 0.001 runs a day of Onfleet "
        "retries in ~86 s)",
    )
    p.add_argument(
        "--allow-remote-webhooks",
        action="store_true",
        help="allow webhook URLs whose host is not loopback (off: the emulator never posts "
        "off this machine)",
    )
    p.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="PROVIDER=URL",
        help="send every event of PROVIDER (onfleet, nash, hypertrack) to URL, no API call "
        "needed (repeatable), e.g. onfleet=http://127.0.0.1:9000/hook",
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
    scale: float | None = getattr(args, "time_scale", None)
    if scale is not None:
        if not (math.isfinite(scale) and scale > 0):
            raise UserError(f"--time-scale {scale}: must be a finite number > 0")
        changes["time_scale"] = float(scale)
    changes["webhooks"] = _webhook_config(args, cfg.webhooks)
    return dataclasses.replace(cfg, **changes)


def _webhook_config(args: argparse.Namespace, base: WebhookConfig) -> WebhookConfig:
    """The webhook flags over the profile's ``[webhooks]`` table (UserError on bad input;
    a secret is never repeated in a message)."""

    from loadtest.emulator.config import secret_problem
    from loadtest.emulator.webhooks.engine import parse_endpoint_flag
    from loadtest.emulator.webhooks.guard import Refused, check_sync, parse_url
    from loadtest.providers.webhooks import WEBHOOK_SECRET_ENV

    changes: dict[str, Any] = {}
    # getattr: a Namespace built by a library caller may predate these flags.
    secret: str | None = getattr(args, "webhook_secret", None)
    where = "--webhook-secret"
    if secret is None and os.environ.get(WEBHOOK_SECRET_ENV, "").strip():
        secret, where = os.environ[WEBHOOK_SECRET_ENV], WEBHOOK_SECRET_ENV
    if secret is not None:
        secret = secret.strip()
        problem = secret_problem(secret)
        if problem is not None:
            raise UserError(f"{where}: not a webhook secret ({problem}); give 32+ hex digits")
        changes["secret"] = secret
    factor: float | None = getattr(args, "webhook_time_factor", None)
    if factor is not None:
        if not (math.isfinite(factor) and factor >= 0):
            raise UserError(f"--webhook-time-factor {factor}: must be a finite number >= 0")
        changes["time_factor"] = float(factor)
    allow_remote = bool(getattr(args, "allow_remote_webhooks", False)) or base.allow_remote
    if allow_remote:
        changes["allow_remote"] = True
    specs = [*base.endpoints, *getattr(args, "webhook", [])]
    for spec in specs:
        try:
            _, url = parse_endpoint_flag(spec)
            check_sync(parse_url(url), allow_remote)
        except Refused as exc:  # the flag's URL may carry user:password@: not echoed
            name = spec.split("=", 1)[0] if "=" in spec else "?"
            raise UserError(f"--webhook {name}=...: {exc}") from None
    changes["endpoints"] = tuple(specs)
    return dataclasses.replace(base, **changes)


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
        f"fleetsim emulator ({cfg.profile}"
        + (f", time scale {cfg.time_scale:g}" if cfg.time_scale != 1.0 else "")
        + f") on {url}; OpenAPI at {url}/openapi.json",
        file=sys.stderr,
    )
    if not cfg.api_keys:
        print(f"no API key configured: accepting the demo key {DEMO_API_KEY}", file=sys.stderr)
    else:
        print(f"accepting {len(cfg.api_keys)} configured API key(s)", file=sys.stderr)
    _announce_webhooks(cfg)
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


def _announce_webhooks(cfg: EmulatorConfig) -> None:
    """Which webhook secret signs (the demo one by value, a configured one never) and the
    endpoints registered by flag."""
    from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET

    wh = cfg.webhooks
    if wh.secret == DEMO_WEBHOOK_SECRET:
        print(
            f"no webhook secret configured: signing webhooks with the demo secret "
            f"{DEMO_WEBHOOK_SECRET}",
            file=sys.stderr,
        )
    else:
        print("signing webhooks with the configured secret (not shown)", file=sys.stderr)
    from loadtest.emulator.webhooks.engine import parse_endpoint_flag
    from loadtest.emulator.webhooks.guard import parse_url

    for spec in wh.endpoints:
        provider, url = parse_endpoint_flag(spec)
        # Credentials in a URL (user:password@) are a secret too.
        shown = parse_url(url).copy_with(userinfo=b"")
        print(f"webhook endpoint (--webhook): {provider} -> {shown}", file=sys.stderr)
