"""Fixtures that drive the official Onfleet SDKs against a real emulator.

- ``sdk_url``: one emulator (``fleetsim emulate`` in a thread) on a free loopback port per
  test module, with the test key.
- ``pyonfleet``: an ``onfleet.Onfleet`` client (PyPI ``pyonfleet``, a test extra) whose
  base URL points at that emulator.
- ``node_sdk``: runs ``node SCRIPT URL KEY [ARGS...]`` for a script in ``node/`` with
  ``@onfleet/node-onfleet`` installed there by ``make node-sdk`` (``npm ci``), and returns
  the JSON the script prints on its last stdout line.  Without node the node tests skip
  locally and fail under ``CI=true``, as the browser test does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.serve import EmulatorServer
from tests.loadtest.emulator.helpers import KEY

NODE_DIR = Path(__file__).parent / "node"
NODE_SDK = NODE_DIR / "node_modules" / "@onfleet" / "node-onfleet"


@pytest.fixture(scope="module")
def sdk_url() -> Iterator[str]:
    with EmulatorServer(EmulatorConfig(api_keys=(KEY,))) as url:
        yield url


@pytest.fixture
def pyonfleet(sdk_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import onfleet.request

    # pyonfleet builds every URL from this module constant (onfleet/config.py).
    monkeypatch.setattr(onfleet.request, "API_BASE_URL", f"{sdk_url}/api/v2", raising=False)
    monkeypatch.setattr(onfleet.config, "API_BASE_URL", f"{sdk_url}/api/v2", raising=False)
    # pyonfleet's own client-side limiter (20 calls/s, ratelimit's @limits) raises rather
    # than waits, and its count is process-wide, so back-to-back tests share one window.
    # Wait and retry as ratelimit's own sleep_and_retry would: what an integration does.
    from ratelimit.exception import RateLimitException

    original = onfleet.request.Request.__call__

    def patient(self: Any, *args: Any, **kwargs: Any) -> Any:
        while True:
            try:
                return original(self, *args, **kwargs)
            except RateLimitException as exc:
                time.sleep(exc.period_remaining + 0.01)

    monkeypatch.setattr(onfleet.request.Request, "__call__", patient)
    return onfleet.Onfleet(api_key=KEY)


def _missing_node() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (`make node-sdk` installs it)"
    if not NODE_SDK.is_dir():
        return f"@onfleet/node-onfleet is not installed in {NODE_DIR} (run `make node-sdk`)"
    return None


@pytest.fixture
def node_sdk(sdk_url: str) -> Callable[..., Any]:
    why = _missing_node()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; CI must run the node SDK tests")
        pytest.skip(why)

    def run(script: str, *args: str, timeout_s: float = 60.0) -> Any:
        proc = subprocess.run(
            ["node", str(NODE_DIR / script), sdk_url, KEY, *args],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"node {script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        assert lines, f"node {script} printed nothing\n{proc.stderr}"
        return orjson.loads(lines[-1])

    return run
