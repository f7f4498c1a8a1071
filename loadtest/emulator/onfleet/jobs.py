"""Onfleet's asynchronous batch jobs (POST /tasks/batch-async, GET /tasks/batch/{jobId}).

Statuses [inf]: ``pending`` (accepted, not started) -> ``processing`` (tasks being
created at ``async_tasks_per_s`` per simulated second, see ``--time-scale``) ->
``completed`` (no errors) or ``completedWithErrors`` (at least one task errored; the
documented one).  A job is processed by one background
asyncio task in chunks, so GET shows the counters growing; with ``--db`` every chunk is
committed with its tasks and an unfinished job resumes after a restart.  The chunk that
ends a job emits taskBatchCreateJobCompleted (19); no task of a job fires taskCreated.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.model import Task
from loadtest.emulator.onfleet.state import OnfleetState
from loadtest.emulator.onfleet.validate import batch_subcode
from loadtest.emulator.webhooks.payloads import onfleet_body

CHUNK = 50
# The job statuses (see the module docstring), split by whether the job still runs.
_RUNNING = ("pending", "processing")
_FINISHED = ("completed", "completedWithErrors")
_JOB_DONE = "taskBatchCreateJobCompleted"


@dataclass(slots=True)
class Job:
    """One async batch job and its outcome so far."""

    id: str
    submitted_ms: int
    bodies: list[Any]
    status: str = "pending"
    done: int = 0
    new_tasks: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "submitted": self.submitted_ms,
            "bodies": self.bodies,
            "status": self.status,
            "done": self.done,
            "newTasks": self.new_tasks,
            "warned": self.warned,
            "errors": self.errors,
        }

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Job:
        return cls(
            d["id"],
            d["submitted"],
            d["bodies"],
            d["status"],
            d["done"],
            d["newTasks"],
            d["warned"],
            d["errors"],
        )


def async_error(exc: ApiError, body: Any) -> dict[str, Any]:
    """A job error entry (``{statusCode, errorCode, message, cause, taskData}``)."""
    return {
        "statusCode": exc.status,
        "errorCode": batch_subcode(exc),
        "message": exc.message,
        "cause": exc.cause,
        "taskData": body,
    }


def _submitted_text(age_ms: int) -> str:
    minutes = age_ms // 60_000
    if minutes < 1:
        return "Less than a minute ago."
    return f"{minutes} minute{'s' if minutes != 1 else ''} ago."


class Jobs:
    """All async jobs, and the background tasks that run them."""

    def __init__(self, state: OnfleetState) -> None:
        self.state = state
        self.jobs: dict[str, Job] = {}
        self._running: set[asyncio.Task[None]] = set()
        for d in state.rt.store.load("onfleet-job"):
            job = Job.from_record(d)
            self.jobs[job.id] = job

    def resume(self) -> None:
        """Start the unfinished jobs (after a restart); needs a running loop."""
        for job in self.jobs.values():
            if job.status in _RUNNING:
                self._spawn(job)

    def submit(self, bodies: list[Any]) -> Job:
        rt = self.state.rt
        job = Job(rt.ids.onfleet(), rt.now_ms(), bodies)
        self.jobs[job.id] = job
        self._save(job)
        rt.commit()
        self._spawn(job)
        return job

    def _spawn(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _save(self, job: Job) -> None:
        if self.state.rt.store.durable:
            self.state.rt.store.put("onfleet-job", job.id, job.to_record())

    async def _run(self, job: Job) -> None:
        # Tasks per simulated second: the wall rate is time_scale times higher.
        rate = self.state.rt.config.async_tasks_per_s * self.state.rt.clock.scale
        await asyncio.sleep(0)
        job.status = "processing"
        while job.done < len(job.bodies):
            chunk = job.bodies[job.done : job.done + CHUNK]
            specs = self.state.parse_many(chunk)
            results, warnings = self.state.create_many(specs)
            for body, res, warned in zip(chunk, results, warnings, strict=True):
                if isinstance(res, Task):
                    job.new_tasks.append(res.id)
                    if warned:
                        job.warned.append(res.id)
                else:
                    job.errors.append(async_error(res, body))
            job.done += len(chunk)
            if job.done >= len(job.bodies):
                self._finish(job)
            self._save(job)
            self.state.rt.commit()
            if rate > 0:
                await asyncio.sleep(len(chunk) / rate)
            else:
                await asyncio.sleep(0)
        if job.status not in _FINISHED:
            self._finish(job)
            self._save(job)
            self.state.rt.commit()

    def _finish(self, job: Job) -> None:
        """The job ends: its final status, and taskBatchCreateJobCompleted (19) with the
        fields of its status body, committed with the job's last chunk."""
        job.status = "completedWithErrors" if job.errors else "completed"
        events = self.state.rt.events
        if not events.wants("onfleet", _JOB_DONE):
            return
        fields = self.status_json(job)
        del fields["submitted"]  # "Less than a minute ago.": for people, not a receiver
        body = onfleet_body(
            _JOB_DONE,
            time_ms=self.state.rt.now_ms(),
            actor=("ADMIN", self.state.creator),
            task_id=None,
            worker_id=None,
            data={},
            extras={"jobId": job.id, **fields},
        )
        events.emit("onfleet", _JOB_DONE, job.id, body)

    def status_json(self, job: Job) -> dict[str, Any]:
        tasks = self.state.tasks
        new = [tasks[i] for i in job.new_tasks if i in tasks]
        warned = set(job.warned)
        return {
            "status": job.status,
            "submitted": _submitted_text(self.state.rt.now_ms() - job.submitted_ms),
            "tasksReceived": len(job.bodies),
            "tasksCreated": len(job.new_tasks),
            "tasksErrored": len(job.errors),
            "errors": job.errors,
            "failedTasks": [e["taskData"] for e in job.errors],
            "newTasks": [t.to_json() for t in new if t.id not in warned],
            "newTasksWithWarnings": [t.to_json() for t in new if t.id in warned],
        }

    async def close(self) -> None:
        for t in list(self._running):
            t.cancel()
        for t in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await t
