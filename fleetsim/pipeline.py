"""The end-to-end demo as a library call (``fleetsim demo`` is a thin wrapper).

Steps: simulate the scenario; write its outputs and ``trace.jsonl``; serve the emulator
in this process on a free loopback port; replay in a Locust child process at a speedup
chosen so the replay takes about ``replay_s`` seconds, receiving the webhooks the
emulator delivers (``--webhooks``); print the summary.  The emulator runs at
``--time-scale`` equal to the speedup and the trace is paced by each provider's
client-side limit, so the demo meets the profile's rate limits as a real client would.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, TextIO

from loadtest.replay.results import read_results, summary_lines
from loadtest.trace.format import read_trace
from loadtest.trace.onfleet import scenario_options, write_trace
from loadtest.trace.pacing import ClientRate
from sim.errors import UserError

#: The replay should not go faster than this (simulated s per real s) on a busy machine.
MIN_SPEEDUP = 1.0


def choose_speedup(span_s: float, replay_s: float) -> float:
    """A round speedup that replays ``span_s`` simulated seconds in about ``replay_s``."""
    raw = max(MIN_SPEEDUP, span_s / max(replay_s, 1.0))
    for nice in (1, 2, 5, 10, 20, 30, 60, 120, 180, 240, 300, 400, 500, 600, 900, 1200, 3600):
        if nice >= raw:
            return float(nice)
    return float(round(raw))


def demo_replay_options(trace: Path, url: str, speedup: float, out: Path, webhooks: bool) -> Any:
    """The demo's replay: the whole trace against the emulator at ``url``, its webhooks
    received and measured unless ``webhooks`` is off (a ``ReplayOptions``)."""
    from loadtest.replay.launch import ReplayOptions
    from loadtest.replay.webhooks.options import WebhookOptions

    return ReplayOptions(
        trace=trace,
        host=url,
        speedup=speedup,
        out=out,
        log_path=out / "locust.log",
        webhooks=WebhookOptions(enabled=webhooks),
    )


def run_demo(
    scenario_path: Path,
    out: Path,
    replay_s: float,
    profile: str,
    stream: TextIO,
    webhooks: bool = True,
    client_rate: ClientRate = "documented",
) -> int:
    from loadtest.emulator.config import load_profile
    from loadtest.emulator.serve import EmulatorServer
    from loadtest.replay.launch import run_replay
    from sim.kpis import format_kpis
    from sim.output import write_outputs
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    if not scenario_path.is_file():
        raise UserError(f"--scenario {scenario_path}: no such file")
    t_start = time.monotonic()
    scenario = load_scenario(scenario_path, [])
    result = simulate(scenario)
    # The same trace `fleetsim simulate` writes (paced by the client-side limiter).
    options = scenario_options(scenario, client_rate=client_rate)
    write_outputs(result, out, extra=[lambda d: write_trace(result, d / "trace.jsonl", options)])
    t_sim = time.monotonic() - t_start
    trace = read_trace(out / "trace.jsonl")
    span = trace.calls[-1].at_s if trace.calls else 0.0
    speedup = choose_speedup(span, replay_s)
    print(
        f"== simulated {scenario.name}: {len(result.tasks)} tasks, "
        f"{len(trace.calls)} API calls in the trace ({t_sim:.1f} s)",
        file=stream,
    )
    print(format_kpis(result.kpis), file=stream)
    # The emulator's clock runs at the replay's speed, so its rate limits and latencies
    # hold per simulated second, as the trace was paced for (loadtest.replay.timecheck).
    config = dataclasses.replace(load_profile(profile), time_scale=speedup)
    with EmulatorServer(config) as url:
        print(
            f"\n== emulator ({config.profile}, time scale {speedup:g}) on {url}; "
            f"replaying {span:,.0f} simulated s "
            f"at {speedup:g}x (~{span / speedup:.0f} s) ...",
            file=stream,
            flush=True,
        )
        opts = demo_replay_options(out / "trace.jsonl", url, speedup, out, webhooks)
        t_replay = time.monotonic()
        code = run_replay(opts, stream)
        t_replay = time.monotonic() - t_replay
    results_path = out / "results.json"
    if not results_path.is_file():
        raise UserError(f"the replay wrote no results (exit {code}); see {out / 'locust.log'}")
    print(f"\n== replay ({t_replay:.1f} s)", file=stream)
    for line in summary_lines(read_results(results_path)):
        print(line, file=stream)
    from fleetsim.run_page import write_run_report

    report = write_run_report(out)  # the run's page, with the replay's results in it
    print(f"\n== report: {report}", file=stream)
    total = time.monotonic() - t_start
    print(
        f"\n== wrote {out}/ (sim tables, kpis.json, trace.jsonl, results.json, report.html, "
        f"locust_report.html, locust_*.csv) in {total:.1f} s",
        file=stream,
    )
    return code  # 3 (invalid) after the banner above; 0 on a healthy machine
