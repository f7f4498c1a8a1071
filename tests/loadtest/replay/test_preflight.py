"""Pre-flight (``loadtest.replay.preflight``): a dead port or a wrong key fails in seconds,
with one line naming the fix, exit 3, and no trace call sent."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtest.emulator.serve import free_port
from loadtest.replay.launch import ReplayOptions, run_replay
from loadtest.replay.preflight import MAX_CLOCK_OFFSET_S, _offset_s, preflight
from loadtest.replay.wire import Targets


def _requests(url: str) -> dict[tuple[str, str], float]:
    """The emulator's request counters, by (route, status)."""
    text = httpx.get(url + "/metrics").text
    out: dict[tuple[str, str], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "fleetsim_emulator_requests_total":
                out[(s.labels["route"], s.labels["status"])] = s.value
    return out


def test_a_closed_port_fails_fast_with_exit_3(tmp_path: Path, tiny_traces: dict[str, Path]) -> None:
    host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = io.StringIO()
    started = time.monotonic()
    code = run_replay(
        ReplayOptions(trace=tiny_traces["single"], host=host, out=tmp_path / "r"), stream=out
    )
    assert time.monotonic() - started < 3.0
    assert code == 3
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("pre-flight: ")]
    assert len(lines) == 1, out.getvalue()  # the tiny trace calls Onfleet only
    assert f"cannot connect to {host}" in lines[0] and "--host" in lines[0]
    assert "nothing was sent" in out.getvalue()
    assert not (tmp_path / "r" / "results.json").exists()


def test_a_wrong_key_fails_fast_and_sends_nothing(
    tmp_path: Path, emulator: str, tiny_traces: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONFLEET_API_KEY", "not-the-key")
    before = _requests(emulator)
    out = io.StringIO()
    started = time.monotonic()
    code = run_replay(
        ReplayOptions(trace=tiny_traces["single"], host=emulator, out=tmp_path / "r"),
        stream=out,
    )
    assert time.monotonic() - started < 3.0
    assert code == 3
    assert (
        f"pre-flight: ONFLEET_API_KEY rejected by {emulator}: 401 InvalidCredentials"
        in out.getvalue()
    )
    after = _requests(emulator)
    new = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    # The probe (refused) and our own /metrics read; no trace call reached the emulator.
    assert new.pop(("/api/v2/auth/test", "401")) == 1
    assert all(route == "/metrics" for route, _ in new), new


def test_a_good_target_passes_every_probe(emulator: str) -> None:
    results = preflight(
        Targets.build(emulator, env={}), ["onfleet", "nash", "deftship", "hypertrack"]
    )
    assert [r.provider for r in results] == ["deftship", "hypertrack", "nash", "onfleet"]
    assert all(r.ok for r in results), [r.problem for r in results]
    # The emulator's Date header: its clock is this machine's.
    assert all(r.clock_offset_s is not None and abs(r.clock_offset_s) < 2 for r in results)


def test_a_wrong_key_is_named_per_provider(emulator: str) -> None:
    env = {"NASH_API_KEY": "wrong", "DEFTSHIP_API_TOKEN": "wrong"}
    results = {
        r.provider: r for r in preflight(Targets.build(emulator, env=env), ["nash", "deftship"])
    }
    assert results["nash"].problem.startswith("NASH_API_KEY / NASH_ORG_ID rejected by")
    assert results["deftship"].problem.startswith("DEFTSHIP_API_TOKEN rejected by")
    assert results["nash"].status == results["deftship"].status == 401


def test_the_clock_offset_is_read_from_the_date_header() -> None:
    sent = 1_700_000_000.0
    header = "Tue, 14 Nov 2023 22:14:20 GMT"  # 1_700_000_060: a minute ahead
    offset = _offset_s(header, sent, sent)
    assert offset == pytest.approx(60.0)
    assert offset > MAX_CLOCK_OFFSET_S
    assert _offset_s(None, sent, sent) is None and _offset_s("garbage", sent, sent) is None


def test_a_missing_key_for_a_remote_target_says_so(emulator: str) -> None:
    # Off loopback no demo key is sent; the emulator stands in for the remote API here.
    targets = Targets.build(emulator, env={})
    targets = Targets(targets.bases, {**targets.auth, "onfleet": {}})
    (result,) = preflight(targets, ["onfleet"])
    assert result.problem == (
        f"ONFLEET_API_KEY not set: {emulator} answered 401 InvalidCredentials "
        "(export it and run again)"
    )
