"""``fleetsim demo`` replays with ``--webhooks`` (``--no-webhooks`` to skip)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fleetsim.commands import demo
from fleetsim.pipeline import demo_replay_options
from loadtest.replay.launch import locust_command


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    demo.register(parser.add_subparsers())
    return parser.parse_args(["demo", *argv])


def test_the_demo_replays_with_webhooks_by_default() -> None:
    assert parse().webhooks is True
    assert parse("--no-webhooks").webhooks is False
    opts = demo_replay_options(Path("t.jsonl"), "http://127.0.0.1:5", 60.0, Path("o"), True)
    assert opts.webhooks.enabled and "--webhooks" in locust_command(opts, 100.0)
    off = demo_replay_options(Path("t.jsonl"), "http://127.0.0.1:5", 60.0, Path("o"), False)
    assert "--webhooks" not in locust_command(off, 100.0)
