"""Dispatch policies: pure functions over a snapshot of the fleet.

Concepts held here:

* :class:`FleetSnapshot` -- columnar arrays describing the candidate workers (position,
  duty, team, load, route), sorted by worker id so that array order *is* the tie-break.
  The simulator keeps one live snapshot and updates it in place (O(1) per change); the
  emulator builds one per autoAssign call.  Either way the policies only read it.
* :class:`AutoAssignOptions` -- the platform's autoAssign options (API-NOTES §1.6-1.7).
* :func:`choose_worker` -- Onfleet's ``distance`` and ``load`` modes.  The answer is
  exactly what a brute-force scan of exact WGS84 geodesics would return (ties broken by
  worker id): a vectorised chord shortlist is narrowed with rigorous bounds
  (``chord <= geodesic <= geodesic_upper_bound(chord)``) and confirmed exactly.  A live
  snapshot of a large moving fleet delegates ``distance`` to its :class:`Motion`
  (:mod:`sim.nearest_index`).
* :func:`choose_worker_bruteforce` -- that brute-force reference, for tests and benchmarks.
* :func:`choose_from_pool` -- the ``queue`` policy: a free worker takes the oldest waiting
  task, or the one it can reach first.
* :func:`route_length_m` -- the planned route length that the ``load`` mode ranks by.

The strategies that apply these policies during a run live in :mod:`sim.dispatchers`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from sim.geo import (
    FloatArray,
    ecef,
    ecef_point,
    geodesic_m,
    geodesic_many_m,
    geodesic_upper_bound_m,
)

WorkerKey = Hashable
AssignMode = Literal["distance", "load"]
PoolRule = Literal["oldest", "nearest"]

# Float slack on the bounds: chords come from an expanded square (|p|^2 - 2 p.q + |q|^2),
# whose rounding error is ~1e-3 m^2 at earth scale.  These margins keep every true
# contender inside the shortlist; the exact comparison then decides.
_REL_MARGIN = 1e-9
_ABS_MARGIN_M = 1e-2
# Above this many workers a static snapshot answers distance queries from a k-d tree.
KDTREE_MIN_WORKERS = 2048
#: :meth:`FleetSnapshot.move_many` checks rows one by one against the nearest-worker grid
#: while they are at most 1/MOVED_ROWS_SHARE of the fleet (~4 µs a row against a rebuild
#: of ~0.07 µs per worker), and rebuilds the grid past that.
MOVED_ROWS_SHARE = 64


@dataclass(frozen=True, slots=True)
class AutoAssignOptions:
    """The platform's autoAssign options (``options`` of POST /tasks and /tasks/autoAssign)."""

    mode: AssignMode = "distance"
    team: str | None = None
    max_assigned_task_count: int | None = None
    consider_dependencies: bool = False
    excluded_worker_ids: frozenset[WorkerKey] = frozenset()


@dataclass(frozen=True, slots=True)
class TaskPoint:
    """Where a task (or a dependency family's first task) is, how much it carries, and how
    many tasks the assignment gives the worker (a family's whole size: the platform's
    ``maxAssignedTaskCount`` counts every task a worker holds)."""

    lat: float
    lon: float
    quantity: float = 0.0
    count: int = 1


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One worker as the dispatcher sees it (input to :meth:`FleetSnapshot.build`)."""

    id: WorkerKey
    lat: float
    lon: float
    on_duty: bool
    teams: frozenset[str] = frozenset()
    assigned_count: int = 0
    free_capacity: float = math.inf
    # Route for the `load` mode: current location -> active task -> assigned tasks.
    route_m: float = 0.0
    end_lat: float | None = None
    end_lon: float | None = None


def route_length_m(
    lat: float, lon: float, stops: Iterable[tuple[float, float]], total: float = 0.0
) -> tuple[float, float, float]:
    """A worker's planned route for the ``load`` mode: from its location through ``stops``
    (its active task, then its assigned tasks, as ``(lat, lon)``) in order.

    Returns the route's length in metres and where it ends (the location when there are no
    stops), as :meth:`FleetSnapshot.set_route` takes them.  The simulator and the emulator's
    autoAssign both call this, so both rank workers by the same number.  ``total`` extends a
    route already summed (its length so far, ending at ``lat, lon``): the sum runs in the
    same order, so extending stop by stop gives the bit-identical length.
    """
    for s_lat, s_lon in stops:
        total += geodesic_m(lat, lon, s_lat, s_lon)
        lat, lon = s_lat, s_lon
    return total, lat, lon


class Motion(Protocol):
    """Where a live snapshot's moving workers are, kept by :mod:`sim.nearest_index`.

    A snapshot with a motion answers ``distance`` choices from it without bringing every
    moving row's position up to date; a reader that needs the whole fleet's positions (a
    full scan, the brute force, :meth:`FleetSnapshot.exact_latlon`) first asks it to
    :meth:`materialise` them.
    """

    def choose(self, task: TaskPoint, opts: AutoAssignOptions) -> WorkerKey | None: ...

    def materialise(self) -> None: ...

    def moved(self, i: int, x: float, y: float, z: float) -> None: ...

    def invalidate(self) -> None: ...


def _id_key(w: WorkerView) -> Any:
    return w.id  # ids of one fleet share a type (int or str), so they order


@dataclass(slots=True)
class FleetSnapshot:
    """Columnar view of the fleet, rows sorted by worker id.

    Mutating methods exist for the simulator's live snapshot; each one drops the cached
    k-d tree so a query never sees stale geometry.
    """

    ids: list[WorkerKey]
    lat: FloatArray
    lon: FloatArray
    xyz: FloatArray
    p2: FloatArray
    on_duty: npt.NDArray[np.bool_]
    teams: list[frozenset[str]]
    assigned_count: npt.NDArray[np.int64]
    free_capacity: FloatArray
    route_m: FloatArray
    end_lat: FloatArray
    end_lon: FloatArray
    end_xyz: FloatArray
    end_p2: FloatArray
    index: dict[WorkerKey, int] = field(default_factory=dict)
    _team_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    _tree: cKDTree | None = None
    #: Rows whose ``xyz`` is an approximation within ``err`` metres of the true position
    #: (workers part-way along a leg, :meth:`set_approx`); their ``lat``/``lon`` are
    #: stale and ``_resolve`` gives the exact ones.  None when every row is exact.
    approx: npt.NDArray[np.bool_] | None = None
    err: FloatArray | None = None
    #: The rows of the last :meth:`set_approx` (identity tells a caller they are unchanged).
    approx_rows: npt.NDArray[np.intp] | None = None
    _resolve: Callable[[npt.NDArray[np.intp]], tuple[FloatArray, FloatArray]] | None = None
    #: The moving workers' index (``distance`` mode, large fleets); ``stale`` says the
    #: moving rows' ``xyz`` lag the motion's clock until :meth:`sync` materialises them.
    motion: Motion | None = None
    stale: bool = False

    @classmethod
    def build(cls, workers: Sequence[WorkerView]) -> FleetSnapshot:
        rows = sorted(workers, key=_id_key)
        n = len(rows)
        lat = np.array([w.lat for w in rows], dtype=np.float64)
        lon = np.array([w.lon for w in rows], dtype=np.float64)
        end_lat = np.array(
            [w.lat if w.end_lat is None else w.end_lat for w in rows], dtype=np.float64
        )
        end_lon = np.array(
            [w.lon if w.end_lon is None else w.end_lon for w in rows], dtype=np.float64
        )
        xyz = ecef(lat, lon).reshape(n, 3)
        end_xyz = ecef(end_lat, end_lon).reshape(n, 3)
        snap = cls(
            ids=[w.id for w in rows],
            lat=lat,
            lon=lon,
            xyz=xyz,
            p2=np.einsum("ij,ij->i", xyz, xyz),
            on_duty=np.array([w.on_duty for w in rows], dtype=np.bool_),
            teams=[w.teams for w in rows],
            assigned_count=np.array([w.assigned_count for w in rows], dtype=np.int64),
            free_capacity=np.array([w.free_capacity for w in rows], dtype=np.float64),
            route_m=np.array([w.route_m for w in rows], dtype=np.float64),
            end_lat=end_lat,
            end_lon=end_lon,
            end_xyz=end_xyz,
            end_p2=np.einsum("ij,ij->i", end_xyz, end_xyz),
        )
        snap.index = {wid: i for i, wid in enumerate(snap.ids)}
        return snap

    def __len__(self) -> int:
        return len(self.ids)

    # -- in-place updates (the simulator's live snapshot) ---------------------------
    def move(self, i: int, lat: float, lon: float) -> None:
        """Set worker row ``i``'s last known location."""
        self.lat[i] = lat
        self.lon[i] = lon
        x, y, z = ecef_point(lat, lon)
        self.xyz[i] = (x, y, z)
        self.p2[i] = x * x + y * y + z * z
        self._tree = None
        if self.approx is not None and self.approx[i]:
            self.approx[i] = False
            self.err[i] = 0.0  # type: ignore[index]
            self.approx_rows = None
        if self.motion is not None:
            self.motion.moved(i, x, y, z)

    def move_many(self, rows: npt.NDArray[np.intp], lat: FloatArray, lon: FloatArray) -> None:
        """:meth:`move` for many rows at once (the moving workers at a decision time)."""
        self.lat[rows] = lat
        self.lon[rows] = lon
        xyz = ecef(lat, lon).reshape(-1, 3)
        self.xyz[rows] = xyz
        self.p2[rows] = np.einsum("ij,ij->i", xyz, xyz)
        self._tree = None
        if self.approx is not None:
            self.approx[rows] = False
            self.err[rows] = 0.0  # type: ignore[index]
            self.approx_rows = None
        motion = self.motion
        if motion is not None:
            # A few rows (a batch of arrivals between two decisions): each is checked as
            # move() would, since rebuilding the grid costs the whole fleet; many rows
            # (every moving worker) rebuild it.
            if len(rows) * MOVED_ROWS_SHARE <= len(self.ids):
                for i, (x, y, z) in zip(rows.tolist(), xyz.tolist(), strict=True):
                    motion.moved(i, x, y, z)
            else:
                motion.invalidate()

    def set_approx(
        self,
        rows: npt.NDArray[np.intp],
        xyz: FloatArray,
        err_m: FloatArray,
        resolve: Callable[[npt.NDArray[np.intp]], tuple[FloatArray, FloatArray]],
        fresh: bool = True,
    ) -> None:
        """Rows ``rows`` are within ``err_m`` of ``xyz`` (ECEF); ``resolve(rows)`` gives
        their exact positions, asked only for the few a decision shortlists.  ``fresh =
        False`` says the rows and their errors are those of the previous call."""
        if self.approx is None or self.err is None:
            self.approx = np.zeros(len(self.ids), dtype=np.bool_)
            self.err = np.zeros(len(self.ids))
            fresh = True
        self.xyz[rows] = xyz
        self.p2[rows] = np.einsum("ij,ij->i", xyz, xyz)
        if fresh:
            self.approx[rows] = True
            self.err[rows] = err_m
            self.approx_rows = rows
        self._resolve = resolve
        self._tree = None

    def exact_latlon(self, rows: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        """Exact positions of ``rows`` (resolving the approximate ones)."""
        self.sync()
        lat = self.lat[rows]
        lon = self.lon[rows]
        if self.approx is not None and self._resolve is not None:
            ap = self.approx[rows]
            if ap.any():
                lat = lat.copy()
                lon = lon.copy()
                a, b = self._resolve(rows[ap])
                lat[ap] = a
                lon[ap] = b
        return lat, lon

    def sync(self) -> None:
        """Bring the moving rows' ``xyz`` (and their error bounds) to the motion's clock."""
        if self.stale and self.motion is not None:
            self.stale = False
            self.motion.materialise()

    def set_route(self, i: int, route_m: float, end_lat: float, end_lon: float) -> None:
        """Set worker row ``i``'s planned route length and where that route ends."""
        self.route_m[i] = route_m
        self.end_lat[i] = end_lat
        self.end_lon[i] = end_lon
        x, y, z = ecef_point(end_lat, end_lon)
        self.end_xyz[i] = (x, y, z)
        self.end_p2[i] = x * x + y * y + z * z

    def refresh_ends(self, rows: npt.NDArray[np.intp]) -> None:
        """Recompute the ECEF route ends of ``rows`` from ``end_lat``/``end_lon`` (a
        caller that wrote many route ends directly, as :meth:`set_route` does one)."""
        xyz = ecef(self.end_lat[rows], self.end_lon[rows]).reshape(-1, 3)
        self.end_xyz[rows] = xyz
        self.end_p2[rows] = np.einsum("ij,ij->i", xyz, xyz)

    def set_duty(self, i: int, on_duty: bool) -> None:
        self.on_duty[i] = on_duty

    def team_mask(self, team: str) -> npt.NDArray[np.bool_]:
        mask = self._team_masks.get(team)
        if mask is None:
            mask = np.array([team in t for t in self.teams], dtype=np.bool_)
            self._team_masks[team] = mask
        return mask

    def kdtree(self) -> cKDTree:
        """A k-d tree over the ECEF positions, built on first use after any move."""
        self.sync()
        if self._tree is None:
            self._tree = cKDTree(self.xyz)
        return self._tree

    # -- eligibility ------------------------------------------------------------------
    def eligible(self, task: TaskPoint, opts: AutoAssignOptions) -> npt.NDArray[np.bool_]:
        """On-duty workers that pass the team, count, capacity and exclusion filters."""
        mask = self.on_duty.copy()
        if opts.team is not None:
            mask &= self.team_mask(opts.team)
        if opts.max_assigned_task_count is not None:
            mask &= self.assigned_count + task.count <= opts.max_assigned_task_count
        if task.quantity > 0:
            mask &= self.free_capacity >= task.quantity
        for wid in opts.excluded_worker_ids:
            i = self.index.get(wid)
            if i is not None:
                mask[i] = False
        return mask


def _eligible_at(
    snap: FleetSnapshot, rows: npt.NDArray[np.intp], task: TaskPoint, opts: AutoAssignOptions
) -> npt.NDArray[np.bool_]:
    """:meth:`FleetSnapshot.eligible` for a few rows only (the k-d tree's shortlist)."""
    ok = snap.on_duty[rows]
    if opts.team is not None:
        ok &= snap.team_mask(opts.team)[rows]
    if opts.max_assigned_task_count is not None:
        ok &= snap.assigned_count[rows] + task.count <= opts.max_assigned_task_count
    if task.quantity > 0:
        ok &= snap.free_capacity[rows] >= task.quantity
    if opts.excluded_worker_ids:
        ids = snap.ids
        ok &= np.array([ids[int(r)] not in opts.excluded_worker_ids for r in rows])
    return ok


def _query_xyz(task: TaskPoint) -> tuple[FloatArray, float]:
    x, y, z = ecef_point(task.lat, task.lon)
    return np.array((x, y, z)), x * x + y * y + z * z


def _confirm(
    snap: FleetSnapshot,
    task: TaskPoint,
    cand: npt.NDArray[np.intp],
    base_m: FloatArray | None,
    use_end: bool,
) -> WorkerKey:
    """Exact scores for the shortlisted rows; lowest score wins, then lowest id."""
    if cand.size == 1:
        return snap.ids[int(cand[0])]
    if use_end:
        lat, lon = snap.end_lat[cand], snap.end_lon[cand]
    else:
        lat, lon = snap.exact_latlon(cand)
    score = geodesic_many_m(task.lat, task.lon, lat, lon)
    if base_m is not None:
        score = base_m[cand] + score
    # `cand` is ascending, so argmin's first-minimum rule breaks ties by worker id.
    return snap.ids[int(cand[int(np.argmin(score))])]


def _scan(
    snap: FleetSnapshot,
    task: TaskPoint,
    mask: npt.NDArray[np.bool_],
    use_end: bool,
) -> WorkerKey | None:
    if not use_end:
        snap.sync()
    xyz, p2 = (snap.end_xyz, snap.end_p2) if use_end else (snap.xyz, snap.p2)
    q, q2 = _query_xyz(task)
    chord2 = p2 - 2.0 * (xyz @ q) + q2
    np.maximum(chord2, 0.0, out=chord2)
    chord = np.sqrt(chord2)
    base = snap.route_m if use_end else None
    # Rows known only within err metres (workers mid-leg): the chord to the true position
    # is within err of the chord to the approximation.
    err = None if use_end or snap.approx is None else snap.err
    if base is not None:
        lower = base + chord
    elif err is not None:
        lower = chord - err
    else:
        lower = chord  # only chord[best] is read again, and best is eligible
    lower[~mask] = np.inf
    best = int(np.argmin(lower))
    if not math.isfinite(lower[best]):
        return None
    reach = float(chord[best]) + (0.0 if err is None else float(err[best]))
    upper = geodesic_upper_bound_m(reach)
    if base is not None:
        upper += float(base[best])
    upper = upper * (1 + _REL_MARGIN) + _ABS_MARGIN_M
    cand = np.flatnonzero(lower <= upper)
    return _confirm(snap, task, cand, base, use_end)


def _eligible_row(snap: FleetSnapshot, i: int, task: TaskPoint, opts: AutoAssignOptions) -> bool:
    """:meth:`FleetSnapshot.eligible` for row ``i`` alone, in plain Python."""
    if not snap.on_duty[i]:
        return False
    if opts.team is not None and not snap.team_mask(opts.team)[i]:
        return False
    limit = opts.max_assigned_task_count
    if limit is not None and snap.assigned_count[i] + task.count > limit:
        return False
    if task.quantity > 0 and not snap.free_capacity[i] >= task.quantity:
        return False
    return not (opts.excluded_worker_ids and snap.ids[i] in opts.excluded_worker_ids)


def _load_upper(snap: FleetSnapshot, chord: FloatArray, best: int) -> float:
    """Upper bound (with float slack) on row ``best``'s exact ``load`` score."""
    upper = geodesic_upper_bound_m(float(chord[best])) + float(snap.route_m[best])
    return upper * (1 + _REL_MARGIN) + _ABS_MARGIN_M


def _scan_load(snap: FleetSnapshot, task: TaskPoint, opts: AutoAssignOptions) -> WorkerKey | None:
    """The ``load`` mode's scan: route length plus the chord from the route's end as the
    lower bound, confirmed exactly.  The same answer as :func:`_scan` with ``use_end``, in
    fewer vector passes (it runs once per assignment of a 100,000-task day, and in a
    running model each numpy call costs a few microseconds): the squared chord is one
    matrix-vector product plus in-place adds, and in the usual case -- the lowest bound
    of all rows is an eligible worker's and no other row comes within its upper bound --
    neither the eligibility mask nor a shortlist is built."""
    x, y, z = ecef_point(task.lat, task.lon)
    chord = snap.end_xyz @ np.array((-2.0 * x, -2.0 * y, -2.0 * z))
    chord += snap.end_p2
    chord += x * x + y * y + z * z
    np.maximum(chord, 0.0, out=chord)
    np.sqrt(chord, out=chord)
    base = snap.route_m
    lower = base + chord
    best = int(lower.argmin())
    if _eligible_row(snap, best, task, opts):
        low = float(lower[best])
        upper = _load_upper(snap, chord, best)
        lower[best] = np.inf
        if float(lower.min()) > upper:
            return snap.ids[best]  # nobody else, eligible or not, is within the bounds
        lower[best] = low
    lower[~snap.eligible(task, opts)] = np.inf
    best = int(lower.argmin())
    if not math.isfinite(lower[best]):
        return None
    upper = _load_upper(snap, chord, best)
    return _confirm(snap, task, np.flatnonzero(lower <= upper), base, True)


def _tree_nearest(
    snap: FleetSnapshot, task: TaskPoint, opts: AutoAssignOptions
) -> WorkerKey | None:
    # Plain-Python bookkeeping on the k returned rows: for k <= 64 it beats numpy's
    # per-call overhead, which matters at ~10 µs per decision.
    tree = snap.kdtree()
    n = len(snap)
    k = min(4, n)
    q = ecef_point(task.lat, task.lon)
    while True:
        dist, idx = tree.query(q, k=k)
        dl: list[float] = dist.tolist()
        il: list[int] = idx.tolist()
        ok: list[bool] = _eligible_at(snap, idx, task, opts).tolist()
        first = next((j for j in range(k) if ok[j]), -1)
        if first >= 0:
            upper = geodesic_upper_bound_m(dl[first]) * (1 + _REL_MARGIN) + _ABS_MARGIN_M
            # All contenders are inside the k returned when the k-th is beyond the bound.
            if dl[-1] > upper or k == n:
                rows = sorted(il[j] for j in range(k) if ok[j] and dl[j] <= upper)
                if len(rows) == 1:
                    return snap.ids[rows[0]]
                return _confirm(snap, task, np.array(rows, dtype=np.intp), None, False)
        elif k == n:
            return None
        if k * 8 >= n:
            # Mostly ineligible neighbours: a full vector scan is cheaper than more rounds.
            return _scan(snap, task, snap.eligible(task, opts), use_end=False)
        k = min(k * 8, n)


def choose_worker(
    snap: FleetSnapshot, task: TaskPoint, opts: AutoAssignOptions, *, use_tree: bool = False
) -> WorkerKey | None:
    """The worker autoAssign would pick for ``task``, or None when nobody qualifies.

    ``distance``: nearest last known location.  ``load``: shortest total path
    (location -> active task -> assigned tasks -> this task), i.e. ``route_m`` plus the
    leg from the route's end.  ``use_tree`` answers ``distance`` queries from a cached
    k-d tree, worth it when many queries hit one static snapshot of thousands of workers.
    """
    if len(snap) == 0:
        return None
    if opts.mode == "distance" and snap.motion is not None:
        return snap.motion.choose(task, opts)
    if (
        opts.mode == "distance"
        and use_tree
        and len(snap) >= KDTREE_MIN_WORKERS
        and (snap.approx is None or not snap.approx.any())
    ):
        return _tree_nearest(snap, task, opts)
    if opts.mode == "load":
        return _scan_load(snap, task, opts)
    return _scan(snap, task, snap.eligible(task, opts), use_end=False)


def choose_worker_bruteforce(
    snap: FleetSnapshot, task: TaskPoint, opts: AutoAssignOptions
) -> WorkerKey | None:
    """Reference answer: exact geodesic to every eligible worker, lowest (score, id)."""
    mask = snap.eligible(task, opts)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return None
    if opts.mode == "distance":
        lat, lon = snap.exact_latlon(rows)
        score = geodesic_many_m(task.lat, task.lon, lat, lon)
    else:
        leg = geodesic_many_m(task.lat, task.lon, snap.end_lat[rows], snap.end_lon[rows])
        score = snap.route_m[rows] + leg
    return snap.ids[int(rows[int(np.argmin(score))])]


def choose_from_pool(
    pool_lat: FloatArray,
    pool_lon: FloatArray,
    worker_lat: float,
    worker_lon: float,
    rule: PoolRule,
) -> int | None:
    """The ``queue`` policy: which waiting entry (index, oldest first) a free worker takes.

    ``oldest`` takes index 0; ``nearest`` takes the entry it can reach first (exact
    geodesic, ties to the older entry).
    """
    if pool_lat.size == 0:
        return None
    if rule == "oldest":
        return 0
    dist = geodesic_many_m(worker_lat, worker_lon, pool_lat, pool_lon)
    return int(np.argmin(dist))
