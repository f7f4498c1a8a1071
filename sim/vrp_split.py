"""Cutting a large routing problem into small ones VROOM solves quickly (cluster first).

VROOM's local search grows much faster than linearly with the problem: on one core a
50-task, 5-vehicle problem takes ~0.03 CPU-s, 100 tasks ~0.2 s, and 1,000 tasks with 100
vehicles well over a minute even at its smallest search.  :func:`split` cuts a problem by
recursive bisection of the plane: the free items are cut along the wider axis of their
spread (into as few parts as the size allows, of about equal size), and the vehicles go
with the side they lie in, as many to each side as its share of the items (at least
one).  Items pinned to a vehicle follow it.  Each part is then a problem of its own,
solved independently (so in parallel), with a search whose cost is bounded by the part's
size rather than by a clock.

Everything here is a pure function of the problem (stable sorts, ties broken by
position in the input), so the same problem is always cut the same way.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.vrp import Item, Problem, Vehicle

#: Items per part: VROOM solves a part this size in about two hundredths of a CPU-second
#: at its smallest search.  Larger parts plan shorter routes but cost more (the bench's
#: 1,000-task problem: 40 → 577 km for 0.39 CPU-s, 48 → 569 km / 0.42 s, 56 → 565 km /
#: 0.49 s, 64 → 542 km / 0.80 s; its parcel morning: 48 → 734 km / 0.67 s, 64 → 700 km /
#: 1.29 s); 48 keeps the day's km where the uncut whole-problem solves had it.
PART_ITEMS = 48


def split(problem: Problem, max_items: int = PART_ITEMS) -> list[Problem]:
    """``problem`` cut into parts of at most ``max_items`` free items (while a part has
    two vehicles or more to share out); the problem itself when it is small enough.

    Pinned items go to their vehicle's part; an item pinned to a vehicle not in the
    problem goes to the first part (no vehicle there can take it either, so the solver
    leaves it out, as it would have in the whole problem)."""
    free = [it for it in problem.items if it.pinned_to is None]
    if len(free) <= max_items or len(problem.vehicles) < 2:
        return [problem]
    groups = _bisect(free, list(problem.vehicles), max_items)
    part_of = {v.id: k for k, (_, vs) in enumerate(groups) for v in vs}
    pinned: list[list[Item]] = [[] for _ in groups]
    for it in problem.items:
        if it.pinned_to is not None:
            pinned[part_of.get(it.pinned_to, 0)].append(it)
    return [
        replace(problem, vehicles=vs, items=its + pins)
        for (its, vs), pins in zip(groups, pinned, strict=True)
    ]


def _bisect(
    items: list[Item], vehicles: list[Vehicle], max_items: int
) -> list[tuple[list[Item], list[Vehicle]]]:
    if len(items) <= max_items or len(vehicles) < 2:
        return [(items, vehicles)]
    ilat = np.array([it.pickup[0].lat for it in items])
    ilon = np.array([it.pickup[0].lon for it in items])
    # Spread in metres-ish along each axis (a degree of longitude shrinks with latitude).
    squeeze = math.cos(math.radians(float(np.median(ilat))))
    by_lat = np.ptp(ilat) >= np.ptp(ilon) * squeeze
    ikey = ilat if by_lat else ilon
    vkey = np.array([v.lat if by_lat else v.lon for v in vehicles])
    iorder = np.argsort(ikey, kind="stable")
    vorder = np.argsort(vkey, kind="stable")
    # As few parts as the size allows, all of about the same size: the left side takes
    # half of them (1,000 items at 48 → 21 parts of 47-48; 385 → 9 of 42-43).
    parts = math.ceil(len(items) / max_items)
    n_left = round(len(items) * (parts // 2) / parts)
    v_left = min(len(vehicles) - 1, max(1, round(len(vehicles) * n_left / len(items))))
    # Each half keeps the input's order (the solver's answer may depend on it).
    halves = []
    for ii, vv in ((iorder[:n_left], vorder[:v_left]), (iorder[n_left:], vorder[v_left:])):
        halves += _bisect(
            [items[i] for i in np.sort(ii)], [vehicles[i] for i in np.sort(vv)], max_items
        )
    return halves
