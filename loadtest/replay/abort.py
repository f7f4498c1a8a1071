"""Abort on threshold (k6's ``abortOnFail``): stop a run whose limit stays violated.

Concept held here: :class:`AbortWatch`, fed the run's measurements so far once a second
by the process that collects the samples (:mod:`loadtest.replay.monitor`).  A limit of a
table with ``abort = true`` that is violated (over every sample so far, as the final
judgement would be) continuously for longer than the table's ``abort_after_s`` gives the
reason to stop.  A scope without samples yet is not a violation: a required endpoint
that has not been called at second 1 is not a reason to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from loadtest.replay.thresholds import Limit, Measured, evaluate


@dataclass(slots=True)
class AbortWatch:
    """The abort limits of a thresholds file, and since when each is violated."""

    limits: tuple[Limit, ...]
    #: (scope, metric) -> the run time (s) it was first seen violated, in this stretch.
    since: dict[tuple[str, str], float] = field(default_factory=dict)

    @classmethod
    def of(cls, limits: Sequence[Limit]) -> AbortWatch | None:
        """The watch over ``limits``' abort tables; None when no table asks to abort."""
        chosen = tuple(lim for lim in limits if lim.abort)
        return cls(chosen) if chosen else None

    def check(self, measured: Measured, now_s: float) -> str:
        """The reason to stop now ("" to go on)."""
        seen: set[tuple[str, str]] = set()
        reason = ""
        for lim in self.limits:
            for c in evaluate(measured, [lim]):
                if c.passed or c.skipped or c.actual is None:
                    continue
                key = (c.scope, c.metric)
                seen.add(key)
                first = self.since.setdefault(key, now_s)
                held = now_s - first
                if not reason and held >= lim.abort_after_s:
                    reason = (
                        f"{c.scope} {c.metric} = {c.actual:g} against the limit {c.limit:g}, "
                        f"violated for {held:.1f} s (abort_after_s = {lim.abort_after_s:g}) "
                        f"at {now_s:.1f} s into the run"
                    )
        for key in list(self.since):
            if key not in seen:  # it held again: a new violation starts a new stretch
                del self.since[key]
        return reason
