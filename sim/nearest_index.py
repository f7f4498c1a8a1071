"""The ``distance`` choice among moving workers without updating every position (issue 11).

Concepts held here:

* :class:`MovingNearest` -- a grid over every worker's position at a reference time
  ``t_ref``, kept while workers move.  No worker moves faster than ``vmax`` (the fastest
  leg driven since ``t_ref``), so at ``t`` each one is within ``vmax * (t - t_ref)`` plus
  its reference error of where the grid has it.  A decision scans the cells within a
  radius of the task, works out the current position of the few workers there (the point
  along its leg's chord, within the leg's error bound), and widens the radius until it
  exceeds the best candidate's bound plus the drift: every worker outside is then
  provably farther.  The shortlist is decided by exact WGS84 geodesics, ties by worker
  id: the brute force's answer.
* A worker whose position jumps (placed at a hub, say) farther than that bound allows is
  *dirty*: examined by every decision until the grid is rebuilt.  The grid is rebuilt
  (vectorised, O(n)) when the drift bound passes a mean spacing or dirty rows pile up, so
  its cost is shared by the decisions in between.

The grid lives in a plane tangent to the fleet (east and north unit vectors): a projection
onto a unit vector never lengthens a distance, so a worker outside the scanned disk was
farther than its radius -- in chord metres, with no projection error.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.dispatch import (
    _ABS_MARGIN_M,
    _REL_MARGIN,
    AutoAssignOptions,
    FleetSnapshot,
    TaskPoint,
    WorkerKey,
    _eligible_at,
    _scan,
)
from sim.geo import FloatArray, ecef_point, geodesic_many_m, geodesic_upper_bound_m

if TYPE_CHECKING:
    from sim.positions import Legs

#: A leg as :class:`MovingNearest` reads it: departure (s), 1 / duration (1/s), the chord's
#: start (ECEF m, 3), its span (3), and how far the chord's point can be from the worker (m).
LegRow = tuple[float, float, float, float, float, float, float, float, float]

#: Fleets of at least this many workers use the index; smaller ones scan (numpy is quicker
#: there than rebuilding a grid).
INDEX_MIN_WORKERS = 2048
# Cell side, in units of the fleet's mean spacing (about this squared workers per cell).
_CELL_SCALE = 0.5
# How far the first pass of a decision looks beyond the drift, in mean spacings.
_FIRST_REACH = 0.6
# Rebuild once the drift bound reaches this many mean spacings, or this many rows are dirty.
_DRIFT_SPACINGS = 1.0
_DIRTY_MAX = 48
# Give up on the grid for a decision after looking at this share of the fleet, and at
# least _VISIT_MIN rows (a team of few, or most workers full): the vectorised scan is
# cheaper than a wider disk.
_VISIT_SHARE = 16
_VISIT_MIN = 256


class MovingNearest:
    """Motion-aware nearest-worker index over a live snapshot and the legs its workers drive.

    :func:`sim.positions.refresh_snapshot` moves its clock (:meth:`advance`); the snapshot's
    :meth:`~sim.dispatch.FleetSnapshot.move` reports jumps (:meth:`moved`);
    :func:`sim.dispatch.choose_worker` asks it (:meth:`choose`).
    """

    def __init__(self, legs: Legs, snap: FleetSnapshot) -> None:
        self.legs = legs
        self.snap = snap
        self.now_s = -math.inf
        self.built = False
        self.t_ref = 0.0
        self.vmax_ref = 0.0
        self.emax = 0.0
        #: Every row's position at t_ref (ECEF m, within err_ref m of the true one).
        self.ref: FloatArray = np.zeros((0, 3))
        self.err_ref: FloatArray = np.zeros(0)
        self.pos: dict[int, tuple[float, float, float]] = {}  # exact, for rows moved since
        self.dirty: set[int] = set()
        # The grid, CSR: the rows in cell c = iu * ny + iw are order[starts[c]:starts[c + 1]],
        # so one column of cells (fixed iu, a run of iw) is one slice.
        self.frame: tuple[FloatArray, FloatArray] | None = None
        self.east = (1.0, 0.0, 0.0)
        self.north = (0.0, 1.0, 0.0)
        self.u0 = 0.0
        self.w0 = 0.0
        self.h = 1.0
        self.spacing = 1.0  # the fleet's mean spacing (m): sqrt(area / workers)
        self.nx = 1
        self.ny = 1
        # Memoryviews of the numpy arrays: indexing them gives plain ints, and unlike
        # tolist() they cost nothing to make.
        self.order: memoryview = np.zeros(0, dtype=np.intp).data
        self.starts: memoryview = np.zeros(2, dtype=np.intp).data
        #: Grid rebuilds and grid decisions so far (for tests and the benchmark's notes).
        self.rebuilds = 0
        self.decisions = 0
        #: Rows the decisions looked at, over all decisions (grid cells' contents).
        self.examined = 0

    # -- clock and changes --------------------------------------------------------------
    def advance(self, now_s: float) -> None:
        """The next decision is at ``now_s``."""
        self.now_s = now_s
        self.snap.stale = True

    def vmax(self) -> float:
        """A bound on every worker's speed since t_ref (m/s)."""
        return max(self.vmax_ref, self.legs.peak_speed_mps) * (1.0 + _REL_MARGIN)

    def moved(self, i: int, x: float, y: float, z: float) -> None:
        """Row ``i`` is now exactly at ``(x, y, z)`` (ECEF).

        A row that moved continuously since t_ref is still within the drift bound of its
        grid position; a jump may not be, and makes the row dirty.  The test is the bound
        at the move's time, which is no earlier than the last :meth:`advance` -- and, for
        an arrival at the end of the row's last leg, no earlier than that leg's arrival
        time (a worker reaches the end of a leg when the leg says, :class:`~sim.positions.Legs`).
        """
        if not self.built or i in self.dirty:
            self.pos[i] = (x, y, z)
            return
        self.pos[i] = (x, y, z)
        legs = self.legs
        t_move = self.now_s
        if not legs.on_leg[i] and legs.to_xyz[i].tolist() == [x, y, z]:
            t_move = max(t_move, float(legs.t1[i]))
        dt = t_move - self.t_ref
        rx, ry, rz = self.ref[i].tolist()
        allowed = self.vmax() * dt + float(self.err_ref[i]) if dt >= 0 else -1.0
        if math.dist((x, y, z), (rx, ry, rz)) > allowed:
            self.dirty.add(i)

    def invalidate(self) -> None:
        self.built = False

    def materialise(self) -> None:
        """Every moving row's chord point and error bound into the snapshot (what each
        decision used to do), for readers of the whole fleet."""
        legs = self.legs
        if not legs.moving:
            return
        rows = legs.rows()
        g = legs.gathered()
        now_s = self.now_s
        f = np.clip((now_s - g.t0) * g.inv_dur, 0.0, 1.0)[:, None]
        fresh = self.snap.approx_rows is not rows
        self.snap.set_approx(
            rows, g.start + g.span * f, g.err, lambda r: legs.positions(r, now_s), fresh
        )

    # -- the grid ------------------------------------------------------------------------
    def _rebuild(self, t: float) -> None:
        legs = self.legs
        snap = self.snap
        n = len(snap)
        # Rows off a leg are exact in the snapshot (FleetSnapshot.move); moving ones are
        # at their chord point.  Whole columns, not the moving rows gathered: cheaper.
        err: FloatArray = np.zeros(n)
        if snap.approx is not None and snap.err is not None and snap.approx.any():
            err = np.where(snap.approx, snap.err, 0.0)
        vmax = 0.0
        if legs.moving:
            on = legs.on_leg
            f = np.clip((t - legs.t0) * legs.inv_dur, 0.0, 1.0)
            chord = legs.from_xyz + (legs.to_xyz - legs.from_xyz) * f[:, None]
            ref = np.where(on[:, None], chord, snap.xyz)
            err = np.where(on, legs.err_m, err)
            # A leg already driven leaves its worker at its end: it moves no more.
            vmax = float(legs.speed_mps.max(where=on & (f < 1.0), initial=0.0))
        else:
            ref = snap.xyz.copy()
        legs.reset_peak_speed()
        # Any unit vectors would do (a projection never lengthens a distance); the plane
        # tangent at the fleet's centre keeps cells square on the ground.
        if self.frame is None:
            # Fixed at the first build (any unit vectors are correct; these keep cells
            # square while the fleet stays in its region) and saved rebuilding it.
            o = ref[:: max(1, n // 256)].mean(axis=0)
            up = o / np.linalg.norm(o)
            e = np.cross((0.0, 0.0, 1.0), up)
            norm = float(np.linalg.norm(e))
            e = e / norm if norm > 1e-6 else np.array((0.0, 1.0, 0.0))
            self.frame = (e, np.cross(up, e))
        east, north = self.frame
        u = ref @ east
        w = ref @ north
        u0, w0 = float(u.min()), float(w.min())
        span_u = float(u.max()) - u0
        span_w = float(w.max()) - w0
        spacing = math.sqrt(max(span_u, 1.0) * max(span_w, 1.0) / n)
        h = max(_CELL_SCALE * spacing, 1.0)
        nx = int(span_u // h) + 1
        ny = int(span_w // h) + 1
        # Truncation is floor here (u - u0 >= 0); the clamp catches the far edge's rounding.
        iu = np.minimum(((u - u0) * (1.0 / h)).astype(np.intp), nx - 1)
        iw = np.minimum(((w - w0) * (1.0 / h)).astype(np.intp), ny - 1)
        cell = iu * ny + iw
        starts = np.zeros(nx * ny + 1, dtype=np.intp)
        np.cumsum(np.bincount(cell, minlength=nx * ny), out=starts[1:])
        # numpy's stable sort is a radix sort on 16-bit keys, a merge sort on wider ones.
        keys = cell.astype(np.uint16) if nx * ny <= 65536 else cell
        order = np.argsort(keys, kind="stable")
        self.east = (float(east[0]), float(east[1]), float(east[2]))
        self.north = (float(north[0]), float(north[1]), float(north[2]))
        self.u0, self.w0, self.h, self.nx, self.ny = u0, w0, h, nx, ny
        self.spacing = spacing
        self.order = np.ascontiguousarray(order, dtype=np.intp).data
        self.starts = starts.data
        self.ref = ref
        self.err_ref = err
        self.emax = float(err.max()) if n else 0.0
        self.vmax_ref = vmax
        self.t_ref = t
        self.pos = {}
        self.dirty = set()
        self.built = True
        self.rebuilds += 1

    def _needs_rebuild(self, t: float, vmax: float) -> bool:
        if not self.built or t < self.t_ref or len(self.dirty) > _DIRTY_MAX:
            return True
        return vmax * (t - self.t_ref) > _DRIFT_SPACINGS * self.spacing

    def _locate(self, i: int, t: float) -> tuple[float, float, float, float]:
        """Row ``i`` at ``t``: a point (ECEF) and how far the worker can be from it (m)."""
        leg = self.legs.chord_rows[i]
        if leg is not None:
            t0, inv, ax, ay, az, sx, sy, sz, e = leg
            f = (t - t0) * inv
            f = 0.0 if f < 0.0 else (1.0 if f > 1.0 else f)
            return ax + sx * f, ay + sy * f, az + sz * f, e
        p = self.pos.get(i)
        if p is not None:
            return p[0], p[1], p[2], 0.0
        x, y, z = self.ref[i].tolist()
        return x, y, z, float(self.err_ref[i])

    # -- the decision ---------------------------------------------------------------------
    def choose(self, task: TaskPoint, opts: AutoAssignOptions) -> WorkerKey | None:
        """:func:`sim.dispatch.choose_worker` for ``distance``: the brute force's answer."""
        snap = self.snap
        t = self.now_s
        vmax = self.vmax()
        if self._needs_rebuild(t, vmax):
            self._rebuild(t)
            vmax = self.vmax()
        self.decisions += 1
        qx, qy, qz = ecef_point(task.lat, task.lon)
        # Every clean row is within `slack` of its grid position.
        slack = vmax * (t - self.t_ref) + self.emax + _ABS_MARGIN_M
        on_duty = snap.on_duty
        filtered = bool(
            opts.team is not None
            or opts.max_assigned_task_count is not None
            or task.quantity > 0
            or opts.excluded_worker_ids
        )
        chord_rows = self.legs.chord_rows
        pos = self.pos
        dirty = self.dirty
        locate = self._locate
        lows: list[tuple[float, int]] = []
        best = math.inf  # lowest chord upper bound so far
        limit = math.inf  # geodesic upper bound of the best, with the float margins
        for i in dirty:
            if filtered and not bool(_eligible_at(snap, np.array([i]), task, opts)[0]):
                continue
            if not on_duty[i]:
                continue
            x, y, z, e = locate(i, t)
            d = math.sqrt((x - qx) ** 2 + (y - qy) ** 2 + (z - qz) ** 2)
            lows.append((d - e, i))
            if d + e < best:
                best = d + e
                limit = geodesic_upper_bound_m(best) * (1 + _REL_MARGIN) + _ABS_MARGIN_M
        ex, ey, ez = self.east
        nx_, ny_, nz_ = self.north
        u = qx * ex + qy * ey + qz * ez - self.u0
        w = qx * nx_ + qy * ny_ + qz * nz_ - self.w0
        inv_h = 1.0 / self.h
        uc = u * inv_h
        wc = w * inv_h
        gx, gy = self.nx, self.ny
        order = self.order
        starts = self.starts
        visited = 0
        budget = max(_VISIT_MIN, len(snap) // _VISIT_SHARE)
        # Scan every cell within `radius` of the task (in the plane), column by column;
        # `done` holds each column's cells scanned so far, so a wider pass adds only the
        # new ones.  Start at about one worker's share of ground beyond the drift.
        done: dict[int, tuple[int, int]] = {}
        radius = slack + _FIRST_REACH * self.spacing
        while True:
            spans: list[tuple[int, int]] = []
            # In cell units (the grid's own scale): fewer operations per column.
            rc = radius * inv_h
            rc2 = rc * rc
            c_lo = math.floor(uc - rc)
            c_hi = math.floor(uc + rc)
            for iu in range(0 if c_lo < 0 else c_lo, gx if c_hi >= gx else c_hi + 1):
                du = iu - uc if uc < iu else (uc - iu - 1.0 if uc > iu + 1 else 0.0)
                if du > rc:
                    continue
                half = math.sqrt(rc2 - du * du)
                lo = math.floor(wc - half)
                hi = math.floor(wc + half)
                if lo < 0:
                    lo = 0
                if hi >= gy:
                    hi = gy - 1
                if lo > hi:
                    continue
                base = iu * gy
                prev = done.get(iu)
                if prev is None:
                    spans.append((starts[base + lo], starts[base + hi + 1]))
                else:  # the radius only grows: [lo, hi] contains the previous range
                    p_lo, p_hi = prev
                    if lo < p_lo:
                        spans.append((starts[base + lo], starts[base + p_lo]))
                    if hi > p_hi:
                        spans.append((starts[base + p_hi + 1], starts[base + hi + 1]))
                done[iu] = (lo, hi)
            for a, b in spans:
                visited += b - a
                for i in order[a:b]:
                    if not on_duty[i] or i in dirty:
                        continue
                    if filtered and not bool(_eligible_at(snap, np.array([i]), task, opts)[0]):
                        continue
                    # _locate, inlined: this loop is most of a decision's cost.
                    leg = chord_rows[i]
                    if leg is not None:
                        t0, inv, ax, ay, az, sx, sy, sz, e = leg
                        f = (t - t0) * inv
                        f = 0.0 if f < 0.0 else (1.0 if f > 1.0 else f)
                        dx, dy, dz = ax + sx * f - qx, ay + sy * f - qy, az + sz * f - qz
                    else:
                        p = pos.get(i)
                        if p is None:
                            x, y, z, e = locate(i, t)
                        else:
                            (x, y, z), e = p, 0.0
                        dx, dy, dz = x - qx, y - qy, z - qz
                    d = math.sqrt(dx * dx + dy * dy + dz * dz)
                    if d - e > limit:
                        continue
                    lows.append((d - e, i))
                    if d + e < best:
                        best = d + e
                        limit = geodesic_upper_bound_m(best) * (1 + _REL_MARGIN) + _ABS_MARGIN_M
            # A clean row not looked at was more than `radius` from the task at t_ref (a
            # projection never lengthens a distance), so it is now more than radius - slack.
            if radius - slack > limit:
                break
            if visited > budget:
                self.examined += visited
                return _scan(snap, task, snap.eligible(task, opts), use_end=False)
            if limit < math.inf:
                radius = (limit + slack) * (1.0 + _REL_MARGIN) + _ABS_MARGIN_M
            else:
                far = math.hypot(max(u, gx * self.h - u), max(w, gy * self.h - w))
                if radius > far:
                    break  # the disk holds the whole grid: nobody qualifies
                radius = 2.0 * radius
        self.examined += visited
        rows = sorted(i for lo, i in lows if lo <= limit)
        if not rows:
            return None
        if len(rows) == 1:
            return snap.ids[rows[0]]
        return self._confirm(task, rows)

    def _confirm(self, task: TaskPoint, rows: list[int]) -> WorkerKey:
        """Exact geodesics for the shortlist (ascending rows: the first minimum is the
        lowest id), from the same positions and the same calls as the brute force."""
        snap = self.snap
        cand = np.array(rows, dtype=np.intp)
        lat = snap.lat[cand]
        lon = snap.lon[cand]
        on = self.legs.on_leg[cand]
        if on.any():
            a, b = self.legs.positions(cand[on], self.now_s)
            lat[on] = a
            lon[on] = b
        score = geodesic_many_m(task.lat, task.lon, lat, lon)
        return snap.ids[int(cand[int(np.argmin(score))])]
