"""``fleetsim emulate`` as a person runs it: a real child process on a loopback port, a
clean stop on Ctrl-C or SIGTERM, and bad input as one line with exit code 2."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fleetsim.cli import main
from loadtest.emulator.config import DEMO_API_KEY
from loadtest.emulator.serve import EmulatorProcess, bind
from tests.loadtest.emulator.helpers import onfleet_auth

pytestmark = pytest.mark.timeout(120)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "fleetsim.cli", "emulate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_answers_then_stops_cleanly_on_a_signal(sig: signal.Signals, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    p = EmulatorProcess("--db", str(db))
    try:
        r = httpx.post(
            p.url + "/api/v2/tasks",
            json={"destination": {"location": [-122.4, 37.7]}},
            headers=onfleet_auth(DEMO_API_KEY),
            timeout=10,
        )
        assert r.status_code == 200
        p.proc.send_signal(sig)
        assert p.proc.wait(30) == 0
    finally:
        out = p.stop()
    assert p.returncode == 0
    assert f"on http://127.0.0.1:{p.port}" in out
    assert "Traceback" not in out and "interrupted" not in out
    # The shutdown ran the app's lifespan: the state file can be reopened and holds the task.
    q = EmulatorProcess("--db", str(db))
    try:
        listed = httpx.get(
            q.url + "/api/v2/tasks/all?from=0", headers=onfleet_auth(DEMO_API_KEY), timeout=10
        ).json()
        assert [t["id"] for t in listed["tasks"]] == [r.json()["id"]]
    finally:
        q.stop()


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with bind() as held:
        held.listen()
        port = held.getsockname()[1]
        done = _cli("--port", str(port))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"fleetsim emulate: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_a_bad_state_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"not sqlite " * 200)
    done = _cli("--port", "0", "--db", str(db))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "fleetsim emulate: error: cannot start the emulator: file is not a database"
    ]


def test_a_bad_log_level_is_refused_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    assert main(["emulate", "--port", "0", "--log-level", "LOUD", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "--log-level 'loud': not a log level; use one of critical, error, warning" in err
    assert "Traceback" not in err
    assert not db.exists()  # refused before the state file is opened


def test_log_level_is_case_insensitive_and_reaches_uvicorn() -> None:
    p = EmulatorProcess("--log-level", "INFO")
    try:
        assert httpx.get(p.url + "/healthz", timeout=10).status_code == 200
    finally:
        out = p.stop()
    assert "Application startup complete" in out  # uvicorn's own INFO line
    assert "GET /healthz" not in out  # the access log stays off
