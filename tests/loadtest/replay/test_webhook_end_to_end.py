"""End-to-end replays of the tiny scenario with ``--webhooks`` against the emulator.

The emulator delivers; the trace's calls carry the ``events`` they cause; the replay's
receiver must see every one of them, signed, and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loadtest.replay.results import ReplayResults, read_results
from loadtest.replay.wire import LOOPBACK_DEMO_KEY
from tests.loadtest.replay.test_end_to_end import check_clean, fleetsim

pytestmark = pytest.mark.slow


def require_webhooks(emulator: str) -> None:
    """The emulator serves Onfleet's webhook registration route (a 404 is a failure)."""
    res = httpx.get(emulator + "/api/v2/webhooks", auth=(LOOPBACK_DEMO_KEY, ""), timeout=10)
    assert res.status_code == 200, res.text


def check_webhooks(res: ReplayResults, text: str) -> None:
    w = res.webhooks
    assert w is not None, text
    assert w.total("expected") > 0, text
    assert w.total("missing") == 0, text
    assert w.total("unexpected") == 0, text
    assert w.bad_signatures == 0 and w.malformed == 0, text
    done = next(e for e in w.events if e.name == "taskCompleted")
    assert done.received == done.expected > 0
    assert "webhooks: expected" in text


@pytest.mark.parametrize("processes", [1, 2])
def test_the_tiny_day_with_webhooks_misses_nothing(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path], processes: int
) -> None:
    require_webhooks(emulator)
    out = tmp_path / "out"
    proc = fleetsim(
        "replay",
        str(tiny_traces["single"]),
        "--host",
        emulator,
        "--speedup",
        "1000",
        "--processes",
        str(processes),
        "--out",
        str(out),
        "--webhooks",
        "--webhook-grace",
        "15",
    )
    text = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, text
    res = read_results(out / "results.json")
    check_clean(res, tiny_traces["single"])
    check_webhooks(res, proc.stdout)
    assert res.processes == processes
