"""A selected Nash job's deliveries, advancing on the emulator's clock.

* :func:`plan` -- the statuses a sandbox provider takes a delivery through, each at its
  offset (simulated seconds) from the selection: ``FleetSimulator`` one status every
  ``nash_status_step_s``, ``FleetSimulatorFast`` every ``nash_fast_status_step_s``,
  ``FailingFleetSimulator`` (and any provider the emulator cannot price) at the normal
  pace up to ``pickup_enroute`` and then ``failed`` [inf].
* :class:`Life` -- what the state keeps of a selected job: its provider, the simulated
  second it was selected and how many statuses have been applied.  Everything else (the
  status of each delivery, its history) is in the job's JSON, which is what is stored.

The statuses are a pure function of (provider, selection time, clock), so a job reads the
same whoever asks and whenever the timer runs; each status is applied once, stamped with
the simulated time it was due (not the time it was applied), and emits its webhook
events then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadtest.emulator.config import EmulatorConfig
from loadtest.providers.nash import DELIVERY_FAILED, DELIVERY_STATUSES

FAST = "FleetSimulatorFast"
NORMAL = "FleetSimulator"
FAILS_AFTER = "pickup_enroute"  # [inf] the failing simulator's last status before failed


def iso_at(epoch_s: float) -> str:
    """Nash's timestamps: ISO with microseconds and no timezone."""
    t = datetime.fromtimestamp(epoch_s, UTC).replace(tzinfo=None)
    return t.isoformat(timespec="microseconds")


def plan(provider: str, cfg: EmulatorConfig) -> tuple[tuple[float, str], ...]:
    """``(offset_s, status)`` of every status a delivery of ``provider`` goes through."""
    if provider == FAST:
        step = cfg.nash_fast_status_step_s
        return tuple((i * step, s) for i, s in enumerate(DELIVERY_STATUSES))
    step = cfg.nash_status_step_s
    if provider == NORMAL:
        return tuple((i * step, s) for i, s in enumerate(DELIVERY_STATUSES))
    upto = DELIVERY_STATUSES[: DELIVERY_STATUSES.index(FAILS_AFTER) + 1]
    steps = [(i * step, s) for i, s in enumerate(upto)]
    return (*steps, (len(upto) * step, DELIVERY_FAILED))


@dataclass(slots=True)
class Life:
    """A selected job's clock (see the module docstring)."""

    job_id: str
    provider: str
    start_s: float
    applied: int = 0  # statuses of the plan applied so far

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.job_id,
            "provider": self.provider,
            "start_s": self.start_s,
            "applied": self.applied,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Life:
        return cls(d["id"], d["provider"], float(d["start_s"]), int(d["applied"]))
