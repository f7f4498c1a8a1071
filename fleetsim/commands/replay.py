"""``fleetsim replay TRACE --host URL``: replay a simulated day with Locust, headless."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import UserError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "replay", help="replay a trace against the emulator or a real API (open model)"
    )
    p.add_argument("trace", type=Path, help="trace.jsonl (or the run directory holding it)")
    p.add_argument("--host", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    p.add_argument(
        "--speedup", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    p.add_argument(
        "--strict-time",
        action="store_true",
        help="exit 2 when the target emulator's --time-scale differs from --speedup "
        "(default: a warning; a non-emulator target is not checked)",
    )
    p.add_argument("--users", type=int, help="Locust users (default: one per process)")
    p.add_argument("--run-time", help="stop sending after this long (90s, 2m, 1h30m)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/replay"),
        help="results directory (results.json, Locust CSV/HTML, junit.xml)",
    )
    p.add_argument("--thresholds", type=Path, help="thresholds TOML (exit 1 on violation)")
    p.add_argument("--processes", type=int, default=1, help="Locust worker processes")
    p.add_argument(
        "--dry-run",
        nargs="?",
        type=int,
        const=20,
        default=None,
        metavar="N",
        help="print the first N requests (default 20), credentials masked; send nothing",
    )
    for prov in ("onfleet", "hypertrack", "nash", "deftship"):
        p.add_argument(f"--{prov}-url", help=f"{prov} base URL (default --host)")
    p.add_argument(
        "--skip-ops",
        default="",
        help="comma-separated op globs not to send, e.g. 'driver.*' for a real API",
    )
    p.add_argument(
        "--max-lag-ms",
        type=float,
        default=250.0,
        help="schedule lag p99 above which the run is marked invalid",
    )
    p.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="N",
        help="replay N copies of the day side by side, each with its own run id (default 1)",
    )
    p.add_argument(
        "--find-max",
        choices=("speedup", "scale"),
        help="search for the highest speedup or scale whose run is valid and passes "
        "--thresholds (bracketing, then bisection); writes OUT/find-max.json",
    )
    p.add_argument(
        "--max-runs",
        type=int,
        default=8,
        metavar="N",
        help="--find-max runs at most N replays (default 8)",
    )
    _webhook_flags(p)
    _ci_flags(p)
    p.set_defaults(func=_run)


def _ci_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "CI", "fail fast, show progress, export, compare (loadtest/README.md, 'Replays in CI')"
    )
    g.add_argument(
        "--skip-preflight",
        action="store_true",
        help="do not probe each provider (reachable, credentials accepted, clock) first",
    )
    g.add_argument(
        "--quiet",
        action="store_true",
        help="no live progress (a terminal: one line updated each second; else every 10 s)",
    )
    g.add_argument(
        "--timeseries",
        type=Path,
        metavar="FILE",
        help="per-second rows (calls/s, errors/s, p50/p95/p99 per endpoint, lag, in flight); "
        ".csv or .jsonl",
    )
    g.add_argument(
        "--metrics-port",
        type=int,
        metavar="P",
        help="serve Prometheus /metrics on 127.0.0.1:P while the replay runs (0: a free port)",
    )
    g.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="compare with this earlier replay at the end (written to OUT/compare/)",
    )
    g.add_argument(
        "--gate",
        type=Path,
        metavar="FILE",
        help="with --baseline: TOML limits on the change (as fleetsim compare --gate); exit 1",
    )


def _webhook_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "webhooks",
        "receive, verify and measure the events the target calls back with "
        "(loadtest/README.md, 'Test your webhook receiver')",
    )
    g.add_argument(
        "--webhooks",
        action="store_true",
        help="start a receiver, register it with the target, and report the webhooks",
    )
    g.add_argument(
        "--webhook-listen",
        default="",
        metavar="HOST:PORT",
        help="where the receiver listens (default a free port on 127.0.0.1)",
    )
    g.add_argument(
        "--webhook-public-url",
        default="",
        metavar="URL",
        help="the URL the target must call (a tunnel to --webhook-listen, for a real API)",
    )
    g.add_argument(
        "--webhook-secret",
        default=None,
        help="hex webhook secret (default $FLEETSIM_WEBHOOK_SECRET, else the demo secret); "
        "Nash's comes from the registration or $FLEETSIM_NASH_WEBHOOK_SECRET",
    )
    g.add_argument(
        "--webhook-delay-ms", type=float, default=0.0, help="answer each delivery this late"
    )
    g.add_argument(
        "--webhook-fail-ratio",
        type=float,
        default=0.0,
        help="answer this share of deliveries with 500 (seeded), to exercise retries",
    )
    g.add_argument(
        "--webhook-grace",
        type=float,
        default=10.0,
        metavar="S",
        help="after the last call, wait up to S seconds for missing events (default 10)",
    )
    g.add_argument(
        "--webhook-register",
        choices=("auto", "none"),
        default="auto",
        help="auto: register through the API (emulator route for Nash/HyperTrack); "
        "none: print what to configure in the dashboards",
    )


def _run(args: argparse.Namespace) -> int:
    from loadtest.replay.ci import CiOptions
    from loadtest.replay.launch import ReplayOptions, dry_run, parse_duration, run_replay
    from loadtest.replay.thresholds import check_file
    from loadtest.replay.webhooks.options import WebhookOptions

    urls = {
        prov: getattr(args, f"{prov}_url")
        for prov in ("onfleet", "hypertrack", "nash", "deftship")
        if getattr(args, f"{prov}_url")
    }
    trace: Path = args.trace
    if trace.is_dir():
        trace = trace / "trace.jsonl"
    opts = ReplayOptions(
        trace=trace,
        host=args.host,
        speedup=args.speedup,
        users=args.users,
        run_time_s=parse_duration(args.run_time) if args.run_time else None,
        out=args.out,
        thresholds=args.thresholds,
        processes=args.processes,
        provider_urls=urls,
        skip_ops=tuple(x for x in args.skip_ops.split(",") if x),
        max_lag_ms=args.max_lag_ms,
        webhooks=WebhookOptions(
            enabled=args.webhooks,
            listen=args.webhook_listen,
            public_url=args.webhook_public_url,
            delay_ms=args.webhook_delay_ms,
            fail_ratio=args.webhook_fail_ratio,
            grace_s=args.webhook_grace,
            register=args.webhook_register,
        ),
        webhook_secret=args.webhook_secret,
        ci=CiOptions(
            skip_preflight=args.skip_preflight,
            quiet=args.quiet,
            timeseries=args.timeseries,
            metrics_port=args.metrics_port,
            baseline=args.baseline,
            gate=args.gate,
        ),
        strict_time=bool(getattr(args, "strict_time", False)),
        scale=args.scale,
    )
    if opts.thresholds is not None:
        # A table naming an endpoint or flow that exists nowhere would gate nothing:
        # exit 2 now, before anything is sent.
        check_file(opts.thresholds, trace)
    if args.dry_run is not None:
        if args.find_max:
            raise UserError("--dry-run with --find-max: a dry run sends nothing to measure")
        return dry_run(opts, args.dry_run)
    if args.find_max:
        from loadtest.replay.findmax import run_find_max

        return run_find_max(opts, args.find_max, args.max_runs)
    return run_replay(opts)
