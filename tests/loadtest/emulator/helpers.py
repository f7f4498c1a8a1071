"""Helpers shared by the emulator tests (auth headers, seeds, a subprocess server)."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2; not ours to fix.
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from starlette.testclient import TestClient

from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig

SEEDS = Path(__file__).parent / "seeds"
KEY = "test-key-123456789"


def onfleet_auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ht_auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"acct-1:{key}".encode()).decode()}


def seed(name: str) -> Any:
    return json.loads((SEEDS / name).read_text())


def make_client(**overrides: Any) -> TestClient:
    cfg = EmulatorConfig(api_keys=(KEY,), **overrides)
    return TestClient(create_app(cfg), raise_server_exceptions=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorProcess:
    """A ``fleetsim emulate`` subprocess on a free loopback port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "fleetsim.cli", "emulate", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            try:
                httpx.get(self.url + "/healthz", timeout=0.5)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("emulator did not start")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        err = self.proc.stderr.read().decode() if self.proc.stderr else ""
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        return err


def conforms(
    seed_obj: Any, actual: Any, path: str = "$", nullable: frozenset[str] = frozenset()
) -> list[str]:
    """Differences in keys and JSON types between a seed example and an answer."""
    problems: list[str] = []
    if seed_obj is None or (actual is None and path.rsplit(".", 1)[-1] in nullable):
        return problems

    def kind(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__

    if kind(seed_obj) != kind(actual):
        return [f"{path}: seed {kind(seed_obj)}, got {kind(actual)}"]
    if isinstance(seed_obj, dict):
        for k, v in seed_obj.items():
            if k not in actual:
                problems.append(f"{path}.{k}: missing")
            else:
                problems += conforms(v, actual[k], f"{path}.{k}", nullable)
    elif isinstance(seed_obj, list) and seed_obj and actual:
        problems += conforms(seed_obj[0], actual[0], f"{path}[0]", nullable)
    return problems
