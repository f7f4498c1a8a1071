"""Runs one replay through ``Environment.create_local_runner()`` (in its own process,
because importing Locust monkey-patches the interpreter with gevent).

Usage: python local_runner.py HOST TRACE OUT SPEEDUP [--webhooks [FAIL_RATIO]]

With ``--webhooks`` the replay hosts its webhook receiver, registers it with the target
and matches what arrives (``FAIL_RATIO``: the share of deliveries it answers 500).
"""

from __future__ import annotations

import argparse
import sys

import gevent
from locust import events
from locust.env import Environment

from loadtest.replay import locustfile


def main() -> int:
    host, trace, out, speedup = sys.argv[1:5]
    webhooks = len(sys.argv) > 5 and sys.argv[5] == "--webhooks"
    fail_ratio = float(sys.argv[6]) if webhooks and len(sys.argv) > 6 else 0.0
    opts = argparse.Namespace(
        trace=trace,
        speedup=float(speedup),
        onfleet_url="",
        hypertrack_url="",
        nash_url="",
        deftship_url="",
        fleetsim_out=out,
        thresholds="",
        max_lag_ms=1000.0 if webhooks else 250.0,
        skip_ops="",
        start_delay=0.5,
        replay_run_time=0.0,
        headless=True,
        fleetsim_live="",
        fleetsim_timeseries="",
        scale=1,
    )
    if webhooks:
        opts.webhooks = True
        opts.webhook_listen = opts.webhook_public_url = ""
        opts.webhook_delay_ms = 0.0
        opts.webhook_fail_ratio = fail_ratio
        opts.webhook_grace = 10.0
        opts.webhook_register = "auto"
        opts.webhook_seed = 3
    env = Environment(
        user_classes=[locustfile.TraceReplayUser], events=events, host=host, parsed_options=opts
    )
    runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    runner.start(1, spawn_rate=1)
    # The user quits the runner once the trace is done; bound the wait anyway.
    gevent.with_timeout(120, runner.greenlet.join)
    env.events.quitting.fire(environment=env, reverse=True)
    return int(env.process_exit_code or 0)


if __name__ == "__main__":
    sys.exit(main())
