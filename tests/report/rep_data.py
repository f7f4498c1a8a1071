"""Data for the report and sweep tests: a synthetic run that follows the table schemas of
docs/CONTRACTS.md exactly, and a load-test ``results.json`` in its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "scenarios" / "tiny.toml"


def synthetic_frames(n_tasks: int = 60, n_workers: int = 5, seed: int = 3) -> dict[str, Any]:
    """Small, self-consistent tables: tasks go created -> assigned -> started -> arrived ->
    completed (some fail, some stay open), each step logged in ``events``."""
    rng = np.random.default_rng(seed)
    lat0, lon0 = 52.52, 13.40
    ordered = np.sort(rng.uniform(0, 3600, n_tasks))
    created = ordered + rng.uniform(0, 30, n_tasks)
    assigned = created + rng.exponential(120, n_tasks)
    started = assigned + rng.uniform(0, 60, n_tasks)
    arrived = started + rng.uniform(200, 900, n_tasks)
    completed = arrived + rng.uniform(60, 240, n_tasks)
    open_ = rng.random(n_tasks) < 0.1
    failed = (~open_) & (rng.random(n_tasks) < 0.1)
    worker = rng.integers(0, n_workers, n_tasks)
    before = created + 1800.0
    lat = lat0 + rng.normal(0, 0.02, n_tasks)
    lon = lon0 + rng.normal(0, 0.03, n_tasks)
    state = np.where(open_, 2, 3).astype(np.int8)
    comp = np.where(open_, np.nan, completed)
    success = (~open_) & (~failed)
    tasks = pd.DataFrame(
        {
            "task_id": np.arange(n_tasks, dtype=np.int64),
            "order_id": np.arange(n_tasks, dtype=np.int64),
            "family_id": np.arange(n_tasks, dtype=np.int64),
            "is_pickup": rng.random(n_tasks) < 0.3,
            "lat": lat,
            "lon": lon,
            "quantity": np.ones(n_tasks),
            "service_s": rng.uniform(60, 240, n_tasks),
            "complete_after_s": np.full(n_tasks, np.nan),
            "complete_before_s": before,
            "dependencies": pd.array([""] * n_tasks, dtype="string"),
            "ordered_s": ordered,
            "created_s": created,
            "assigned_s": assigned,
            "started_s": started,
            "arrived_s": np.where(open_, np.nan, arrived),
            "completed_s": comp,
            "state": state,
            "success": success,
            "failure_reason": pd.array(np.where(failed, "NO_ANSWER", "NONE"), dtype="string"),
            "worker_id": worker.astype(np.int64),
            "did_auto_assign": np.ones(n_tasks, dtype=bool),
            "submission_id": np.arange(n_tasks, dtype=np.int64),
            "on_time": success & (completed <= before),
        }
    )
    ev: list[tuple[float, str, int, int, float, float, str]] = []
    starts = np.c_[lat0 + rng.normal(0, 0.02, n_workers), lon0 + rng.normal(0, 0.03, n_workers)]
    for w in range(n_workers):
        ev.append((0.0, "workerDuty", -1, w, starts[w, 0], starts[w, 1], "on"))
        ev.append((6000.0, "workerDuty", -1, w, starts[w, 0], starts[w, 1], "off"))
    nan = float("nan")
    for i in range(n_tasks):
        w = int(worker[i])
        ev.append((created[i], "taskCreated", i, -1, lat[i], lon[i], ""))
        ev.append((assigned[i], "taskAssigned", i, w, nan, nan, ""))
        ev.append((started[i], "taskStarted", i, w, starts[w, 0], starts[w, 1], ""))
        if not open_[i]:
            ev.append((arrived[i], "taskArrival", i, w, lat[i], lon[i], ""))
            kind = "taskFailed" if failed[i] else "taskCompleted"
            ev.append((completed[i], kind, i, w, lat[i], lon[i], ""))
    events = pd.DataFrame(
        ev, columns=["time_s", "kind", "task_id", "worker_id", "lat", "lon", "detail"]
    )
    events = events.sort_values("time_s", kind="stable").reset_index(drop=True)
    for c in ("kind", "detail"):
        events[c] = events[c].astype("string")
    busy = np.bincount(worker, weights=completed - started, minlength=n_workers)
    workers = pd.DataFrame(
        {
            "worker_id": np.arange(n_workers, dtype=np.int64),
            "name": pd.array([f"Worker {w:04d}" for w in range(n_workers)], dtype="string"),
            "phone": pd.array([f"+1555000{w:04d}" for w in range(n_workers)], dtype="string"),
            "team": pd.array(["default"] * n_workers, dtype="string"),
            "vehicle": pd.array(["CAR"] * n_workers, dtype="string"),
            "capacity": np.full(n_workers, 10.0),
            "speed_mps": np.full(n_workers, 8.3),
            "shift_start_s": np.zeros(n_workers),
            "shift_end_s": np.full(n_workers, 6000.0),
            "start_lat": starts[:, 0],
            "start_lon": starts[:, 1],
            "on_duty_s": np.full(n_workers, 6000.0),
            "busy_s": np.minimum(busy, 6000.0),
            "distance_m": rng.uniform(5e3, 3e4, n_workers),
            "empty_distance_m": rng.uniform(1e3, 5e3, n_workers),
            "tasks_completed": np.bincount(worker[success], minlength=n_workers).astype(np.int64),
            "tasks_failed": np.bincount(worker[failed], minlength=n_workers).astype(np.int64),
        }
    )
    submissions = pd.DataFrame(
        {
            "submission_id": np.arange(n_tasks, dtype=np.int64),
            "mode": pd.array(["single"] * n_tasks, dtype="string"),
            "sent_s": ordered,
            "acked_s": ordered + 0.2,
            "available_s": created,
            "n_tasks": np.ones(n_tasks, dtype=np.int64),
            "task_ids": pd.array([str(i) for i in range(n_tasks)], dtype="string"),
            "job_id": pd.array([""] * n_tasks, dtype="string"),
        }
    )
    kpis = {
        "tasks_created": n_tasks,
        "on_time_pct": 100.0 * float(tasks["on_time"].mean()),
        "utilisation_pct": 50.0,
        "workers": n_workers,
    }
    meta = {
        "scenario": "synthetic",
        "scenario_hash": "sha256:" + "0" * 64,
        "seed": seed,
        "version": "0.1.0",
        "start_epoch_ms": 1763884800000,
        "duration_s": 3600.0,
        "end_s": 6000.0,
    }
    return {
        "tasks": tasks,
        "events": events,
        "workers": workers,
        "submissions": submissions,
        "kpis": kpis,
        "meta": meta,
    }


def write_run_dir(path: Path, frames: dict[str, Any]) -> Path:
    """A run directory in the layout of ``sim.output.write_outputs`` (Parquet)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("tasks", "events", "workers", "submissions"):
        frames[name].to_parquet(path / f"{name}.parquet", index=False)
    doc = {**frames["meta"], "kpis": frames["kpis"]}
    (path / "kpis.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    (path / "scenario.toml").write_text('[scenario]\nname = "synthetic"\n# a <b>tag</b> & co\n')
    return path


RESULTS_JSON: dict[str, Any] = {
    "version": 1,
    "target": "http://127.0.0.1:8080",
    "valid": True,
    "invalid_reasons": [],
    "speedup": 60.0,
    "duration_s": 42.0,
    "calls": {"planned": 120, "sent": 120, "ok": 118, "failed": 2},
    "endpoints": [
        {
            "name": "POST /api/v2/tasks/batch",
            "count": 20,
            "errors": 0,
            "rps": 0.5,
            "p50_ms": 35.0,
            "p95_ms": 80.0,
            "p99_ms": 120.0,
            "max_ms": 150.0,
            "p50_corrected_ms": 36.0,
            "p99_corrected_ms": 125.0,
        },
        {
            "name": "<script>alert('x')</script>",
            "count": 100,
            "errors": 2,
            "rps": 2.4,
            "p50_ms": 12.0,
            "p95_ms": 30.0,
            "p99_ms": 55.0,
            "max_ms": 70.0,
            "p50_corrected_ms": 12.5,
            "p99_corrected_ms": 60.0,
        },
    ],
    "flows": [
        {
            "name": "onfleet.batch",
            "count": 20,
            "p50_s": 1.2,
            "p95_s": 3.4,
            "p99_s": 4.0,
            "max_s": 4.4,
            "polls_per_job": 2.5,
            "tasks_created": 400,
            "tasks_errored": 0,
        }
    ],
    "schedule_lag_ms": {"p50": 1.5, "p99": 12.0, "max": 20.0},
    "throughput": [
        {"t_s": t, "rps": 2.0 + (t % 5) * 0.3, "errors_per_s": 0.1 * (t % 3 == 0)}
        for t in range(42)
    ],
    "reconciliation": {"expected": 500, "created": 498, "missing": 2, "duplicated": 0},
    "thresholds": [
        {
            "scope": "POST /api/v2/tasks",
            "metric": "p99_ms",
            "limit": 250.0,
            "actual": 55.0,
            "passed": True,
        },
        {
            "scope": "POST /api/v2/tasks/batch",
            "metric": "p99_ms",
            "limit": 100.0,
            "actual": 120.0,
            "passed": False,
        },
    ],
}
