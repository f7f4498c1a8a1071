"""Serving the emulator on a free loopback port from a background thread.

For ``fleetsim demo``, tests and benchmarks: the emulator runs in this process (uvicorn
in a thread), the Locust replay in a child process, so gevent never meets asyncio.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class EmulatorServer:
    """``with EmulatorServer(config) as url:`` serves ``create_app(config)`` on 127.0.0.1."""

    def __init__(self, config: Any, start_timeout_s: float = 20.0) -> None:
        from loadtest.emulator.app import create_app

        self._app = create_app(config)
        self._timeout = start_timeout_s
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(
            self._app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(target=self._serve, name="emulator", daemon=True)

    def _serve(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
