"""The event log: typed records of every transition, duty change and submission.

Records are appended as plain tuples, one per event, and packed into typed arrays in
chunks, because a day of 100,000 tasks writes half a million of them and a dataclass per
event would cost more than the model itself; :meth:`EventLog.records` gives them back as frozen
:class:`Event` objects, and :meth:`EventLog.to_frame` turns them into pandas once, at the
end.  Kinds are named after the platform's webhook triggers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

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
#: Array types of the numeric fields of a row: time, kind, task, worker, lat, lon.
_DTYPES: Final = (np.float64, np.int64, np.int64, np.int64, np.float64, np.float64)


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
#: Rows kept as tuples before they are packed into arrays (bounds the log's memory).
CHUNK_ROWS: Final = 1 << 16


class EventLog:
    """Append-only events, in the order the simulation produced them.

    The hot path is a single ``list.append`` of a tuple per event (not one append per
    column); every :data:`CHUNK_ROWS` rows are packed into typed arrays (8 bytes a number
    instead of a boxed float in a tuple), which keeps a 500,000-event day's log at about
    a third of the memory.  :meth:`to_frame` joins the chunks once, at the end.
    """

    __slots__ = ("_chunks", "rows")

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._chunks: list[tuple[list[np.ndarray], list[str]]] = []

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
        rows = self.rows
        rows.append((time_s, kind, task, worker, lat, lon, detail))
        if len(rows) >= CHUNK_ROWS:
            self._pack()

    def _pack(self) -> None:
        rows, n = self.rows, len(self.rows)
        if n == 0:
            return
        numbers = [
            np.fromiter(map(itemgetter(i), rows), dtype=dtype, count=n)
            for i, dtype in enumerate(_DTYPES)
        ]
        self._chunks.append((numbers, list(map(itemgetter(6), rows))))
        self.rows = []

    def __len__(self) -> int:
        return sum(len(d) for _, d in self._chunks) + len(self.rows)

    def records(self) -> Iterator[Event]:
        for numbers, details in self._chunks:
            cols = [c.tolist() for c in numbers]
            for time_s, kind, task, worker, lat, lon, detail in zip(*cols, details, strict=True):
                yield Event(time_s, KINDS[kind], task, worker, lat, lon, detail)
        for time_s, kind, task, worker, lat, lon, detail in self.rows:
            yield Event(time_s, KINDS[kind], task, worker, lat, lon, detail)

    def to_frame(self) -> pd.DataFrame:
        self._pack()
        if len(self._chunks) != 1:
            # One chunk from here on.  Joined a column at a time, each column's pieces
            # popped as it is joined, so the peak is one column more, not the whole log.
            old, self._chunks = self._chunks, []
            numbers = [
                np.concatenate([c[0].pop(0) for c in old]) if old else np.zeros(0, dtype)
                for dtype in _DTYPES
            ]
            self._chunks = [(numbers, [d for _, ds in old for d in ds])]
        numbers, details = self._chunks[0]
        # Kinds decoded by Arrow from their codes: no Python string object per event.
        kinds = pa.DictionaryArray.from_arrays(
            pa.array(numbers[1], type=pa.int8()), pa.array(KINDS, type=pa.string())
        ).dictionary_decode()
        # No sort: the model logs at the clock's current time, so the rows are already in
        # time order (a property the tests check).  Fresh arrays, so the frame may share
        # them (no copy): the log's columns are never written again.
        return pd.DataFrame(
            {
                "time_s": numbers[0],
                "kind": pd.array(kinds, dtype="string"),
                "task_id": numbers[2],
                "worker_id": numbers[3],
                "lat": numbers[4],
                "lon": numbers[5],
                "detail": pd.array(details, dtype="string"),
            },
            copy=False,
        )
