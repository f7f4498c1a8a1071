"""Tasks and the platform's task state machine.

States follow Onfleet (API-NOTES §1.5): 0 unassigned, 1 assigned, 2 active (the worker
has started it), 3 completed (success or failure, final).  The only transitions are
0→1 (assign), 1→0 (unassign), 1→2 (start) and 2→3 (complete); anything else raises
:class:`~sim.errors.InvalidTransition`, because it means the model is wrong.
"""

from __future__ import annotations

import math
from typing import Final

from sim.errors import InvalidTransition

TaskId = int
WorkerId = int

UNASSIGNED: Final = 0
ASSIGNED: Final = 1
ACTIVE: Final = 2
COMPLETED: Final = 3
STATE_NAMES: Final = ("unassigned", "assigned", "active", "completed")
ALLOWED: Final = frozenset({(0, 1), (1, 0), (1, 2), (2, 3)})


def check_transition(task_id: TaskId, old: int, new: int) -> None:
    """Raise :class:`InvalidTransition` unless ``old → new`` is a platform transition."""
    if (old, new) not in ALLOWED:
        names = STATE_NAMES
        o = names[old] if 0 <= old < 4 else str(old)
        n = names[new] if 0 <= new < 4 else str(new)
        raise InvalidTransition(
            f"task {task_id}: {o} ({old}) → {n} ({new}) is not allowed; allowed: 0→1, 1→0, 1→2, 2→3"
        )


class Task:
    """One platform task: a destination with a service time, window and dependencies.

    Mutable by design (it is the simulator's entity); times are seconds from the scenario
    start, NaN until reached.  ``dependents`` is the reverse of ``dependencies``.
    """

    __slots__ = (
        "arrived_s",
        "assigned_s",
        "cancelled_s",
        "complete_after_s",
        "complete_before_s",
        "completed_s",
        "created_s",
        "dependencies",
        "dependents",
        "did_auto_assign",
        "failure_draw",
        "failure_reason",
        "family_id",
        "id",
        "is_pickup",
        "lat",
        "lon",
        "no_show",
        "no_show_draw",
        "open_deps",
        "order_id",
        "ordered_s",
        "quantity",
        "service_s",
        "started_s",
        "state",
        "submission_id",
        "success",
        "worker",
    )

    def __init__(
        self,
        id: TaskId,
        order_id: int,
        family_id: int,
        is_pickup: bool,
        lat: float,
        lon: float,
        quantity: float,
        service_s: float,
        complete_after_s: float,
        complete_before_s: float,
        dependencies: tuple[TaskId, ...],
        ordered_s: float,
        failure_draw: float,
    ) -> None:
        self.id = id
        self.order_id = order_id
        self.family_id = family_id
        self.is_pickup = is_pickup
        self.lat = lat
        self.lon = lon
        self.quantity = quantity
        self.service_s = service_s
        self.complete_after_s = complete_after_s
        self.complete_before_s = complete_before_s
        self.dependencies = dependencies
        self.dependents: list[Task] = []
        self.open_deps = len(dependencies)
        self.ordered_s = ordered_s
        self.failure_draw = failure_draw
        self.state = UNASSIGNED
        self.worker: WorkerId = -1
        self.created_s = math.nan
        self.assigned_s = math.nan
        self.started_s = math.nan
        self.arrived_s = math.nan
        self.completed_s = math.nan
        # Deleted by the merchant's cancellation (demand.cancel): NaN unless cancelled.
        self.cancelled_s = math.nan
        self.success = False
        self.failure_reason = "NONE"
        # A dropoff whose recipient is absent (failures.no_show_probability): the draw is
        # made per task at demand time, as the failure draw is (common random numbers).
        self.no_show_draw = 1.0
        self.no_show = False
        self.did_auto_assign = False
        self.submission_id = -1

    def move_to(self, new: int) -> None:
        """Change state, refusing anything the platform would refuse."""
        if (self.state, new) not in ALLOWED:  # checked inline: three calls per task
            check_transition(self.id, self.state, new)
        self.state = new

    @property
    def ready(self) -> bool:
        """All dependencies are completed (success or failure, as on the platform)."""
        return self.open_deps == 0

    def __repr__(self) -> str:
        return f"Task({self.id}, state={self.state}, worker={self.worker})"
