"""Locust users for ``fleetsim bench`` (emulator.*).

One FastHttpUser class per scenario, named on the Locust command line, so one Locust
invocation runs one scenario.  Bodies are built once; responses are never JSON-decoded
except the small async job status (the benchmark measures the server, not the client).
"""

from __future__ import annotations

import base64
import os
import time

import orjson
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

from loadtest.emulator.config import DEMO_API_KEY
from loadtest.providers.onfleet import batch_body, task_body

_KEY = os.environ.get("FLEETSIM_EMU_BENCH_KEY", DEMO_API_KEY)
_AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"{_KEY}:".encode()).decode(),
    "Content-Type": "application/json",
}
# Bodies as str (what FastHttpSession is typed to take), encoded once here.
_ONE = orjson.dumps(
    task_body(37.77, -122.41, notes="bench", recipient=("Ann", "4155550100"))
).decode()
_BATCH = orjson.dumps(
    batch_body(
        [
            task_body(
                37.70 + (i % 50) / 500,
                -122.50 + (i // 50) / 100,
                notes=f"order {i}",
                recipient=("Ann", "4155550100"),
            )
            for i in range(500)
        ]
    )
).decode()


class EchoUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def echo(self) -> None:
        self.client.post("/echo", data=_ONE, headers=_AUTH, name="echo")


class EchoBatchUser(FastHttpUser):
    """The batch path's baseline: the same 500-task body, echoed back."""

    wait_time = constant(0)

    @task
    def echo(self) -> None:
        self.client.post("/echo", data=_BATCH, headers=_AUTH, name="echo500")


class CreateUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def create(self) -> None:
        self.client.post("/api/v2/tasks", data=_ONE, headers=_AUTH, name="create")


class BatchUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def batch(self) -> None:
        self.client.post("/api/v2/tasks/batch", data=_BATCH, headers=_AUTH, name="batch500")


class AsyncUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def job(self) -> None:
        t0 = time.perf_counter()
        with self.client.post(
            "/api/v2/tasks/batch-async",
            data=_BATCH,
            headers=_AUTH,
            name="async500 submit",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"submit: {r.status_code}")
                return
            job_id = orjson.loads(r.content)["jobId"]
        deadline = t0 + 60.0
        status = ""
        while time.perf_counter() < deadline:
            with self.client.get(
                f"/api/v2/tasks/batch/{job_id}",
                headers=_AUTH,
                name="async500 poll",
                catch_response=True,
            ) as p:
                # Only the head of the body is needed for the status.
                status = orjson.loads(p.content).get("status", "") if p.status_code == 200 else ""
            if status in ("completed", "completedWithErrors"):
                break
            time.sleep(0.02)
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        self.environment.events.request.fire(
            request_type="FLOW",
            name="async500 submit-to-completed",
            response_time=elapsed_ms,
            response_length=0,
            context={},
            exception=None if status == "completed" else RuntimeError(status or "timeout"),
        )


__all__ = ["AsyncUser", "BatchUser", "CreateUser", "EchoBatchUser", "EchoUser"]
