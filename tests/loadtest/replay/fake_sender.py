"""A fake webhook sender for the replay's receiver tests: a tiny Onfleet-like target.

It registers webhooks the Onfleet way (``POST /api/v2/webhooks`` with the ``?check=``
handshake), creates workers and tasks, and after each create delivers the matching
trigger to every registered URL, signed with the demo secret, retrying any non-200
answer with the same delivery id.  Scripted extras: a duplicate delivery (a new id) and an
unexpected event.  Signatures are made here with ``hmac`` directly, independently of the
receiver.  Also :func:`trace_with_events`, a hand-written trace whose calls carry
``events``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET, ONFLEET_TRIGGER_IDS


@dataclass
class FakeSender:
    """State of the fake target: registered hooks, and what it delivered."""

    secret_hex: str = DEMO_WEBHOOK_SECRET
    duplicate_first_task: bool = False
    unexpected_after_worker: bool = False
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    attempts: list[tuple[str, int]] = field(default_factory=list)  # delivery id, status
    handshakes: list[int] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v2/webhooks", self.register, methods=["POST"]),
                Route("/api/v2/webhooks/{wid}", self.delete, methods=["DELETE"]),
                Route("/api/v2/workers", self.create("wkr", "workerCreated"), methods=["POST"]),
                Route("/api/v2/tasks", self.create("tsk", "taskCreated"), methods=["POST"]),
            ]
        )

    async def register(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        check = secrets.token_hex(8)
        async with httpx.AsyncClient(timeout=5) as http:
            res = await http.get(body["url"], params={"check": check})
        self.handshakes.append(res.status_code)
        if res.status_code != 200 or res.text != check:
            error = {"error": 1008, "message": "Webhook URL failed validation."}
            return JSONResponse({"code": "InvalidContent", "message": error}, 400)
        wid = f"hook{next(self._ids)}"
        self.hooks[wid] = body
        return JSONResponse({"id": wid, **body, "count": 0, "isEnabled": True})

    async def delete(self, request: Request) -> Response:
        wid = request.path_params["wid"]
        if self.hooks.pop(wid, None) is None:
            return JSONResponse({"code": "ResourceNotFound"}, 404)
        self.deleted.append(wid)
        return Response(status_code=200)

    def create(self, prefix: str, trigger: str) -> Any:
        async def handler(request: Request) -> Response:
            sid = f"{prefix}{next(self._ids):021d}"
            subject = {"workerId": sid} if prefix == "wkr" else {"taskId": sid}
            deliveries = [(trigger, subject)]
            if self.duplicate_first_task and prefix == "tsk":
                self.duplicate_first_task = False
                deliveries.append((trigger, subject))
            if self.unexpected_after_worker and prefix == "wkr":
                deliveries.append(("taskCreated", {"taskId": "tsk-nobody-created"}))
            task = BackgroundTask(self.deliver_all, deliveries)
            return JSONResponse({"id": sid}, background=task)

        return handler

    async def deliver_all(self, deliveries: list[tuple[str, dict[str, str]]]) -> None:
        for name, subject in deliveries:
            trigger = ONFLEET_TRIGGER_IDS[name]
            for hook in list(self.hooks.values()):
                if hook["trigger"] == trigger:
                    await self.deliver(hook["url"], name, trigger, subject)

    async def deliver(self, url: str, name: str, trigger: int, subject: dict[str, str]) -> None:
        body = orjson.dumps(
            {"triggerId": trigger, "triggerName": name, "time": 0, "data": {}, **subject}
        )
        sig = hmac.new(bytes.fromhex(self.secret_hex), body, hashlib.sha512).hexdigest()
        did = f"dlv{next(self._ids)}"
        headers = {"X-Onfleet-Signature": sig, "X-Fleetsim-Delivery-Id": did}
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(20):  # a bounded retry schedule, 50 ms apart
                res = await http.post(url, content=body, headers=headers)
                self.attempts.append((did, res.status_code))
                if res.status_code == 200:
                    return
                await asyncio.sleep(0.05)


def trace_with_events(path: Path, tasks: int = 6) -> Path:
    """A tiny Onfleet trace (one worker, ``tasks`` tasks) whose calls carry ``events``."""
    header = {
        "format": "fleetsim-trace",
        "version": 1,
        "scenario": "webhooks",
        "seed": 1,
        "start_epoch_ms": 0,
        "duration_s": 10.0,
        "providers": ["onfleet"],
        "submission_mode": "single",
        "counts": {"calls": tasks + 1, "tasks": tasks},
    }
    calls: list[dict[str, Any]] = [
        {
            "id": 0,
            "at_s": 0.0,
            "provider": "onfleet",
            "op": "worker.create",
            "method": "POST",
            "path": "/api/v2/workers",
            "body": {"name": "w", "phone": "+15550000000"},
            "worker": 0,
            "deps": [],
            "family": 0,
            "defines": "worker:0",
            "events": [{"event": "workerCreated", "subject": "$ref:worker:0"}],
        }
    ]
    for i in range(tasks):
        calls.append(
            {
                "id": i + 1,
                "at_s": 0.2 + 0.1 * i,
                "provider": "onfleet",
                "op": "task.create",
                "method": "POST",
                "path": "/api/v2/tasks",
                "body": {"destination": {"address": {"unparsed": "x"}}},
                "deps": [],
                "family": i + 1,
                "defines": f"task:{i}",
                "events": [{"event": "taskCreated", "subject": f"$ref:task:{i}"}],
            }
        )
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in [header, *calls]) + b"\n")
    return path
