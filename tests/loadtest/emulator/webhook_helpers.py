"""A webhook receiver for the emulator's delivery tests: a Starlette app on uvicorn in a
thread, on a free loopback port, that records every request and answers as told.

``fail_next`` answers that many POSTs with ``fail_status`` first; ``status`` answers
the rest; ``check`` says how to answer the ``?check=`` handshake (``echo``, ``204``,
``wrong``).  Waits are bounded in time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from loadtest.emulator.serve import LOOPBACK, bind


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.time)


class Receiver:
    def __init__(self, keep_alive_s: int = 5) -> None:
        self.received: list[Received] = []
        self.checks: list[str] = []
        self.fail_next = 0
        self.fail_status = 500
        self.status = 200
        self.check = "echo"
        self.delay_s = 0.0
        self.answer = b"ok"
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/hook", self._hook, methods=["GET", "POST"]),
                Route("/hook/{rest:path}", self._hook, methods=["GET", "POST"]),
            ]
        )
        self._sock = bind(LOOPBACK, 0)
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://{LOOPBACK}:{self.port}/hook"
        cfg = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=keep_alive_s,
        )
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    async def _hook(self, request: Request) -> Response:
        if request.method == "GET":
            token = request.query_params.get("check", "")
            self.checks.append(token)
            if self.check == "204":
                return Response(status_code=204)
            if self.check == "wrong":
                return PlainTextResponse(token + "x")
            return PlainTextResponse(token)
        body = await request.body()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                status = self.fail_status
            else:
                status = self.status
            self.received.append(Received(request.url.path, dict(request.headers), body, status))
        return Response(self.answer, status_code=status)

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, n: int, timeout_s: float = 10.0, *, ok_only: bool = True) -> list[Received]:
        """The first ``n`` (successful) requests, waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.delivered() if ok_only else list(self.received)
            if len(got) >= n:
                return got
            time.sleep(0.01)
        got = self.delivered() if ok_only else list(self.received)
        raise AssertionError(f"receiver got {len(got)} of {n} requests in {timeout_s} s")

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def wait_until(pred: Any, timeout_s: float = 10.0) -> None:
    """Polls ``pred()`` until true, up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")
