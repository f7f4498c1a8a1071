"""Plain Locust (``locust -f loadtest/locustfile.py``) checks a thresholds file's names
as ``fleetsim replay`` does: a name that can match nothing exits 2 before anything is sent."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.fixtures.scenarios import REPO


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_misspelt_endpoint_exits_2_under_plain_locust(tmp_path: Path) -> None:
    from loadtest.trace.onfleet import write_trace
    from tests.fixtures.runs import make_day

    trace = tmp_path / "trace.jsonl"
    write_trace(make_day(), trace)
    gate = tmp_path / "gate.toml"
    gate.write_text('[endpoints."POST /api/v2/task"]\np99_ms = 500\n')
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtest" / "locustfile.py"),
            "--headless",
            "-u",
            "1",
            "-r",
            "1",
            "--run-time",
            "30s",
            "--host",
            f"http://127.0.0.1:{_closed_port()}",
            "--trace",
            str(trace),
            "--thresholds",
            str(gate),
            "--fleetsim-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2, said[-3000:]
    assert "did you mean 'POST /api/v2/tasks'" in said
    assert not (out / "results.json").exists()
