"""The one server stack: the foreground ``serve()`` and the thread server run the same
uvicorn configuration and gc setting; sockets bind loopback; child servers report failure."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import os
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from loadtest.emulator.config import fast
from loadtest.emulator.serve import (
    GC_THRESHOLD,
    LOOPBACK,
    EmulatorServer,
    ServerProcess,
    ServerStartError,
    bind,
    free_port,
    listen_url,
    serve,
    serve_app,
    server_config,
    tuned_gc,
)
from sim.errors import UserError

_FIELDS = ("http", "loop", "timeout_keep_alive", "log_level", "access_log", "lifespan", "ws")


def _settings(cfg: uvicorn.Config) -> dict[str, Any]:
    return {name: getattr(cfg, name) for name in _FIELDS}


class _Recorded:
    """What a stubbed ``uvicorn.Server.run`` saw: the config, the socket and the gc setting."""

    def __init__(self) -> None:
        self.configs: list[uvicorn.Config] = []
        self.addresses: list[tuple[str, int]] = []
        self.thresholds: list[tuple[int, int, int]] = []


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> _Recorded:
    rec = _Recorded()

    def run(self: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        assert sockets is not None
        rec.configs.append(self.config)
        rec.addresses.append(sockets[0].getsockname()[:2])
        rec.thresholds.append(gc.get_threshold())
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return rec


def test_serve_runs_the_thread_servers_config(recorded: _Recorded) -> None:
    before = gc.get_threshold()
    urls: list[str] = []
    serve(fast(), port=0, on_listening=urls.append)
    (foreground,) = recorded.configs
    thread = EmulatorServer(fast())
    try:
        assert _settings(foreground) == _settings(thread.config)
    finally:
        thread.stop()
    assert _settings(foreground) == _settings(server_config(object()))
    assert foreground.http == "httptools" and foreground.loop == "uvloop"
    assert foreground.lifespan == "on" and foreground.access_log is False
    assert foreground.timeout_keep_alive == 30 and foreground.log_level == "warning"
    # The gc setting holds while the server runs, and only then.
    assert recorded.thresholds == [GC_THRESHOLD]
    assert gc.get_threshold() == before
    (host, port) = recorded.addresses[0]
    assert host == LOOPBACK and port > 0 and urls == [f"http://{LOOPBACK}:{port}"]


def test_the_listening_url_brackets_an_ipv6_host() -> None:
    assert listen_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert listen_url("::1", 8080) == "http://[::1]:8080"
    assert listen_url("[::1]", 8080) == "http://[::1]:8080"
    assert httpx.URL(listen_url("::1", 8080)).host == "::1"


def test_binds_loopback_by_default(recorded: _Recorded) -> None:
    assert inspect.signature(serve).parameters["host"].default == LOOPBACK == "127.0.0.1"
    assert inspect.signature(serve_app).parameters["host"].default == LOOPBACK
    with bind() as s:
        assert s.getsockname()[0] == "127.0.0.1"
    serve_app(object(), port=0)
    assert recorded.addresses[0][0] == "127.0.0.1"
    from fleetsim.cli import build_parser

    assert build_parser().parse_args(["emulate"]).host == "127.0.0.1"


def test_thread_server_answers_and_holds_the_gc_setting_while_up() -> None:
    before = gc.get_threshold()
    server = EmulatorServer(fast())
    with server as url:
        assert url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        assert gc.get_threshold() == GC_THRESHOLD
    assert gc.get_threshold() == before


def test_gc_setting_is_restored_when_the_last_overlapping_user_leaves() -> None:
    before = gc.get_threshold()
    first = tuned_gc()
    second = tuned_gc()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # not nested: the first leaves while the second runs
    assert gc.get_threshold() == GC_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_an_address_in_use_is_a_user_error() -> None:
    with bind() as held:
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(UserError, match=rf"cannot listen on 127.0.0.1:{port}: .*in use"):
            bind(LOOPBACK, port)


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_out_of_range_is_a_user_error(port: int) -> None:
    with pytest.raises(UserError, match=rf"--port {port}: must be 0..65535"):
        bind(LOOPBACK, port)


def test_a_bad_log_level_is_refused_before_anything_binds(recorded: _Recorded) -> None:
    with pytest.raises(UserError, match="--log-level 'loud': not a log level; use one of"):
        serve(fast(), port=0, log_level="loud")
    assert recorded.configs == []


def test_a_state_file_that_is_not_sqlite_is_a_user_error(
    tmp_path: Path, recorded: _Recorded
) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not a database, just bytes " * 100)
    with pytest.raises(UserError, match="cannot start the emulator: file is not a database"):
        serve(dataclasses.replace(fast(), db_path=db), port=0)
    assert recorded.configs == []


def test_free_port_is_a_loopback_port_nobody_holds() -> None:
    port = free_port()
    with bind(LOOPBACK, port):
        pass


def test_a_child_that_dies_at_start_surfaces_its_output() -> None:
    argv = [
        sys.executable,
        "-c",
        "import sys; print('no such profile: x', file=sys.stderr); sys.exit(3)",
    ]
    with pytest.raises(ServerStartError, match=r"(?s)exited with code 3.*no such profile: x"):
        ServerProcess(argv, start_timeout_s=20)


def test_a_child_that_never_prints_an_address_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with pytest.raises(ServerStartError, match=r"printed no 127\.0\.0\.1 address within 5 s"):
        ServerProcess([sys.executable, "-c", code], start_timeout_s=5)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # terminated and reaped, not left running
        os.kill(pid, 0)
