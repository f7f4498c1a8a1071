"""The Locust command line the replay builds (``loadtest.replay.launch``)."""

from __future__ import annotations

from pathlib import Path

from loadtest.replay.launch import ReplayOptions, locust_command


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_one_process_starts_no_master() -> None:
    cmd = locust_command(ReplayOptions(trace=Path("t.jsonl"), host="http://127.0.0.1:1"), 10.0)
    assert "--processes" not in cmd and "--master-bind-host" not in cmd


def test_distributed_master_binds_loopback_on_its_own_port() -> None:
    opts = ReplayOptions(trace=Path("t.jsonl"), host="http://127.0.0.1:1", processes=2)
    a, b = locust_command(opts, 10.0), locust_command(opts, 10.0)
    # Locust's defaults would bind every interface on port 5557, so two replays on one
    # machine collide and another host could join the run as a worker.
    assert _flag(a, "--processes") == "2"
    assert _flag(a, "--master-bind-host") == "127.0.0.1"
    assert _flag(a, "--master-host") == "127.0.0.1"
    port = _flag(a, "--master-bind-port")
    assert _flag(a, "--master-port") == port and port != "5557"
    assert int(port) > 0
    assert int(_flag(b, "--master-bind-port")) > 0
