"""The event log: typed records of every transition, duty change and submission.

Records are appended to preallocated-style columns (plain lists) because a day of
100,000 tasks writes half a million of them and a dataclass per event would cost more
than the model itself; :meth:`EventLog.records` gives them back as frozen
:class:`Event` objects, and :meth:`EventLog.to_frame` turns them into pandas once, at the
end.  Kinds are named after the platform's webhook triggers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

KINDS: Final = (
    "taskCreated",
    "taskAssigned",
    "taskUnassigned",
    "taskStarted",
    "taskArrival",
    "taskCompleted",
    "taskFailed",
    "workerDuty",
    "batchSubmitted",
    "taskDeleted",
)
(
    TASK_CREATED,
    TASK_ASSIGNED,
    TASK_UNASSIGNED,
    TASK_STARTED,
    TASK_ARRIVAL,
    TASK_COMPLETED,
    TASK_FAILED,
    WORKER_DUTY,
    BATCH_SUBMITTED,
    TASK_DELETED,
) = range(len(KINDS))

_NAN = math.nan


@dataclass(frozen=True, slots=True)
class Event:
    """One logged event; ``task_id``/``worker_id`` are -1 and lat/lon NaN when absent."""

    time_s: float
    kind: str
    task_id: int
    worker_id: int
    lat: float
    lon: float
    detail: str


class EventLog:
    """Append-only columns of events, in the order the simulation produced them."""

    __slots__ = ("detail", "kind", "lat", "lon", "task", "time", "worker")

    def __init__(self) -> None:
        self.time: list[float] = []
        self.kind: list[int] = []
        self.task: list[int] = []
        self.worker: list[int] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.detail: list[str] = []

    def add(
        self,
        time_s: float,
        kind: int,
        task: int = -1,
        worker: int = -1,
        lat: float = _NAN,
        lon: float = _NAN,
        detail: str = "",
    ) -> None:
        self.time.append(time_s)
        self.kind.append(kind)
        self.task.append(task)
        self.worker.append(worker)
        self.lat.append(lat)
        self.lon.append(lon)
        self.detail.append(detail)

    def __len__(self) -> int:
        return len(self.time)

    def records(self) -> Iterator[Event]:
        for i in range(len(self.time)):
            yield Event(
                self.time[i],
                KINDS[self.kind[i]],
                self.task[i],
                self.worker[i],
                self.lat[i],
                self.lon[i],
                self.detail[i],
            )

    def to_frame(self) -> pd.DataFrame:
        kinds = np.array(KINDS, dtype=object)[np.asarray(self.kind, dtype=np.int64)]
        # No sort: the model logs at the clock's current time, so the columns are already
        # in time order (a property the tests check).
        return pd.DataFrame(
            {
                "time_s": np.asarray(self.time, dtype=np.float64),
                "kind": pd.array(kinds, dtype="string"),
                "task_id": np.asarray(self.task, dtype=np.int64),
                "worker_id": np.asarray(self.worker, dtype=np.int64),
                "lat": np.asarray(self.lat, dtype=np.float64),
                "lon": np.asarray(self.lon, dtype=np.float64),
                "detail": pd.array(self.detail, dtype="string"),
            }
        )
