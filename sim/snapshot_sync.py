"""Deferred upkeep of the model's live dispatch snapshot (issue 11).

The snapshot's ECEF columns -- where each worker is, where each ``load`` route ends --
are read only by dispatch decisions, yet they would change at every arrival and every
route change.  :class:`SnapshotSync` lets the model mark a worker when that happens and
brings the marked rows up to date in one go before the next decision: row by row while
few changed (the usual case between two decisions of one batch), in one vectorised pass
otherwise.  Policies that never decide from the snapshot (``queue``) never pay.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.dispatch import FleetSnapshot
from sim.fleet import Worker
from sim.geo import ecef_point

# Up to this many changed rows, :meth:`SnapshotSync.flush` goes row by row (cheaper than
# numpy's per-call overhead on a handful of rows).
SCALAR_ROWS = 8


class SnapshotSync:
    """Which snapshot rows are stale, and the flush that refreshes them.

    ``moved``: the worker's position (its ``lat``/``lon``) changed.  ``rerouted``: the
    snapshot's ``end_lat``/``end_lon`` were written directly and ``end_xyz``/``end_p2``
    must follow.  Rows are independent of one another, so the order they are refreshed
    in is not significant (sets, not sorted lists).
    """

    __slots__ = ("moved", "rerouted", "snap", "workers")

    def __init__(self, snap: FleetSnapshot, workers: Sequence[Worker]) -> None:
        self.snap = snap
        self.workers = workers
        self.moved: set[int] = set()
        self.rerouted: set[int] = set()

    def flush(self) -> None:
        """Bring every marked row up to date."""
        snap = self.snap
        moved = self.moved
        if moved:
            ws = self.workers
            if len(moved) <= SCALAR_ROWS:
                for i in moved:
                    snap.move(i, ws[i].lat, ws[i].lon)
            else:
                rows = list(moved)
                snap.move_many(
                    np.array(rows, dtype=np.intp),
                    np.array([ws[i].lat for i in rows]),
                    np.array([ws[i].lon for i in rows]),
                )
            moved.clear()
        ends = self.rerouted
        if ends:
            if len(ends) <= SCALAR_ROWS:
                for i in ends:  # FleetSnapshot.set_route's ECEF part
                    x, y, z = ecef_point(float(snap.end_lat[i]), float(snap.end_lon[i]))
                    snap.end_xyz[i] = (x, y, z)
                    snap.end_p2[i] = x * x + y * y + z * z
            else:
                snap.refresh_ends(np.fromiter(ends, dtype=np.intp, count=len(ends)))
            ends.clear()
