"""An in-memory Onfleet stand-in behind the Transport protocol, with scripted faults, and a
fake clock.  Only what the executor's tests need; the real emulator is tested end to end."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson

from loadtest.replay.wire import HttpResult


@dataclass
class FakeClock:
    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep_until(self, t_s: float) -> None:
        self.t = max(self.t, t_s)

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


@dataclass
class Fault:
    """Answer ``status`` to the next request matching ``method path-prefix``; ``apply``
    says whether the request takes effect anyway (a lost answer)."""

    method: str
    prefix: str
    status: int
    apply: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeOnfleet:
    clock: FakeClock
    latency_s: float = 0.01
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    job_polls_pending: int = 2
    job_final_status: str = "completed"
    seq: itertools.count = field(default_factory=itertools.count)

    def _id(self) -> str:
        return f"id{next(self.seq):022d}"

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        name: str,
        timeout_s: float,
    ) -> HttpResult:
        self.clock.t += self.latency_s
        path = url.split("://", 1)[-1].split("/", 1)[1]
        path = "/" + path
        self.log.append((method, path, name))
        data = orjson.loads(body) if body else None
        for f in self.faults:
            if f.method == method and path.startswith(f.prefix):
                self.faults.remove(f)
                if f.apply:
                    self._handle(method, path, data)
                return HttpResult(f.status, f.headers, b'{"message":"fault"}')
        status, out = self._handle(method, path, data)
        return HttpResult(status, {}, b"" if out is None else orjson.dumps(out))

    def _task(self, body: dict[str, Any]) -> dict[str, Any]:
        t = {**body, "id": self._id(), "state": 0, "timeCreated": 0}
        self.tasks[t["id"]] = t
        return t

    def _handle(self, method: str, path: str, data: Any) -> tuple[int, Any]:
        api = "/api/v2"
        p = path.split("?", 1)[0]
        if method == "POST" and p == f"{api}/teams":
            t = {**data, "id": self._id()}
            self.teams[t["id"]] = t
            return 200, t
        if method == "POST" and p == f"{api}/workers":
            w = {**data, "id": self._id()}
            self.workers[w["id"]] = w
            return 200, w
        if method == "GET" and p == f"{api}/workers":
            return 200, list(self.workers.values())
        if method == "POST" and p == f"{api}/tasks":
            return 200, self._task(data)
        if method == "POST" and p == f"{api}/tasks/batch":
            return 200, {"tasks": [self._task(b) for b in data["tasks"]], "errors": []}
        if method == "POST" and p == f"{api}/tasks/batch-async":
            jid = self._id()
            # The job's tasks exist at once (listable); its status says so after polls.
            new = (
                [] if self.job_final_status == "failed" else [self._task(b) for b in data["tasks"]]
            )
            self.jobs[jid] = {"bodies": data["tasks"], "polls": 0, "new": new}
            return 200, {"jobId": jid, "status": "pending"}
        if method == "GET" and p.startswith(f"{api}/tasks/batch/"):
            job = self.jobs[p.rsplit("/", 1)[1]]
            job["polls"] += 1
            if job["polls"] <= self.job_polls_pending:
                return 200, {"status": "processing", "newTasks": []}
            return 200, {
                "status": self.job_final_status,
                "tasksCreated": len(job["new"]),
                "tasksErrored": 0,
                "newTasks": job["new"],
                "errors": [],
            }
        if method == "GET" and p == f"{api}/tasks/all":
            return 200, {"tasks": list(self.tasks.values())}
        if p.startswith(f"{api}/tasks/"):
            tid = p.split("/")[4]
            if tid not in self.tasks:
                return 404, {"message": "no such task"}
            if method == "GET":
                return 200, self.tasks[tid]
            if method == "PUT":
                self.tasks[tid].update(data)
                return 200, self.tasks[tid]
            if p.endswith("/complete"):
                self.tasks[tid]["state"] = 3
                return 200, None
        if p.startswith("/emulator/v1/"):
            if p.endswith("/start"):
                self.tasks[p.split("/")[4]]["state"] = 2
            return 200, {}
        return 404, {"message": f"no route {method} {p}"}
