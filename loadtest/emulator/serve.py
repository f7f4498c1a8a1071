"""One uvicorn stack for the emulator, however it is served.

Concepts:

* :func:`server_config` -- the ``uvicorn.Config`` every server here runs (parser, loop,
  keep-alive, logging, lifespan), and :func:`tuned_gc`, the garbage-collector setting that
  goes with it.
* :func:`bind` and :func:`free_port` -- listening sockets, loopback by default.
* :func:`serve` -- the emulator in the foreground until Ctrl-C or SIGTERM (``fleetsim
  emulate``); :func:`serve_app` does the same for any ASGI app (the benchmarks' echo app).
* :class:`EmulatorServer` -- the emulator in a background thread on a free loopback port
  (``fleetsim demo``, tests, the replay benchmark): the Locust replay then runs in a child
  process, so gevent never meets asyncio.
* :class:`ServerProcess` and :class:`EmulatorProcess` -- a server in a child process (real
  ``fleetsim emulate`` for the emulator benchmarks and the crash tests), started on a port
  the kernel picks, stopped and reaped on exit.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

import httpx
import uvicorn
from uvicorn.config import LOG_LEVELS

from loadtest.emulator.config import EmulatorConfig
from sim.errors import UserError

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080
# Tasks are long-lived records (hundreds of thousands of them).  With CPython's default
# young-generation threshold (700) a 500-task batch triggers several collections; at
# 100,000 the sync batch path spent ~20 % less CPU per task (in-process, 300k tasks:
# 22-28 us against 28-32 us; single creates unchanged within noise).  The records are
# also gc.freeze()d by the Onfleet state, so full collections skip them.
GC_THRESHOLD = (100_000, 50, 1000)


def check_log_level(log_level: str) -> None:
    """Raises :class:`UserError` for a log level uvicorn does not know."""
    if log_level not in LOG_LEVELS:
        allowed = ", ".join(LOG_LEVELS)
        raise UserError(f"--log-level {log_level!r}: not a log level; use one of {allowed}")


def server_config(app: Any, log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn configuration of every emulator server (foreground, thread, child)."""
    check_log_level(log_level)
    return uvicorn.Config(
        app,
        # Measured (README "Framework and server"): h11 costs 3-4x the server CPU per
        # request of httptools, and asyncio's loop ~1.7x uvloop's.  Named, not "auto", so a
        # missing extra fails loudly instead of silently serving at half speed.
        http="httptools",
        loop="uvloop",
        # Longer than a paced replay's gaps between calls on one connection, so the server
        # does not close a connection just as the client reuses it (uvicorn's default is 5 s;
        # real APIs keep connections for a minute or more).
        timeout_keep_alive=30,
        log_level=log_level,
        # Off: it costs per request and would be the one place a request line is printed.
        access_log=False,
        # The app resumes unfinished async jobs at startup and commits SQLite at shutdown.
        lifespan="on",
    )


class _GcTuning:
    """Holds :data:`GC_THRESHOLD` while at least one server runs, then restores the old one.

    The threshold is process-wide, and an :class:`EmulatorServer` shares its process with
    its caller (pytest, the demo), so the setting is counted in and out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: tuple[int, int, int] = gc.get_threshold()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(*GC_THRESHOLD)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    gc.set_threshold(*self._saved)


tuned_gc = _GcTuning()


def listen_url(host: str, port: int) -> str:
    """The URL a client uses for ``host:port``; an IPv6 address goes in brackets
    (``http://[::1]:8080``), as URLs require."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def bind(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a port the kernel picks), not yet listening.

    Binding here, before uvicorn starts, lets the caller print the real address (also for
    port 0).  Raises :class:`UserError` naming the address when it cannot be had.
    """
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port}: must be 0..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free on ``host`` a moment ago (for servers that want a number)."""
    with bind(host, 0) as sock:
        return int(sock.getsockname()[1])


def build_app(config: EmulatorConfig, host: str = LOOPBACK) -> Any:
    """``create_app(config)`` for a server bound to ``host``, with a bad ``--db`` file
    reported as a :class:`UserError`.  Bound to loopback, the app refuses a ``Host`` header
    that is not loopback (the DNS-rebinding guard, ``middleware/hostguard.py``)."""
    from loadtest.emulator.app import create_app
    from loadtest.emulator.middleware.hostguard import HostGuardMiddleware, is_loopback

    try:
        app = create_app(config)
    except Exception as exc:  # the SQLite file is user input: any failure to load it
        raise UserError(f"cannot start the emulator: {exc}") from exc
    if is_loopback(host):
        app.add_middleware(HostGuardMiddleware)  # outermost: before any other work
    return app


def serve(
    config: EmulatorConfig,
    host: str = LOOPBACK,
    port: int = DEFAULT_PORT,
    *,
    log_level: str = "warning",
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the emulator in the foreground until Ctrl-C or SIGTERM, then return.

    ``on_listening`` gets the URL once the socket is bound (before requests are answered).
    Raises :class:`UserError` for a bad log level, an address that cannot be had, or a
    state file that cannot be loaded; the address and log level are checked before the
    state file is opened, so a bad flag leaves no new file behind.
    """
    check_log_level(log_level)
    with bind(host, port) as sock:
        app = build_app(config, host)
        _serve_on(server_config(app, log_level), sock, host, on_listening)


def serve_app(
    app: Any,
    host: str = LOOPBACK,
    port: int = DEFAULT_PORT,
    *,
    log_level: str = "warning",
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """:func:`serve` for any ASGI app, on the same stack."""
    check_log_level(log_level)
    with bind(host, port) as sock:
        _serve_on(server_config(app, log_level), sock, host, on_listening)


def _serve_on(
    config: uvicorn.Config,
    sock: socket.socket,
    host: str,
    on_listening: Callable[[str], None] | None,
) -> None:
    server = uvicorn.Server(config)
    if on_listening is not None:
        on_listening(listen_url(host, sock.getsockname()[1]))
    with tuned_gc(), _signals_stop(server) as signalled:
        server.run(sockets=[sock])
    if not server.started and not signalled:
        raise UserError("the server did not start; see the messages above")


@contextlib.contextmanager
def _signals_stop(server: uvicorn.Server) -> Iterator[list[int]]:
    """While serving, SIGINT and SIGTERM only ask ``server`` to stop.

    uvicorn re-raises the signal that stopped it once it has shut down, so an embedding
    program can react; under the default handlers that is a KeyboardInterrupt for SIGINT
    and death by signal for SIGTERM.  A server that shut down cleanly when asked has done
    its job, so the signal lands here instead and :func:`serve` returns normally.  Yields
    the signals received.
    """
    signalled: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield signalled  # only the main thread may set handlers; uvicorn then sets none
        return

    def stop(sig: int, frame: FrameType | None) -> None:
        signalled.append(sig)
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signalled
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class EmulatorServer:
    """``with EmulatorServer(config) as url:`` serves the emulator on 127.0.0.1 from a thread."""

    def __init__(
        self, config: EmulatorConfig, start_timeout_s: float = 20.0, log_level: str = "warning"
    ) -> None:
        self._timeout = start_timeout_s
        self.config = server_config(build_app(config, LOOPBACK), log_level)
        self._server = uvicorn.Server(self.config)
        self._sock = bind(LOOPBACK, 0)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._serve, name="emulator", daemon=True)
        self._gc = contextlib.ExitStack()

    def _serve(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> str:
        self._gc.enter_context(tuned_gc())
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()
        self._gc.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ServerStartError(RuntimeError):
    """A server child process exited or never answered; the message holds its output."""


class ServerProcess:
    """A server child process that prints its loopback URL once bound (``--port 0``).

    Reading the port from the child, rather than handing it one that was free a moment
    ago, leaves no window in which another process on this shared machine could take it.
    Output (stdout and stderr) goes to ``log``, or to an anonymous file; either is read
    back by :meth:`output`, and a start-up failure raises with its tail.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        start_timeout_s: float = 30.0,
        health_path: str = "/healthz",
    ) -> None:
        # Open for the child's whole life (closed by stop()), hence no ``with``.
        self._log: IO[bytes] = log.open("w+b") if log else tempfile.TemporaryFile()  # noqa: SIM115
        self._argv = list(argv)
        try:
            self.proc = subprocess.Popen(
                self._argv,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        except BaseException:
            self._log.close()
            raise
        try:
            self.port = self._wait_for_port(start_timeout_s)
            self.url = f"http://{LOOPBACK}:{self.port}"
            self._wait_for_health(health_path, start_timeout_s)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def output(self) -> str:
        """Everything the child wrote so far."""
        fd = self._log.fileno()
        # pread leaves the offset alone: the child shares it and keeps appending.
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def _failed(self, what: str) -> ServerStartError:
        tail = self.output()[-4000:]
        return ServerStartError(f"{' '.join(self._argv)}: {what}\n{tail}")

    def _wait_for_port(self, timeout_s: float) -> int:
        pattern = re.compile(rf"http://{re.escape(LOOPBACK)}:(\d+)")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = pattern.search(self.output())
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                raise self._failed(f"exited with code {self.proc.returncode}")
            time.sleep(0.02)
        raise self._failed(f"printed no {LOOPBACK} address within {timeout_s:g} s")

    def _wait_for_health(self, path: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self._failed(f"exited with code {self.proc.returncode}")
            try:
                httpx.get(self.url + path, timeout=0.5)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise self._failed(f"did not answer {path} within {timeout_s:g} s")

    def kill(self) -> None:
        """SIGKILL, as a crash would (no shutdown, no flush), and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> str:
        """SIGTERM (SIGKILL after 10 s), reap, close the log; returns the child's output."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log.closed:
            return ""
        text = self.output()
        self._log.close()
        return text

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmulatorProcess(ServerProcess):
    """``fleetsim emulate --port 0 ARGS...`` in a child process, on loopback.

    The command line is the product's documented entry point, so what runs here is exactly
    what a person runs (nothing of ``fleetsim`` is imported).
    """

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        argv = [sys.executable, "-m", "fleetsim.cli", "emulate", "--port", "0", *args]
        super().__init__(argv, env=env, log=log, start_timeout_s=start_timeout_s)

    def __enter__(self) -> EmulatorProcess:
        return self
