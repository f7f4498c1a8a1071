"""The registry of trace operations: one :class:`OpSpec` per ``op`` a trace may carry.

Concepts held here: what each operation is on the wire (provider, HTTP method, path
template), whether it creates server objects, what the replay does after its answer is
lost (:data:`LostAnswer`), which flow it opens or closes, and the few per-op behaviours
the replay needs (a batch timeout, the driver-app flag).  The trace writers, the replay
and the summaries all read this table, so an operation's name is spelt once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from loadtest.providers import deftship, hypertrack, nash, onfleet
from sim.errors import UserError

LostAnswer = Literal["resend", "check", "fail", "idempotent"]
"""After a lost answer (5xx, timeout, no response): ``resend`` (harmless to repeat, or
an absolute-state update), ``check`` (look on the target first, then resend only what is
missing), ``fail`` (a create that cannot be looked up: report, never risk a duplicate),
``idempotent`` (the provider deduplicates the create itself: resend)."""

#: Flows a submit opens and a poll closes (names used in results.json).
FLOW_BATCH = "onfleet.batch"
FLOW_ASYNC = "onfleet.batch_async"
FLOW_DEFTSHIP_VALIDATE = "deftship.validate"
FLOW_DEFTSHIP_SHIP = "deftship.ship"

_API = onfleet.BASE_PATH
_CTL = onfleet.CONTROL_PATH


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One trace operation.

    ``opens``: the flow a successful submit starts (a failed submit is a failed flow);
    ``closes``: the flow a poll ends.  ``batch``: a large request, given the batch timeout.
    ``driver_app``: an emulator-only call a real platform's driver phones make.
    """

    name: str
    provider: str
    method: str
    path: str
    creates: bool = False
    lost: LostAnswer = "resend"
    opens: str = ""
    closes: str = ""
    batch: bool = False
    driver_app: bool = False

    @property
    def polls(self) -> bool:
        """A poll of a job until it is final (sent by the poll loop, not the retry loop)."""
        return bool(self.closes)


TEAM_CREATE = OpSpec("team.create", "onfleet", "POST", f"{_API}/teams", creates=True, lost="check")
WORKER_CREATE = OpSpec(
    "worker.create", "onfleet", "POST", f"{_API}/workers", creates=True, lost="check"
)
TASK_CREATE = OpSpec("task.create", "onfleet", "POST", f"{_API}/tasks", creates=True, lost="check")
TASK_BATCH = OpSpec(
    "task.batch",
    "onfleet",
    "POST",
    f"{_API}/tasks/batch",
    creates=True,
    lost="check",
    opens=FLOW_BATCH,
    batch=True,
)
TASK_BATCH_ASYNC = OpSpec(
    "task.batch_async",
    "onfleet",
    "POST",
    f"{_API}/tasks/batch-async",
    creates=True,
    lost="check",
    opens=FLOW_ASYNC,
    batch=True,
)
TASK_BATCH_STATUS = OpSpec(
    "task.batch_status", "onfleet", "GET", f"{_API}/tasks/batch/{{jobId}}", closes=FLOW_ASYNC
)
TASK_SET_DEPENDENCIES = OpSpec(
    "task.set_dependencies", "onfleet", "PUT", f"{_API}/tasks/{{taskId}}"
)
TASK_ASSIGN = OpSpec("task.assign", "onfleet", "PUT", f"{_API}/tasks/{{taskId}}")
TASK_UNASSIGN = OpSpec("task.unassign", "onfleet", "PUT", f"{_API}/tasks/{{taskId}}")
TASK_COMPLETE = OpSpec(
    "task.complete", "onfleet", "POST", f"{_API}/tasks/{{taskId}}/complete", lost="check"
)
TASK_GET = OpSpec("task.get", "onfleet", "GET", f"{_API}/tasks/{{taskId}}")
# The merchant's cancellation.  A lost answer is resent; if the lost attempt had already
# deleted the task, the resend's 404 makes the call count as failed (reported, not hidden).
TASK_DELETE = OpSpec("task.delete", "onfleet", "DELETE", f"{_API}/tasks/{{taskId}}")
DRIVER_DUTY = OpSpec(
    "driver.duty", "onfleet", "POST", f"{_CTL}/workers/{{workerId}}/duty", driver_app=True
)
DRIVER_START = OpSpec(
    "driver.start",
    "onfleet",
    "POST",
    f"{_CTL}/tasks/{{taskId}}/start",
    lost="check",
    driver_app=True,
)
DRIVER_MOVE = OpSpec(
    "driver.move", "onfleet", "POST", f"{_CTL}/workers/{{workerId}}/location", driver_app=True
)
ORDER_TRACK = OpSpec(
    "order.track",
    "hypertrack",
    "POST",
    f"{hypertrack.BASE_PATH}/track",
    creates=True,
    lost="check",
)
ORDER_GET = OpSpec("order.get", "hypertrack", "GET", f"{hypertrack.BASE_PATH}/{{orderHandle}}")
ORDER_COMPLETE = OpSpec(
    "order.complete", "hypertrack", "POST", f"{hypertrack.BASE_PATH}/{{orderHandle}}/complete"
)
ORDER_CANCEL = OpSpec(
    "order.cancel", "hypertrack", "POST", f"{hypertrack.BASE_PATH}/{{orderHandle}}/cancel"
)
NASH_BATCH_JOB = OpSpec(
    "nash.batch_job",
    "nash",
    "POST",
    f"{nash.BASE_PATH}/batch_job",
    creates=True,
    lost="idempotent",
)
NASH_JOB_GET = OpSpec("nash.job_get", "nash", "GET", f"{nash.BASE_PATH}/jobs/{{jobId}}")
DEFTSHIP_BATCH_CREATE = OpSpec(
    "deftship.batch_create",
    "deftship",
    "POST",
    deftship.BASE_PATH,
    creates=True,
    lost="fail",
    opens=FLOW_DEFTSHIP_VALIDATE,
)
DEFTSHIP_WAIT_READY = OpSpec(
    "deftship.wait_ready",
    "deftship",
    "GET",
    f"{deftship.BASE_PATH}/{{batchId}}",
    closes=FLOW_DEFTSHIP_VALIDATE,
)
DEFTSHIP_SHIP = OpSpec(
    "deftship.ship", "deftship", "POST", f"{deftship.BASE_PATH}/{{batchId}}/ship"
)
DEFTSHIP_WAIT_SHIPPED = OpSpec(
    "deftship.wait_shipped",
    "deftship",
    "GET",
    f"{deftship.BASE_PATH}/{{batchId}}",
    closes=FLOW_DEFTSHIP_SHIP,
)

#: Every operation, by name.  ``task.get`` and ``order.get`` are never in a trace: the
#: replay sends them itself to look for the effect of a lost answer.
OPS: Mapping[str, OpSpec] = MappingProxyType(
    {
        s.name: s
        for s in (
            TEAM_CREATE,
            WORKER_CREATE,
            TASK_CREATE,
            TASK_BATCH,
            TASK_BATCH_ASYNC,
            TASK_BATCH_STATUS,
            TASK_SET_DEPENDENCIES,
            TASK_ASSIGN,
            TASK_UNASSIGN,
            TASK_COMPLETE,
            TASK_GET,
            DRIVER_DUTY,
            DRIVER_START,
            DRIVER_MOVE,
            ORDER_TRACK,
            ORDER_GET,
            ORDER_COMPLETE,
            ORDER_CANCEL,
            NASH_BATCH_JOB,
            NASH_JOB_GET,
            DEFTSHIP_BATCH_CREATE,
            DEFTSHIP_WAIT_READY,
            DEFTSHIP_SHIP,
            DEFTSHIP_WAIT_SHIPPED,
        )
    }
)


def op_spec(name: str) -> OpSpec:
    """The spec of operation ``name``; a :class:`UserError` naming the known ones if none."""
    spec = OPS.get(name)
    if spec is None:
        raise UserError(f"unknown trace operation {name!r}: known are {', '.join(sorted(OPS))}")
    return spec
