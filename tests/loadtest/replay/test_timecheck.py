"""``fleetsim replay --speedup X`` against an emulator at ``--time-scale Y``: a warning, or
with ``--strict-time`` exit 2 before anything is sent; a non-emulator is not checked."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetsim.cli import main
from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.serve import EmulatorServer
from loadtest.replay.timecheck import check_time_scale, fetch_target_clock
from loadtest.replay.wire import Targets
from sim.errors import UserError


@pytest.fixture(scope="module")
def scaled() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig(time_scale=60.0))
    server.start()
    yield server
    server.stop()


def _headers(url: str) -> dict[str, str]:
    return Targets.build(url, env={}).headers("onfleet")


def test_matching_speedup_is_silent(scaled: EmulatorServer) -> None:
    clock = fetch_target_clock(scaled.url, _headers(scaled.url))
    assert clock is not None and clock.time_scale == 60.0 and clock.profile == "fast"
    assert check_time_scale(60.0, scaled.url, _headers(scaled.url), strict=True) is None


def test_a_mismatch_warns_and_strict_refuses(scaled: EmulatorServer) -> None:
    msg = check_time_scale(120.0, scaled.url, _headers(scaled.url), strict=False)
    assert msg is not None
    assert "--speedup 120" in msg and "time scale 60" in msg
    assert "--time-scale 120" in msg and "\n" not in msg
    with pytest.raises(UserError, match="--strict-time"):
        check_time_scale(120.0, scaled.url, _headers(scaled.url), strict=True)


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_a_real_api_404_and_a_dead_port_say_nothing() -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        assert check_time_scale(120.0, url, {}, strict=True) is None
    finally:
        srv.shutdown()
        srv.server_close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert check_time_scale(120.0, dead, {}, strict=True) is None


def test_strict_time_exits_2_in_one_line_and_sends_nothing(
    scaled: EmulatorServer,
    tiny_traces: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = scaled.config.app.state.emulator
    before = sum(emu.requests.values())
    code = main(
        [
            "replay",
            str(tiny_traces["single"]),
            "--host",
            scaled.url,
            "--speedup",
            "600",
            "--strict-time",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "--strict-time" in err and "600" in err
    # only the pre-flight's key check and the info route were called: no trace call
    assert sum(emu.requests.values()) - before <= 2
    assert {path for path, _, _ in emu.requests} <= {"/emulator/v1/info", "/api/v2/auth/test"}
    assert not (tmp_path / "out" / "results.json").exists()
