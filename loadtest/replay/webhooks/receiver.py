"""The receiver: a Starlette app the target delivers webhooks to, served from a thread.

Concepts held here: :class:`ReceiverConfig` (secrets and the injected behaviour: a delay,
a seeded failure ratio), :class:`ArrivalLog` (every event of every attempt, appended as
one tuple; drained by the replay process), :func:`create_receiver_app` (one route per
provider: ``/onfleet``, ``/nash``, ``/hypertrack``) and :class:`ReceiverServer` (uvicorn
on its own OS thread).

What an attempt gets: a bad signature 401 (the provider retries it, as it would a real
receiver's refusal); a signed body with nothing readable in it 400; else, after
``delay_ms``, 500 for a seeded ``fail_ratio`` share of attempts (so the platform's retries
are exercised) and 200 for the rest.  ``GET /onfleet?check=X`` answers 200 with ``X`` as
the body: Onfleet's validation handshake.
Per attempt the app verifies, reads the ids it needs and appends; nothing else, so it
keeps up with thousands of events per second.

The thread is a real OS thread even inside a Locust process, whose ``threading`` gevent
has patched: uvicorn runs its own uvloop event loop there (uvloop does its own I/O, so
gevent's patched ``select`` never gets in its way), and the arrival log is a
:class:`collections.deque`, whose appends and pops are atomic without a lock.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from loadtest.providers.webhooks import ONFLEET_CHECK_PARAM
from loadtest.replay.webhooks.model import MALFORMED, PATHS
from loadtest.replay.webhooks.verify import (
    Delivery,
    nash_verifiers,
    read_hypertrack,
    read_nash,
    read_onfleet,
)

#: One arrival as the log holds it: ``(wall_time_s, provider, event, subject,
#: delivery_id, sig_ok, status)``; :class:`~loadtest.replay.webhooks.model.Arrival` once
#: its time is made relative to the run's origin.
ArrivalRow = tuple[float, str, str, str, str, bool, int]


@dataclass(slots=True)
class ReceiverConfig:
    """How the receiver verifies and answers.  ``nash_secrets`` may grow while it runs
    (the emulator hands out Nash's signing secret when an endpoint is registered)."""

    secret_hex: str
    nash_secrets: list[str] = field(default_factory=list)
    delay_ms: float = 0.0
    fail_ratio: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        try:
            bytes.fromhex(self.secret_hex)
        except ValueError:
            raise ValueError("the webhook secret must be hex") from None
        if not 0.0 <= self.fail_ratio < 1.0:
            raise ValueError(f"fail ratio {self.fail_ratio}: must be in [0, 1)")
        if self.delay_ms < 0:
            raise ValueError(f"delay {self.delay_ms} ms: must be >= 0")


class ArrivalLog:
    """Every event of every attempt, in arrival order; safe across threads without a
    lock (deque appends and pops are atomic)."""

    def __init__(self) -> None:
        self._rows: deque[ArrivalRow] = deque()

    def append(self, row: ArrivalRow) -> None:
        self._rows.append(row)

    def drain(self) -> list[ArrivalRow]:
        """The rows so far, removed from the log (rows appended meanwhile stay)."""
        rows = self._rows
        return [rows.popleft() for _ in range(len(rows))]

    def __len__(self) -> int:
        return len(self._rows)


def create_receiver_app(config: ReceiverConfig, log: ArrivalLog) -> Starlette:
    """The receiver's ASGI app; see the module docstring."""
    rng = random.Random(config.seed)
    delay_s = config.delay_ms / 1000.0
    verifiers: list[Any] = [tuple(config.nash_secrets), nash_verifiers(config.nash_secrets)]

    def nash(body: bytes, headers: Any) -> Delivery:
        if tuple(config.nash_secrets) != verifiers[0]:  # a secret was added meanwhile
            verifiers[:] = [tuple(config.nash_secrets), nash_verifiers(config.nash_secrets)]
        return read_nash(verifiers[1], body, headers)

    readers: dict[str, Callable[[bytes, Any], Delivery]] = {
        "onfleet": lambda body, headers: read_onfleet(config.secret_hex, body, headers),
        "nash": nash,
        "hypertrack": lambda body, headers: read_hypertrack(config.secret_hex, body, headers),
    }

    def endpoint(provider: str) -> Callable[[Request], Any]:
        read = readers[provider]

        async def receive(request: Request) -> Response:
            if request.method == "GET":
                check = request.query_params.get(ONFLEET_CHECK_PARAM)
                if provider == "onfleet" and check is not None:
                    return PlainTextResponse(check)
                return PlainTextResponse("fleetsim webhook receiver\n")
            body = await request.body()
            now = time.time()
            d = read(body, request.headers)
            if not d.sig_ok:
                status = 401
            elif all(event == MALFORMED for event, _ in d.events):
                status = 400  # signed, but nothing in it can be read: bad input, not ours
            else:
                if delay_s:
                    await asyncio.sleep(delay_s)
                status = 500 if config.fail_ratio and rng.random() < config.fail_ratio else 200
            for event, subject in d.events:
                log.append((now, provider, event, subject, d.delivery_id, d.sig_ok, status))
            return Response(status_code=status)

        return receive

    routes = [
        Route(path, endpoint(provider), methods=["GET", "POST"]) for provider, path in PATHS.items()
    ]
    return Starlette(routes=routes)


def _native_thread_starter() -> Callable[[Callable[[], None], tuple[()]], object]:
    """``_thread.start_new_thread`` as Python has it, even after gevent patched it."""
    try:
        from gevent import monkey

        start: Any = monkey.get_original("_thread", "start_new_thread")
    except ImportError:  # pragma: no cover - gevent is a dependency of the replay
        import _thread

        start = _thread.start_new_thread
    return start  # type: ignore[no-any-return]


class ReceiverServer:
    """Serves an app on ``host:port`` (0: a free port) from an OS thread.

    ``start()`` returns once the socket accepts connections; ``url`` is where it listens
    (``http://127.0.0.1:PORT``).  ``stop()`` waits at most ``stop_timeout_s``."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 10.0
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self.port: int = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                # uvloop and httptools: the only loop that works on a thread of a
                # gevent-patched process, and the cheapest per request.
                loop="uvloop",
                http="httptools",
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=30,
            )
        )
        self._timeout = start_timeout_s
        self._done = False
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:
            self._error = exc
        finally:
            self._done = True

    def start(self) -> str:
        _native_thread_starter()(self._run, ())
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if self._done or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"the webhook receiver did not start: {self._error!r}")
            time.sleep(0.01)
        return self.url

    def stop(self, stop_timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        deadline = time.monotonic() + stop_timeout_s
        while not self._done and time.monotonic() < deadline:
            time.sleep(0.02)
        self._sock.close()

    @property
    def running(self) -> bool:
        return self._server.started and not self._done


def rows_since(rows: Sequence[ArrivalRow], t0_epoch: float) -> list[list[Any]]:
    """Logged rows as plain lists (what a replay message carries), their wall times made
    seconds since the run's origin ``t0_epoch``."""
    return [[r[0] - t0_epoch, *r[1:]] for r in rows]
