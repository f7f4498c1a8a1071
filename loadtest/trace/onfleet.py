"""Turning a simulated day (the simulator's four tables) into trace calls.

Concepts held here: :class:`TraceOptions` (which providers a trace speaks), the per-call
dependency rules (a task's calls form a chain; a dropoff starts only after its pickups
complete; a worker's driver-app calls form a chain after its creation; a worker's next
start comes after its last completion).  Drafting and numbering is in
:mod:`loadtest.trace.build`; the partner providers in :mod:`loadtest.trace.partners`.

Request bodies come from :mod:`loadtest.providers` so the emulator and the trace agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
from loadtest.trace.format import (
    DEFAULT_POLL_S,
    RUN_PLACEHOLDER,
    TraceCall,
    TraceHeader,
    dump_trace,
)
from loadtest.trace.partners import add_deftship, add_nash
from sim.errors import UserError
from sim.scenario import Scenario, load_scenario

KNOWN_PROVIDERS = ("onfleet", "hypertrack", "nash", "deftship")


@dataclass(frozen=True, slots=True)
class TraceOptions:
    """What the trace writer emits.

    ``providers``: Onfleet is always the platform of record; adding ``"hypertrack"``
    mirrors each delivery as a HyperTrack order (track at start, complete at completion).
    ``driver_app``: emit the emulator-only driver-app calls (duty, move, start); turn off
    for a real API, where drivers' phones make those calls.  ``poll_s``: simulated
    seconds between async batch status polls.
    """

    providers: tuple[str, ...] = ("onfleet",)
    driver_app: bool = True
    poll_s: float = DEFAULT_POLL_S

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


def build_trace(
    result: Any, options: TraceOptions | None = None
) -> tuple[TraceHeader, list[TraceCall]]:
    """The header and calls for one simulated day (``result``: SimResult or RunData)."""
    opts = options or TraceOptions()
    meta: dict[str, Any] = dict(result.meta)
    start_ms = int(meta["start_epoch_ms"])
    # Plain records by id: pandas row lookups would dominate the writer's time.
    tasks = {int(r.task_id): r for r in result.tasks.itertuples(index=False)}
    workers = result.workers.sort_values("worker_id")
    subs = result.submissions.sort_values(["sent_s", "submission_id"])
    events = result.events
    b = Builder()

    # -- setup: teams, then workers ------------------------------------------------------
    team_names = sorted({str(t) for t in workers["team"]})
    team_call = {}
    for i, name in enumerate(team_names):
        team_call[name] = b.add(
            0.0,
            ops.TEAM_CREATE,
            body={"name": name, "metadata": metadata("team", i)},
            defines=f"team:{i}",
        )
    team_idx = {name: i for i, name in enumerate(team_names)}
    worker_create: dict[int, int] = {}
    worker_last: dict[int, int] = {}
    for w in workers.itertuples(index=False):
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
            deps=[team_call[str(w.team)]],
            defines=f"worker:{wid}",
        )
        worker_create[wid] = worker_last[wid] = c

    # -- task creation in the scenario's submission mode ---------------------------------
    creator: dict[int, int] = {}  # task -> call after which its server id is known
    task_last: dict[int, int] = {}
    deferred: list[tuple[int, list[int]]] = []  # dependencies set after creation
    for s in subs.itertuples(index=False):
        ids = split_ids(s.task_ids)
        if not ids:
            continue
        bodies = []
        dep_calls: list[int] = []
        for tid in ids:
            row = tasks[tid]
            deps = split_ids(row.dependencies)
            known = [d for d in deps if d in creator]
            if len(known) < len(deps):
                deferred.append((tid, deps))
                known = []
            dep_calls.extend(creator[d] for d in known)
            bodies.append(_task_body(row, start_ms, [ref("task", d) for d in known]))
        sent = float(s.sent_s)
        mode = str(s.mode)
        if mode == "single":
            made = [
                b.add(
                    sent,
                    ops.TASK_CREATE,
                    body=bodies[0],
                    tasks=(ids[0],),
                    deps=dep_calls,
                    defines=f"task:{ids[0]}",
                )
            ]
            done = made[0]
        elif mode == "batch":
            done = b.add(
                sent,
                ops.TASK_BATCH,
                body=onfleet.batch_body(bodies),
                tasks=tuple(ids),
                deps=dep_calls,
            )
        elif mode == "batch-async":
            sub = b.add(
                sent,
                ops.TASK_BATCH_ASYNC,
                body=onfleet.batch_body(bodies),
                tasks=tuple(ids),
                deps=dep_calls,
                defines=f"job:{int(s.submission_id)}",
            )
            done = b.add(
                float(s.acked_s),
                ops.TASK_BATCH_STATUS,
                params={"jobId": ref("job", int(s.submission_id))},
                tasks=tuple(ids),
                deps=[sub],
                poll_s=opts.poll_s,
            )
        else:
            raise UserError(
                f"submissions: unknown mode {mode!r} in submission {int(s.submission_id)}"
            )
        for tid in ids:
            creator[tid] = task_last[tid] = done
    for tid, deps in deferred:
        have = [d for d in deps if d in creator]
        if tid not in creator or not have:
            continue
        c = b.add(
            0.0,
            ops.TASK_SET_DEPENDENCIES,
            params={"taskId": ref("task", tid)},
            body={"dependencies": [ref("task", d) for d in have]},
            tasks=(tid,),
            deps=[task_last[tid], *(creator[d] for d in have)],
        )
        task_last[tid] = c

    # -- the day: assignment, driver app, completion ------------------------------------
    completion: dict[int, int] = {}
    worker_task: dict[int, int] = {}
    # A worker has one active task: its next start waits for its last completion.  That
    # ordering joins families, so it is an ``after`` (kept within a process only).
    ht = "hypertrack" in opts.providers
    cols = ["time_s", "kind", "task_id", "worker_id", "lat", "lon", "detail"]
    for t, kind, tid, wid, lat, lon, detail in events[cols].itertuples(index=False):
        t, tid, wid = float(t), int(tid), int(wid)
        if kind == "workerDuty" and opts.driver_app and wid in worker_create:
            body = {"onDuty": str(detail) == "on"}
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
                    body=_ht_track(row, wid, start_ms),
                    tasks=(tid,),
                    worker=wid,
                    deps=[task_last[tid]],
                )
        elif kind == "taskArrival" and opts.driver_app and wid in worker_create:
            if not (math.isnan(lat) or math.isnan(lon)):
                worker_last[wid] = b.add(
                    t,
                    ops.DRIVER_MOVE,
                    params={"workerId": ref("worker", wid)},
                    body={"location": [float(lon), float(lat)]},
                    worker=wid,
                    deps=[worker_last[wid]],
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

    if "nash" in opts.providers:
        add_nash(b, subs, tasks)
    if "deftship" in opts.providers:
        add_deftship(b, subs, tasks)
    calls = finish(b)
    header = TraceHeader(
        scenario=str(meta.get("scenario", "")),
        seed=int(meta.get("seed", 0)),
        start_epoch_ms=start_ms,
        duration_s=float(meta.get("duration_s", max((c.at_s for c in calls), default=0.0))),
        providers=opts.providers,
        submission_mode=",".join(sorted({str(m) for m in subs["mode"]})) or "single",
        counts={
            "calls": len(calls),
            "tasks": len(creator),
            "workers": len(worker_create),
            "teams": len(team_names),
            "submissions": len(subs),
            "families": len({c.family for c in calls}),
        },
        scenario_hash=str(meta.get("scenario_hash", "")),
        poll_s=opts.poll_s,
    )
    return header, calls


#: Geofence radius (metres) of a traced HyperTrack order's destination.
HT_RADIUS_M = 50


def _ht_track(row: Any, wid: int, start_ms: int) -> dict[str, Any]:
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
    scenario: Scenario, providers: tuple[str, ...] = ("onfleet",), driver_app: bool = True
) -> TraceOptions:
    """The trace options a scenario implies (its submission poll interval)."""
    return TraceOptions(
        providers=providers, driver_app=driver_app, poll_s=scenario.submission.poll_s
    )


def run_options(
    run_dir: Path, providers: tuple[str, ...] = ("onfleet",), driver_app: bool = True
) -> TraceOptions:
    """The trace options of a run directory: from its ``scenario.toml`` (written with the
    run), so a rewrite gives the trace ``fleetsim simulate`` wrote; defaults without one."""
    path = Path(run_dir) / "scenario.toml"
    if not path.is_file():
        return TraceOptions(providers=providers, driver_app=driver_app)
    return scenario_options(load_scenario(path), providers, driver_app)


def write_trace(result: Any, path: Path, options: TraceOptions | None = None) -> None:
    """Write ``trace.jsonl`` for a simulated day (``result`` is a ``SimResult`` or ``RunData``).

    ``options`` picks the providers (Onfleet by default) and polling; see :class:`TraceOptions`.
    """
    header, calls = build_trace(result, options)
    dump_trace(header, calls, path)
