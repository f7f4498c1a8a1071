"""Fakes for the load-test suite: a tiny simulated day built by hand to the schema in
docs/CONTRACTS.md, so the trace writer is tested without running the simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

START_MS = 1_763_884_800_000


@dataclass
class FakeResult:
    """Stands in for ``sim.run.SimResult`` (same attribute names and frames)."""

    tasks: pd.DataFrame
    events: pd.DataFrame
    workers: pd.DataFrame
    submissions: pd.DataFrame
    kpis: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def make_day(mode: str = "single", orders: int = 3, fail_last: bool = True) -> FakeResult:
    """``orders`` orders, each a pickup then a dropoff, served by two workers."""
    nan = float("nan")
    tasks: list[dict[str, Any]] = []
    events: list[tuple[float, str, int, int, float, float, str]] = []
    for w in (0, 1):
        events.append((0.0, "workerDuty", -1, w, 37.77, -122.41, "on"))
    for o in range(orders):
        w = o % 2
        base = 10.0 + 30.0 * o
        for k, pickup in enumerate((True, False)):
            tid = 2 * o + k
            ok = not (fail_last and o == orders - 1 and not pickup)
            t_assign, t_start = base + 5 + 40 * k, base + 6 + 40 * k
            t_arrive, t_done = base + 20 + 40 * k, base + 25 + 40 * k
            tasks.append(
                {
                    "task_id": tid,
                    "order_id": o,
                    "family_id": o,
                    "is_pickup": pickup,
                    "lat": 37.77 + 0.001 * tid,
                    "lon": -122.41 - 0.001 * tid,
                    "quantity": 1.0,
                    "service_s": 120.0,
                    "complete_after_s": nan,
                    "complete_before_s": base + 3600.0 if not pickup else nan,
                    "dependencies": "" if pickup else str(tid - 1),
                    "ordered_s": base,
                    "created_s": base + 1,
                    "assigned_s": t_assign,
                    "started_s": t_start,
                    "arrived_s": t_arrive,
                    "completed_s": t_done,
                    "state": 3,
                    "success": ok,
                    "failure_reason": "NONE" if ok else "NO_ANSWER",
                    "worker_id": w,
                    "did_auto_assign": False,
                    "submission_id": -1,
                    "on_time": ok,
                }
            )
            events += [
                (t_assign, "taskAssigned", tid, w, nan, nan, ""),
                (t_start, "taskStarted", tid, w, 37.7, -122.4, ""),
                (t_arrive, "taskArrival", tid, w, 37.77 + 0.001 * tid, -122.41, ""),
                (
                    t_done,
                    "taskCompleted" if ok else "taskFailed",
                    tid,
                    w,
                    37.77,
                    -122.41,
                    "" if ok else "NO_ANSWER",
                ),
            ]
    for w in (0, 1):
        events.append((400.0, "workerDuty", -1, w, 37.77, -122.41, "off"))
    subs: list[dict[str, Any]] = []
    if mode == "single":
        for t in tasks:
            sid = len(subs)
            t["submission_id"] = sid
            subs.append(
                {
                    "submission_id": sid,
                    "mode": "single",
                    "sent_s": t["ordered_s"],
                    "acked_s": t["ordered_s"] + 0.1,
                    "available_s": t["ordered_s"] + 0.1,
                    "n_tasks": 1,
                    "task_ids": str(t["task_id"]),
                    "job_id": "",
                }
            )
    else:
        ids = [t["task_id"] for t in tasks]
        for t in tasks:
            t["submission_id"] = 0
        subs.append(
            {
                "submission_id": 0,
                "mode": mode,
                "sent_s": 5.0,
                "acked_s": 6.0,
                "available_s": 7.0,
                "n_tasks": len(ids),
                "task_ids": ";".join(map(str, ids)),
                "job_id": "job0" if mode == "batch-async" else "",
            }
        )
        # A batch goes out before any assignment happens.
    ev = pd.DataFrame(
        events, columns=["time_s", "kind", "task_id", "worker_id", "lat", "lon", "detail"]
    ).sort_values("time_s", kind="stable")
    workers = pd.DataFrame(
        {
            "worker_id": np.array([0, 1], dtype="int64"),
            "name": ["Ada", "Bo"],
            "phone": ["+14155550100", "+14155550101"],
            "team": ["Central", "Central"],
            "vehicle": ["BICYCLE", "CAR"],
            "capacity": [4.0, 8.0],
            "speed_mps": [4.0, 8.0],
            "shift_start_s": [0.0, 0.0],
            "shift_end_s": [400.0, 400.0],
            "start_lat": [37.77, 37.78],
            "start_lon": [-122.41, -122.42],
            "on_duty_s": [400.0, 400.0],
            "busy_s": [100.0, 100.0],
            "distance_m": [1.0, 1.0],
            "empty_distance_m": [0.0, 0.0],
            "tasks_completed": [3, 2],
            "tasks_failed": [0, 1],
        }
    )
    meta = {
        "scenario": "handmade",
        "scenario_hash": "sha256:x",
        "seed": 7,
        "version": "0.1.0",
        "start_epoch_ms": START_MS,
        "duration_s": 400.0,
    }
    return FakeResult(
        pd.DataFrame(tasks), ev.reset_index(drop=True), workers, pd.DataFrame(subs), {}, meta
    )
