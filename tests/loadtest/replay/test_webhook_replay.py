"""A replay with ``--webhooks`` through Locust against a fake sender: the receiver is
registered (handshake), every expected event is matched, retries and duplicates are told
apart, and the registrations are removed afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.replay.results import read_results
from loadtest.replay.webhooks.receiver import ReceiverServer
from tests.loadtest.replay.fake_sender import FakeSender, trace_with_events

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


@pytest.fixture
def sender() -> Iterator[tuple[FakeSender, str]]:
    fake = FakeSender(duplicate_first_task=True, unexpected_after_worker=True)
    server = ReceiverServer(fake.app())  # any ASGI app: here the fake target
    url = server.start()
    try:
        yield fake, url
    finally:
        server.stop()


def replay(url: str, trace: Path, out: Path, fail_ratio: float = 0.0) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "local_runner.py"),
            url,
            str(trace),
            str(out),
            "4",
            "--webhooks",
            str(fail_ratio),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_a_replay_receives_and_matches_every_expected_event(
    tmp_path: Path, sender: tuple[FakeSender, str]
) -> None:
    fake, url = sender
    trace = trace_with_events(tmp_path / "trace.jsonl", tasks=6)
    replay(url, trace, tmp_path / "out", fail_ratio=0.3)
    res = read_results(tmp_path / "out" / "results.json")
    w = res.webhooks
    assert w is not None and res.problems == ()
    rows = {e.name: e for e in w.events}
    created, worker = rows["taskCreated"], rows["workerCreated"]
    assert (created.expected, created.received, created.missing) == (6, 6, 0)
    assert (worker.expected, worker.received, worker.missing) == (1, 1, 0)
    assert created.duplicated == 1  # the fake sent the first task's event twice
    assert created.unexpected == 1  # a task no call created
    assert w.bad_signatures == 0
    retried = sum(1 for _, status in fake.attempts if status != 200)
    assert w.total("retries") == retried > 0  # 30 % of first answers were 500
    assert created.max_ms < 5000
    # Registered with a passing handshake, one webhook per expected trigger, and removed.
    assert fake.handshakes == [200, 200]
    assert sorted(fake.deleted) == ["hook0", "hook1"] and fake.hooks == {}


def test_a_refused_registration_exits_2_naming_the_answer(tmp_path: Path) -> None:
    fake = FakeSender()

    async def refuse(request: object) -> object:
        from starlette.responses import JSONResponse

        return JSONResponse({"code": "InvalidContent", "message": {"error": 1008}}, 400)

    fake.register = refuse  # type: ignore[method-assign,assignment]
    server = ReceiverServer(fake.app())
    url = server.start()
    try:
        trace = trace_with_events(tmp_path / "trace.jsonl", tasks=2)
        proc = subprocess.run(
            [
                sys.executable,
                str(HERE / "local_runner.py"),
                url,
                str(trace),
                str(tmp_path / "o"),
                "4",
                "--webhooks",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "answered 400" in proc.stderr and "1008" in proc.stderr
    assert not (tmp_path / "o" / "results.json").exists()


def test_two_processes_through_the_cli_match_every_event(
    tmp_path: Path, sender: tuple[FakeSender, str]
) -> None:
    """``fleetsim replay --processes 2 --webhooks``: worker 0 hosts the receiver, both
    workers' expectations meet its arrivals at the master."""
    fake, url = sender
    trace = trace_with_events(tmp_path / "trace.jsonl", tasks=8)
    out = tmp_path / "out"
    flags = ["--speedup", "4", "--processes", "2", "--out", str(out), "--webhooks"]
    flags += ["--webhook-fail-ratio", "0.2", "--max-lag-ms", "2000"]
    flags += ["--skip-preflight"]  # the fake sender serves the trace's routes, not /auth/test
    proc = subprocess.run(
        [sys.executable, "-m", "fleetsim.cli", "replay", str(trace), "--host", url, *flags],
        capture_output=True,
        text=True,
        timeout=180,
    )
    text = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, text
    res = read_results(out / "results.json")
    assert res.processes == 2 and res.webhooks is not None, text
    rows = {e.name: e for e in res.webhooks.events}
    assert (rows["taskCreated"].expected, rows["taskCreated"].missing) == (8, 0), text
    assert rows["taskCreated"].duplicated == 1 and rows["taskCreated"].unexpected == 1
    assert (rows["workerCreated"].received, rows["workerCreated"].missing) == (1, 0)
    assert res.webhooks.total("retries") == sum(1 for _, s in fake.attempts if s != 200)
    assert "webhooks: expected 9, received 9, missing 0" in proc.stdout
    assert fake.hooks == {} and len(fake.deleted) == 2  # one registration per trigger, once
