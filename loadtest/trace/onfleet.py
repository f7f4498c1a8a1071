"""Turning a simulated day (the simulator's four tables) into trace calls.

Concepts held here: :class:`TraceOptions` (which providers a trace speaks), the per-call
dependency rules (a task's calls form a chain; a dropoff starts only after its pickups
complete; a worker's driver-app calls form a chain after its creation; a worker's next
start comes after its last completion).  Drafting and numbering is in
:mod:`loadtest.trace.build`; the partner providers in :mod:`loadtest.trace.partners`.

Request bodies come from :mod:`loadtest.providers` so the emulator and the trace agree.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.providers import hypertrack, onfleet
from loadtest.trace import ops
from loadtest.trace.build import (
    Builder,
    epoch_ms,
    finish,
    metadata,
    phone,
    ref,
    split_ids,
)
from loadtest.trace.expect import count_events
from loadtest.trace.format import (
    DEFAULT_POLL_S,
    RUN_PLACEHOLDER,
    TraceCall,
    TraceHeader,
    dump_trace,
)
from loadtest.trace.pacing import ClientRate, pacing_rates
from loadtest.trace.partners import add_deftship, add_nash
from sim.errors import UserError
from sim.scenario import Scenario
from sim.scenario_io import load_scenario

KNOWN_PROVIDERS = ("onfleet", "hypertrack", "nash", "deftship")


@dataclass(frozen=True, slots=True)
class TraceOptions:
    """What the trace writer emits.

    ``providers``: Onfleet is always the platform of record; adding ``"hypertrack"``
    mirrors each delivery as a HyperTrack order (track at start, complete at completion).
    ``driver_app``: emit the emulator-only driver-app calls (duty, move, start); turn off
    for a real API, where drivers' phones make those calls.  ``poll_s``: simulated
    seconds between async batch status polls.  ``client_rate``: the client-side limiter
    every call of a rate-limited provider goes through (:mod:`loadtest.trace.pacing`):
    each provider's documented limit, a number of calls/s, or ``"none"``.
    """

    providers: tuple[str, ...] = ("onfleet",)
    driver_app: bool = True
    poll_s: float = DEFAULT_POLL_S
    client_rate: ClientRate = "documented"

    def __post_init__(self) -> None:
        unknown = [p for p in self.providers if p not in KNOWN_PROVIDERS]
        if unknown or "onfleet" not in self.providers:
            raise UserError(
                f"trace providers {list(self.providers)!r}: must include 'onfleet' and only "
                f"use {', '.join(KNOWN_PROVIDERS)}"
            )


def _task_body(row: Any, start_ms: int, dep_refs: list[str]) -> dict[str, Any]:
    tid = int(row.task_id)
    body = onfleet.task_body(
        float(row.lat),
        float(row.lon),
        notes=f"fleetsim order {int(row.order_id)} task {tid}",
        pickup=bool(row.is_pickup),
        complete_after_ms=epoch_ms(start_ms, row.complete_after_s),
        complete_before_ms=epoch_ms(start_ms, row.complete_before_s),
        quantity=float(row.quantity),
        service_min=round(float(row.service_s) / 60.0, 3),
        dependencies=dep_refs or None,
        recipient=None
        if bool(row.is_pickup)
        else (f"Customer {int(row.order_id)}", phone(int(row.order_id))),
    )
    body["metadata"] = metadata("task", tid)
    return body


@dataclass(slots=True)
class DayState:
    """What the stages of :func:`build_trace` share: the day's tables, the builder, and
    the call after which each simulator object is known on the target."""

    opts: TraceOptions
    meta: dict[str, Any]
    start_ms: int
    tasks: dict[int, Any]
    workers: Any
    subs: Any
    events: Any
    b: Builder = field(default_factory=Builder)
    team_names: list[str] = field(default_factory=list)
    team_call: dict[str, int] = field(default_factory=dict)
    worker_create: dict[int, int] = field(default_factory=dict)
    worker_last: dict[int, int] = field(default_factory=dict)
    #: task -> call after which its server id is known
    creator: dict[int, int] = field(default_factory=dict)
    task_last: dict[int, int] = field(default_factory=dict)
    #: (task, its dependencies) set after creation
    deferred: list[tuple[int, list[int]]] = field(default_factory=list)
    completion: dict[int, int] = field(default_factory=dict)
    worker_task: dict[int, int] = field(default_factory=dict)


def day_state(result: Any, opts: TraceOptions) -> DayState:
    """The stages' starting state for a result (``SimResult`` or ``RunData``)."""
    meta: dict[str, Any] = dict(result.meta)
    return DayState(
        opts=opts,
        meta=meta,
        start_ms=int(meta["start_epoch_ms"]),
        # Plain records by id: pandas row lookups would dominate the writer's time.
        tasks={int(r.task_id): r for r in result.tasks.itertuples(index=False)},
        workers=result.workers.sort_values("worker_id"),
        subs=result.submissions.sort_values(["sent_s", "submission_id"]),
        # Read back from disk (RunData) a missing id is null and missing text too.
        events=result.events.fillna({"task_id": -1, "worker_id": -1, "detail": ""}),
    )


def add_setup(st: DayState) -> None:
    """Teams, then workers (each after its team), all at the start of the day."""
    b = st.b
    st.team_names = sorted({str(t) for t in st.workers["team"]})
    for i, name in enumerate(st.team_names):
        st.team_call[name] = b.add(
            0.0,
            ops.TEAM_CREATE,
            body={"name": name, "metadata": metadata("team", i)},
            defines=f"team:{i}",
        )
    team_idx = {name: i for i, name in enumerate(st.team_names)}
    for w in st.workers.itertuples(index=False):
        wid = int(w.worker_id)
        body = {
            "name": str(w.name),
            "phone": str(w.phone),
            "teams": [ref("team", team_idx[str(w.team)])],
            "vehicle": {"type": str(w.vehicle)},
            "capacity": float(w.capacity),
            "metadata": metadata("worker", wid),
        }
        c = b.add(
            0.0,
            ops.WORKER_CREATE,
            body=body,
            worker=wid,
            deps=[st.team_call[str(w.team)]],
            defines=f"worker:{wid}",
        )
        st.worker_create[wid] = st.worker_last[wid] = c


def _create_single(
    st: DayState, s: Any, ids: list[int], bodies: list[dict[str, Any]], deps: list[int]
) -> int:
    return st.b.add(
        float(s.sent_s),
        ops.TASK_CREATE,
        body=bodies[0],
        tasks=(ids[0],),
        deps=deps,
        defines=f"task:{ids[0]}",
    )


def _create_batch(
    st: DayState, s: Any, ids: list[int], bodies: list[dict[str, Any]], deps: list[int]
) -> int:
    return st.b.add(
        float(s.sent_s),
        ops.TASK_BATCH,
        body=onfleet.batch_body(bodies),
        tasks=tuple(ids),
        deps=deps,
    )


def _create_batch_async(
    st: DayState, s: Any, ids: list[int], bodies: list[dict[str, Any]], deps: list[int]
) -> int:
    sub = st.b.add(
        float(s.sent_s),
        ops.TASK_BATCH_ASYNC,
        body=onfleet.batch_body(bodies),
        tasks=tuple(ids),
        deps=deps,
        defines=f"job:{int(s.submission_id)}",
    )
    return st.b.add(
        float(s.acked_s),
        ops.TASK_BATCH_STATUS,
        params={"jobId": ref("job", int(s.submission_id))},
        tasks=tuple(ids),
        deps=[sub],
        poll_s=st.opts.poll_s,
    )


#: Task creation per submission mode: the calls of one submission, returning the call
#: after which its tasks' server ids are known.
CREATORS = {
    "single": _create_single,
    "batch": _create_batch,
    "batch-async": _create_batch_async,
}


def add_creation(st: DayState) -> None:
    """Each submission's tasks, created in the scenario's submission mode; dependencies
    on tasks not created yet are set afterwards (:func:`add_deferred_dependencies`)."""
    for s in st.subs.itertuples(index=False):
        ids = split_ids(s.task_ids)
        if not ids:
            continue
        bodies = []
        dep_calls: list[int] = []
        for tid in ids:
            row = st.tasks[tid]
            deps = split_ids(row.dependencies)
            known = [d for d in deps if d in st.creator]
            if len(known) < len(deps):
                st.deferred.append((tid, deps))
                known = []
            dep_calls.extend(st.creator[d] for d in known)
            bodies.append(_task_body(row, st.start_ms, [ref("task", d) for d in known]))
        mode = str(s.mode)
        create = CREATORS.get(mode)
        if create is None:
            raise UserError(
                f"submissions: unknown mode {mode!r} in submission {int(s.submission_id)}"
            )
        done = create(st, s, ids, bodies, dep_calls)
        for tid in ids:
            st.creator[tid] = st.task_last[tid] = done


def add_deferred_dependencies(st: DayState) -> None:
    """Dependencies on tasks created later, set once both sides exist."""
    for tid, deps in st.deferred:
        have = [d for d in deps if d in st.creator]
        if tid not in st.creator or not have:
            continue
        c = st.b.add(
            0.0,
            ops.TASK_SET_DEPENDENCIES,
            params={"taskId": ref("task", tid)},
            body={"dependencies": [ref("task", d) for d in have]},
            tasks=(tid,),
            deps=[st.task_last[tid], *(st.creator[d] for d in have)],
        )
        st.task_last[tid] = c


def add_day_events(st: DayState) -> None:
    """The day: assignment, the driver app (duty, start, moves), completion, and the
    HyperTrack mirror of each delivery."""
    b, opts, tasks = st.b, st.opts, st.tasks
    creator, task_last, completion = st.creator, st.task_last, st.completion
    worker_create, worker_last, worker_task = st.worker_create, st.worker_last, st.worker_task
    # A worker has one active task: its next start waits for its last completion.  That
    # ordering joins families, so it is an ``after`` (kept within a process only).
    ht = "hypertrack" in opts.providers
    arrival: dict[int, int] = {}  # task -> its arrival (driver.move)
    cols = ["time_s", "kind", "task_id", "worker_id", "lat", "lon", "detail"]
    for t, kind, tid, wid, lat, lon, detail in st.events[cols].itertuples(index=False):
        t, tid, wid = float(t), int(tid), int(wid)
        if kind == "workerDuty" and opts.driver_app and wid in worker_create:
            body: dict[str, Any] = {"onDuty": str(detail) == "on"}
            if not (math.isnan(lat) or math.isnan(lon)):
                body["location"] = [float(lon), float(lat)]
            worker_last[wid] = b.add(
                t,
                ops.DRIVER_DUTY,
                params={"workerId": ref("worker", wid)},
                body=body,
                worker=wid,
                deps=[worker_last[wid]],
                after=[worker_task.get(wid)],
            )
        elif tid not in creator:
            continue
        elif kind == "taskAssigned" and wid in worker_create:
            task_last[tid] = b.add(
                t,
                ops.TASK_ASSIGN,
                params={"taskId": ref("task", tid)},
                body={"container": {"type": "WORKER", "worker": ref("worker", wid)}},
                tasks=(tid,),
                worker=wid,
                deps=[task_last[tid]],
                after=[worker_create[wid]],
            )
        elif kind == "taskUnassigned":
            task_last[tid] = b.add(
                t,
                ops.TASK_UNASSIGN,
                params={"taskId": ref("task", tid)},
                body={"container": {"type": "ORGANIZATION"}},
                tasks=(tid,),
                deps=[task_last[tid]],
            )
        elif kind == "taskStarted" and opts.driver_app and wid in worker_create:
            row = tasks[tid]
            pre = [completion.get(d) for d in split_ids(row.dependencies)]
            task_last[tid] = b.add(
                t,
                ops.DRIVER_START,
                params={"taskId": ref("task", tid)},
                tasks=(tid,),
                worker=wid,
                deps=[task_last[tid], *pre],
                after=[worker_create[wid], worker_last[wid], worker_task.get(wid)],
            )
            worker_task[wid] = task_last[tid]
            if ht and not bool(row.is_pickup):
                task_last[tid] = b.add(
                    t,
                    ops.ORDER_TRACK,
                    body=_ht_track(row, wid),
                    tasks=(tid,),
                    worker=wid,
                    deps=[task_last[tid]],
                )
        elif kind == "taskArrival" and opts.driver_app and wid in worker_create:
            if not (math.isnan(lat) or math.isnan(lon)):
                worker_last[wid] = arrival[tid] = b.add(
                    t,
                    ops.DRIVER_MOVE,
                    params={"workerId": ref("worker", wid)},
                    body={"location": [float(lon), float(lat)]},
                    worker=wid,
                    deps=[worker_last[wid]],
                    # The arrival is at the active task: after its start, or no taskArrival.
                    after=[worker_task.get(wid)],
                )
        elif kind == "taskDeleted":
            # The merchant's cancellation (demand.cancel): after whatever the task saw last.
            task_last[tid] = b.add(
                t,
                ops.TASK_DELETE,
                params={"taskId": ref("task", tid)},
                tasks=(tid,),
                deps=[task_last[tid]],
            )
        elif kind in ("taskCompleted", "taskFailed"):
            ok = kind == "taskCompleted"
            notes = "delivered" if ok else f"failed: {detail or 'NONE'}"
            c = b.add(
                t,
                ops.TASK_COMPLETE,
                params={"taskId": ref("task", tid)},
                body=onfleet.complete_body(ok, notes),
                tasks=(tid,),
                worker=wid,
                deps=[task_last[tid]],
                # Completed after the arrival, as it happened: a task completed first is no
                # longer active when the worker's location arrives (no taskArrival).
                after=[arrival.get(tid)],
            )
            completion[tid] = task_last[tid] = c
            if wid >= 0:
                worker_task[wid] = c
            if ht and opts.driver_app and not bool(tasks[tid].is_pickup):
                task_last[tid] = b.add(
                    t,
                    ops.ORDER_COMPLETE if ok else ops.ORDER_CANCEL,
                    params={"orderHandle": f"fleetsim-{RUN_PLACEHOLDER}-{tid}"},
                    body={},
                    tasks=(tid,),
                    worker=wid,
                    deps=[task_last[tid]],
                )


def add_partners(st: DayState) -> None:
    """The partner providers' mirror of each submission (:mod:`loadtest.trace.partners`)."""
    if "nash" in st.opts.providers:
        add_nash(st.b, st.subs, st.tasks)
    if "deftship" in st.opts.providers:
        add_deftship(st.b, st.subs, st.tasks)


def trace_header(st: DayState, calls: list[TraceCall]) -> TraceHeader:
    meta = st.meta
    return TraceHeader(
        scenario=str(meta.get("scenario", "")),
        seed=int(meta.get("seed", 0)),
        start_epoch_ms=st.start_ms,
        duration_s=float(meta.get("duration_s", max((c.at_s for c in calls), default=0.0))),
        providers=st.opts.providers,
        submission_mode=",".join(sorted({str(m) for m in st.subs["mode"]})) or "single",
        counts={
            "calls": len(calls),
            "tasks": len(st.creator),
            "workers": len(st.worker_create),
            "teams": len(st.team_names),
            "submissions": len(st.subs),
            "families": len({c.family for c in calls}),
        },
        scenario_hash=str(meta.get("scenario_hash", "")),
        poll_s=st.opts.poll_s,
        events=count_events(calls),
    )


def build_trace(
    result: Any, options: TraceOptions | None = None
) -> tuple[TraceHeader, list[TraceCall]]:
    """The header and calls for one simulated day (``result``: SimResult or RunData)."""
    st = day_state(result, options or TraceOptions())
    add_setup(st)
    add_creation(st)
    add_deferred_dependencies(st)
    add_day_events(st)
    add_partners(st)
    pacing = pacing_rates(st.opts.client_rate)
    calls = finish(st.b, pacing)
    header = trace_header(st, calls)
    return dataclasses.replace(header, pacing=pacing), calls


#: Geofence radius (metres) of a traced HyperTrack order's destination.
HT_RADIUS_M = 50


def _ht_track(row: Any, wid: int) -> dict[str, Any]:
    tid = int(row.task_id)
    order = hypertrack.order_body(
        f"fleetsim-{RUN_PLACEHOLDER}-{tid}",
        float(row.lat),
        float(row.lon),
        "drop",
        address=None,
        radius_m=HT_RADIUS_M,
        metadata={"fleetsim_task": tid, "fleetsim_run": RUN_PLACEHOLDER},
    )
    return hypertrack.track_body(f"fleetsim-worker-{wid}", [order], "on_shift")


def scenario_options(
    scenario: Scenario,
    providers: tuple[str, ...] = ("onfleet",),
    driver_app: bool = True,
    client_rate: ClientRate = "documented",
) -> TraceOptions:
    """The trace options a scenario implies (its submission poll interval)."""
    return TraceOptions(
        providers=providers,
        driver_app=driver_app,
        poll_s=scenario.submission.poll_s,
        client_rate=client_rate,
    )


def run_options(
    run_dir: Path,
    providers: tuple[str, ...] = ("onfleet",),
    driver_app: bool = True,
    client_rate: ClientRate = "documented",
) -> TraceOptions:
    """The trace options of a run directory: from its ``scenario.toml`` (written with the
    run), so a rewrite gives the trace ``fleetsim simulate`` wrote; defaults without one."""
    path = Path(run_dir) / "scenario.toml"
    if not path.is_file():
        return TraceOptions(providers=providers, driver_app=driver_app, client_rate=client_rate)
    return scenario_options(load_scenario(path), providers, driver_app, client_rate)


def write_trace(result: Any, path: Path, options: TraceOptions | None = None) -> None:
    """Write ``trace.jsonl`` for a simulated day (``result`` is a ``SimResult`` or ``RunData``).

    ``options`` picks the providers (Onfleet by default) and polling; see :class:`TraceOptions`.
    """
    header, calls = build_trace(result, options)
    dump_trace(header, calls, path)
