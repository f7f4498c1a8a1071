"""Turning the model's entities into the run's tables, in their working form.

Built once, at the end of a run, column by column, each straight into its array.  The
working form (-1 for a missing id, ";"-joined id lists) is what the KPIs and the trace
writer consume; the files and ``read_run`` use the analyst form that
:func:`sim.table_schema.normalise` derives from it (docs/CONTRACTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sim.fleet import Worker
from sim.report.clock import local_hours
from sim.submission import PlannedCall
from sim.tasks import Task


def strings(values: list[str]) -> Any:
    """A pandas string column from Python strings, converted by Arrow in C (about half
    the cost of ``pd.array(values, dtype="string")``, the same column)."""
    return pd.array(pa.array(values, type=pa.string()), dtype="string")


def joined_ids(ids: Sequence[Sequence[int]]) -> Any:
    """A string column of ``";"``-joined ids per row ("" for none), the working form of
    id lists: the ids are formatted and joined by Arrow over one flat array instead of a
    Python ``str.join`` per row (a 200,000-call day spent a third of a second there)."""
    n = len(ids)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, ids), dtype=np.int64, count=n), out=offsets[1:])
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(offsets[-1]))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat).cast(pa.string()))
    return pd.array(pc.binary_join(lists, ";"), dtype="string")


def tasks_frame(
    tasks: Sequence[Task], start_epoch_ms: int = 0, zone: ZoneInfo | None = None
) -> pd.DataFrame:
    """The task table; ``created_hour`` is the hour of day (in ``zone``, UTC without one)
    each task was created, for on-time % by hour (-1 in this working form: never created)."""

    n = len(tasks)

    def col(name: str, dtype: type | str) -> np.ndarray:
        # Straight into a preallocated array: no intermediate list per column.
        return np.fromiter(map(attrgetter(name), tasks), dtype=dtype, count=n)

    created = col("created_s", np.float64)
    completed = col("completed_s", np.float64)
    before = col("complete_before_s", np.float64)
    success = col("success", np.bool_)
    with np.errstate(invalid="ignore"):
        in_window = np.isnan(before) | (completed <= before)
    return pd.DataFrame(
        {
            "task_id": col("id", np.int64),
            "order_id": col("order_id", np.int64),
            "family_id": col("family_id", np.int64),
            "is_pickup": col("is_pickup", np.bool_),
            "lat": col("lat", np.float64),
            "lon": col("lon", np.float64),
            "quantity": col("quantity", np.float64),
            "service_s": col("service_s", np.float64),
            "complete_after_s": col("complete_after_s", np.float64),
            "complete_before_s": before,
            "dependencies": joined_ids(list(map(attrgetter("dependencies"), tasks))),
            "ordered_s": col("ordered_s", np.float64),
            "created_s": created,
            "assigned_s": col("assigned_s", np.float64),
            "started_s": col("started_s", np.float64),
            "arrived_s": col("arrived_s", np.float64),
            "completed_s": completed,
            "cancelled_s": col("cancelled_s", np.float64),
            "state": col("state", np.int8),
            "success": success,
            "failure_reason": strings(list(map(attrgetter("failure_reason"), tasks))),
            "worker_id": col("worker", np.int64),
            "did_auto_assign": col("did_auto_assign", np.bool_),
            "submission_id": col("submission_id", np.int64),
            "on_time": success & in_window,
            "no_show": col("no_show", np.bool_),
            "created_hour": local_hours(start_epoch_ms, created, zone or ZoneInfo("UTC")),
        },
        copy=False,  # every column is a fresh array: no second copy into blocks
    )


def workers_frame(workers: Sequence[Worker]) -> pd.DataFrame:
    n = len(workers)

    def col(name: str, dtype: type) -> np.ndarray:
        return np.fromiter(map(attrgetter(name), workers), dtype=dtype, count=n)

    def text(name: str) -> Any:
        return strings(list(map(attrgetter(name), workers)))

    return pd.DataFrame(
        {
            "worker_id": col("id", np.int64),
            "name": text("name"),
            "phone": text("phone"),
            "team": text("team"),
            "vehicle": text("vehicle"),
            "capacity": col("capacity", np.float64),
            "speed_mps": col("speed_mps", np.float64),
            "shift_start_s": col("shift_start_s", np.float64),
            "shift_end_s": col("shift_end_s", np.float64),
            "start_lat": col("start_lat", np.float64),
            "start_lon": col("start_lon", np.float64),
            "on_duty_s": col("on_duty_s", np.float64),
            "busy_s": col("busy_s", np.float64),
            "distance_m": col("distance_m", np.float64),
            "empty_distance_m": col("empty_distance_m", np.float64),
            "tasks_completed": col("tasks_completed", np.int64),
            "tasks_failed": col("tasks_failed", np.int64),
            "break_s": col("break_s", np.float64),
            "return_distance_m": col("return_distance_m", np.float64),
            "return_s": col("return_s", np.float64),
            "travel_fallbacks": col("travel_fallbacks", np.int64),
        }
    )


def submissions_frame(calls: Sequence[PlannedCall]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "submission_id": np.array([c.submission_id for c in calls], dtype=np.int64),
            "mode": strings([c.mode for c in calls]),
            "sent_s": np.array([c.sent_s for c in calls], dtype=np.float64),
            "acked_s": np.array([c.acked_s for c in calls], dtype=np.float64),
            "available_s": np.array([c.available_s for c in calls], dtype=np.float64),
            "n_tasks": np.array([len(c.task_ids) for c in calls], dtype=np.int64),
            "task_ids": joined_ids([c.task_ids for c in calls]),
            "job_id": strings([c.job_id for c in calls]),
        }
    )
