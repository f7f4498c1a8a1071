"""The event log: typed records of every transition, duty change and submission.

Records are appended as plain tuples, one per event, because a day of 100,000 tasks
writes half a million of them and a dataclass per event would cost more than the model
itself; :meth:`EventLog.records` gives them back as frozen
:class:`Event` objects, and :meth:`EventLog.to_frame` turns them into pandas once, at the
end.  Kinds are named after the platform's webhook triggers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

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


Row = tuple[float, int, int, int, float, float, str]
_COLUMNS: Final = ("time", "kind", "task", "worker", "lat", "lon", "detail")


class EventLog:
    """Append-only rows of events, in the order the simulation produced them.

    One tuple per event (a single ``list.append`` on the hot path, instead of one append
    per column); the columns are cut out once, in :meth:`to_frame`.
    """

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[Row] = []

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
        self.rows.append((time_s, kind, task, worker, lat, lon, detail))

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        """One column as a list (``time``, ``kind``, ``task``, ``worker``, ``lat``, ``lon``
        or ``detail``)."""
        return list(map(itemgetter(_COLUMNS.index(name)), self.rows))

    def records(self) -> Iterator[Event]:
        for time_s, kind, task, worker, lat, lon, detail in self.rows:
            yield Event(time_s, KINDS[kind], task, worker, lat, lon, detail)

    def to_frame(self) -> pd.DataFrame:
        rows, n = self.rows, len(self.rows)

        def num(i: int, dtype: type) -> np.ndarray:
            return np.fromiter(map(itemgetter(i), rows), dtype=dtype, count=n)

        kinds = np.array(KINDS, dtype=object)[num(1, np.int64)]
        # No sort: the model logs at the clock's current time, so the rows are already in
        # time order (a property the tests check).
        return pd.DataFrame(
            {
                "time_s": num(0, np.float64),
                "kind": pd.array(kinds, dtype="string"),
                "task_id": num(2, np.int64),
                "worker_id": num(3, np.int64),
                "lat": num(4, np.float64),
                "lon": num(5, np.float64),
                "detail": pd.array(list(map(itemgetter(6), rows)), dtype="string"),
            }
        )
