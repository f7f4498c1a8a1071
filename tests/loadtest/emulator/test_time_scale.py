"""``--time-scale``: every timed behaviour of the emulator runs on its simulated clock.

The checks are behavioural and wide-margined (a window that has certainly passed at one
scale and certainly not at the other), never a timing measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import numpy as np
import pytest

from fleetsim.commands.emulate import config_from_args
from loadtest.emulator.config import (
    EmulatorConfig,
    FaultConfig,
    LatencyConfig,
    RateLimitConfig,
    RouteLatency,
    WebhookConfig,
)
from loadtest.emulator.middleware import faults as faults_mod
from loadtest.emulator.middleware import latency as latency_mod
from loadtest.emulator.middleware.faults import FaultMiddleware
from loadtest.emulator.middleware.latency import LatencyMiddleware
from loadtest.emulator.store import open_store
from loadtest.emulator.webhooks.engine import WebhookEngine
from loadtest.providers import deftship, onfleet
from sim.errors import UserError
from tests.loadtest.emulator.helpers import KEY, bearer, make_client, onfleet_auth

TASK = onfleet.task_body(37.77, -122.42, notes="time scale")


def test_rate_limit_window_is_simulated_time() -> None:
    # 2 requests per simulated second.  At scale 1000 the window is 1 ms of wall time, so
    # 50 ms after a 429 the budget is back; at scale 1 it is still spent.
    for scale, after in ((1000.0, 200), (1.0, 429)):
        rl = RateLimitConfig(onfleet_per_s=2, window_s=1.0)
        with make_client(rate_limit=rl, time_scale=scale) as c:
            c.headers.update(onfleet_auth())
            codes = []
            for _ in range(40):  # at scale 1000 three calls rarely share a 1 ms window
                codes.append(c.get("/api/v2/auth/test").status_code)
                if codes[-1] == 429:
                    break
            if scale == 1.0:
                assert codes == [200, 200, 429]
            time.sleep(0.05)
            assert c.get("/api/v2/auth/test").status_code == after


def _drive_latency(mw: Any, monkeypatch: pytest.MonkeyPatch, module: Any) -> list[float]:
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    monkeypatch.setattr(module.asyncio, "sleep", fake_sleep)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {"type": "http.request"}

    mw.app = app
    scope = {"type": "http", "method": "GET", "path": "/api/v2/auth/test"}
    asyncio.run(mw(scope, receive, send))
    return slept


@pytest.mark.parametrize("scale", [1.0, 120.0])
def test_latency_draws_are_simulated_ms(monkeypatch: pytest.MonkeyPatch, scale: float) -> None:
    # A fixed 90 ms route (p99 = median): 90 ms at scale 1, 90/120 ms at scale 120.
    cfg = LatencyConfig(enabled=True, default=RouteLatency(90.0, 90.0))
    mw = LatencyMiddleware(None, cfg, np.random.default_rng(0), time_scale=scale)  # type: ignore[arg-type]
    slept = _drive_latency(mw, monkeypatch, latency_mod)
    assert slept == [pytest.approx(0.090 / scale)]


def test_slow_fault_is_simulated_ms(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = FaultConfig(slow_rate=1.0, slow_ms=3000.0)
    mw = FaultMiddleware(None, cfg, np.random.default_rng(0), time_scale=60.0)  # type: ignore[arg-type]
    slept = _drive_latency(mw, monkeypatch, faults_mod)
    assert slept == [pytest.approx(3.0 / 60.0)]
    assert mw.injected_slow == 1


def test_webhook_retry_delay_combines_factor_and_scale() -> None:
    # A documented delay d waits d * time_factor simulated seconds, d * factor / scale wall.
    store = open_store(None)
    eng = WebhookEngine(WebhookConfig(time_factor=0.5), store, time_scale=10.0)
    assert eng._retry_wall_factor == pytest.approx(0.05)
    assert WebhookEngine(WebhookConfig(), store)._retry_wall_factor == 1.0


def test_timestamps_run_on_the_simulated_clock() -> None:
    with make_client(time_scale=1000.0) as c:
        c.headers.update(onfleet_auth())
        a = c.post("/api/v2/tasks", json=TASK).json()
        time.sleep(0.02)  # at least 20 simulated seconds
        b = c.post("/api/v2/tasks", json=TASK).json()
    assert b["timeCreated"] - a["timeCreated"] >= 20_000


def _wait(pred: Any, limit_s: float = 20.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_async_job_rate_is_per_simulated_second() -> None:
    # 1 task per simulated second: 60 tasks take a minute at scale 1, 0.1 s at scale 600.
    with make_client(async_tasks_per_s=1.0, time_scale=600.0) as c:
        c.headers.update(onfleet_auth())
        job = c.post("/api/v2/tasks/batch-async", json={"tasks": [TASK] * 60}).json()
        url = f"/api/v2/tasks/batch/{job['jobId']}"
        assert _wait(lambda: c.get(url).json()["status"] == "completed")
        assert c.get(url).json()["tasksCreated"] == 60


def test_deftship_validation_takes_simulated_seconds() -> None:
    to = deftship.address("Ann", "1 Main St", "Austin", "78701", "TX")
    body = deftship.batch_body([deftship.shipment_body(to, reference="r1")])
    # A 600 s validation is 1 s of wall time at scale 600.
    with make_client(deftship_validate_s=600.0, time_scale=600.0) as c:
        r = c.post("/api/batches", json=body, headers=bearer())
        assert r.status_code in (200, 201), r.text
        bid = r.json()["data"]["id"]

        def validated() -> bool:
            got = c.get(f"/api/batches/{bid}", headers=bearer()).json()
            return bool(got["data"]["status"] != "validating")

        assert _wait(validated)


def test_info_route_reports_scale_profile_and_version() -> None:
    with make_client(time_scale=120.0) as c:
        r = c.get("/emulator/v1/info", headers=onfleet_auth())
    assert r.status_code == 200
    doc = r.json()
    assert doc["time_scale"] == 120.0 and doc["profile"] == "fast"
    assert isinstance(doc["version"], str) and doc["version"]


def _emulate_args(*extra: str) -> argparse.Namespace:
    from fleetsim.cli import build_parser

    return build_parser().parse_args(["emulate", "--api-key", KEY, *extra])


def test_time_scale_flag() -> None:
    assert config_from_args(_emulate_args("--time-scale", "120")).time_scale == 120.0
    assert config_from_args(_emulate_args()).time_scale == EmulatorConfig().time_scale
    for bad in ("0", "-3", "nan", "inf"):
        with pytest.raises(UserError, match="--time-scale"):
            config_from_args(_emulate_args("--time-scale", bad))
