"""Runs one replay with ``--webhooks`` through ``Environment.create_local_runner()`` (in its
own process: importing Locust monkey-patches the interpreter with gevent).

Usage: python webhook_runner.py HOST TRACE OUT SPEEDUP [FAIL_RATIO]
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
    fail_ratio = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    opts = argparse.Namespace(
        trace=trace,
        speedup=float(speedup),
        onfleet_url="",
        hypertrack_url="",
        nash_url="",
        deftship_url="",
        fleetsim_out=out,
        thresholds="",
        max_lag_ms=1000.0,
        skip_ops="",
        start_delay=0.5,
        replay_run_time=0.0,
        headless=True,
        webhooks=True,
        webhook_listen="",
        webhook_public_url="",
        webhook_delay_ms=0.0,
        webhook_fail_ratio=fail_ratio,
        webhook_grace=10.0,
        webhook_register="auto",
        webhook_seed=3,
    )
    env = Environment(
        user_classes=[locustfile.TraceReplayUser], events=events, host=host, parsed_options=opts
    )
    runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    runner.start(1, spawn_rate=1)
    gevent.with_timeout(120, runner.greenlet.join)
    env.events.quitting.fire(environment=env, reverse=True)
    return int(env.process_exit_code or 0)


if __name__ == "__main__":
    sys.exit(main())
