"""Onfleet's webhook events: what the organisation's state emits as it changes.

:class:`EventOps` is a base of :class:`~loadtest.emulator.onfleet.state.OnfleetState`
(through :class:`~loadtest.emulator.onfleet.fleet.FleetOps`): each state change calls one
of its methods right after the change, before the route commits.  Every method asks the
runtime's sink whether anyone wants the trigger first, so with no webhook registered an
event costs one call and no payload (the single-create path stays as fast as before).
The sink is read from the runtime on every call, never cached: tests and the delivery
engine may replace ``rt.events`` after the state is built.

Which change fires which trigger is in the emulator README ("Webhooks: events and
payloads"); the threshold triggers (taskEta, taskArrival) pass their measure every time
and the delivery engine applies each webhook's threshold, once per task.
"""

from __future__ import annotations

from typing import Any

from loadtest.emulator.onfleet.model import Task, Worker
from loadtest.emulator.services import Runtime
from loadtest.emulator.webhooks.payloads import Actor, onfleet_body
from sim.geo import geodesic_m


class EventOps:
    """Emits Onfleet triggers; the subclass owns the records they describe."""

    rt: Runtime
    creator: str  # the organisation's admin: the actor of every API call
    tasks: dict[str, Task]

    def _admin(self) -> Actor:
        return ("ADMIN", self.creator)

    def task_event(
        self,
        trigger: str,
        t: Task,
        *,
        worker: str | None = None,
        measure: float | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        """Emit ``trigger`` about task ``t``.  ``worker`` set: the driver app caused it
        (actionContext WORKER); unset: an admin's API call did."""
        events = self.rt.events
        if not events.wants("onfleet", trigger):
            return
        body = onfleet_body(
            trigger,
            time_ms=self.rt.now_ms(),
            actor=("WORKER", worker) if worker is not None else self._admin(),
            task_id=t.id,
            worker_id=t.worker,
            data={"task": t.to_json()},
            extras=extras,
        )
        events.emit("onfleet", trigger, t.id, body, measure=measure)

    def worker_event(
        self,
        trigger: str,
        w: Worker,
        *,
        by_worker: bool = False,
        extras: dict[str, Any] | None = None,
    ) -> None:
        """Emit a worker trigger (workerCreated, workerDeleted, workerDuty)."""
        events = self.rt.events
        if not events.wants("onfleet", trigger):
            return
        body = onfleet_body(
            trigger,
            time_ms=self.rt.now_ms(),
            actor=("WORKER", w.id) if by_worker else self._admin(),
            task_id=None,
            worker_id=w.id,
            data={"worker": w.to_json()},
            extras=extras,
        )
        events.emit("onfleet", trigger, w.id, body)

    def container_events(self, t: Task, before: str | None) -> None:
        """After ``t`` changed container: taskAssigned if it is now in a worker's container
        it was not in before (worker -> other worker included), taskUnassigned if it left
        a worker for a team or the organisation.  ``before`` is its previous worker."""
        if t.worker is not None and t.worker != before:
            self.task_event("taskAssigned", t)
        elif t.worker is None and before is not None:
            self.task_event("taskUnassigned", t)

    def eta_s(self, w: Worker, t: Task) -> float | None:
        """Seconds from ``w``'s last position to ``t``'s destination at the configured
        speed (geodesic, as autoAssign and the simulator measure), None without a position."""
        d = self.distance_m(w, t)
        return None if d is None else d / self.rt.config.eta_speed_mps

    @staticmethod
    def distance_m(w: Worker, t: Task) -> float | None:
        if w.location is None:
            return None
        lon, lat = w.location
        return geodesic_m(lat, lon, t.lat, t.lon)

    def eta_event(self, w: Worker, t: Task) -> None:
        """taskEta: the measure is the ETA in seconds (the engine compares thresholds)."""
        if not self.rt.events.wants("onfleet", "taskEta"):
            return
        eta = self.eta_s(w, t)
        if eta is not None:
            self.task_event(
                "taskEta", t, worker=w.id, measure=eta, extras={"etaSeconds": round(eta)}
            )

    def arrival_event(self, w: Worker, t: Task) -> None:
        """taskArrival: the measure is the distance to the destination in metres."""
        if not self.rt.events.wants("onfleet", "taskArrival"):
            return
        d = self.distance_m(w, t)
        if d is not None:
            self.task_event(
                "taskArrival", t, worker=w.id, measure=d, extras={"distance": round(d, 1)}
            )
