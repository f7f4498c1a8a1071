"""The event log: typed records of every transition, duty change and submission.

Records are appended to plain lists, one per field, and packed into typed arrays in
chunks, because a day of 100,000 tasks writes half a million of them and a dataclass per
event would cost more than the model itself; :meth:`EventLog.records` gives them back as frozen
:class:`Event` objects, and :meth:`EventLog.to_frame` turns them into pandas once, at the
end.  Kinds are named after the platform's webhook triggers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
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


#: Rows kept in plain lists before they are packed into arrays (bounds the log's memory).
CHUNK_ROWS: Final = 1 << 16


class EventLog:
    """Append-only events, in the order the simulation produced them.

    The hot path appends to one plain list per field (measured cheaper than building a
    tuple per event); every :data:`CHUNK_ROWS` rows are packed into typed arrays (8 bytes
    a number instead of a boxed float), which keeps a 500,000-event day's log small.
    :meth:`to_frame` joins the chunks once, at the end.
    """

    __slots__ = ("_chunks", "_names", "detail", "kind", "lat", "lon", "task", "time", "worker")

    def __init__(self) -> None:
        # Packed chunks: the numeric columns, and each detail as a code into ``_names``
        # (a day has a handful of distinct details and a million events: codes are
        # smaller than a list of string pointers and turn into Arrow strings in C).
        self._chunks: list[tuple[list[np.ndarray], npt.NDArray[np.int32]]] = []
        self._names: dict[str, int] = {}
        self._fresh()

    def _fresh(self) -> None:
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
        times = self.time
        times.append(time_s)
        self.kind.append(kind)
        self.task.append(task)
        self.worker.append(worker)
        self.lat.append(lat)
        self.lon.append(lon)
        self.detail.append(detail)
        if len(times) >= CHUNK_ROWS:
            self._pack()

    def _pack(self) -> None:
        if not self.time:
            return
        fields = (self.time, self.kind, self.task, self.worker, self.lat, self.lon)
        numbers = [np.array(f, dtype=t) for f, t in zip(fields, _DTYPES, strict=True)]
        # Factorised in C, then the chunk's few distinct details mapped to the log's codes.
        codes, uniques = pd.factorize(np.asarray(self.detail, dtype=object))
        names = self._names
        to_log = np.array([names.setdefault(str(u), len(names)) for u in uniques], dtype=np.int32)
        self._chunks.append((numbers, to_log[codes]))
        self._fresh()

    def __len__(self) -> int:
        return sum(len(d) for _, d in self._chunks) + len(self.time)

    def records(self) -> Iterator[Event]:
        self._pack()
        names = list(self._names)
        for numbers, codes in self._chunks:
            cols = [c.tolist() for c in numbers]
            details = [names[c] for c in codes.tolist()]
            for time_s, kind, task, worker, lat, lon, detail in zip(*cols, details, strict=True):
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
            codes = np.concatenate([c for _, c in old]) if old else np.zeros(0, np.int32)
            self._chunks = [(numbers, codes)]
        numbers, codes = self._chunks[0]
        # Kinds decoded by Arrow from their codes: no Python string object per event.
        kinds = pa.DictionaryArray.from_arrays(
            pa.array(numbers[1], type=pa.int8()), pa.array(KINDS, type=pa.string())
        ).dictionary_decode()
        details = pa.DictionaryArray.from_arrays(
            pa.array(codes, type=pa.int32()), pa.array(list(self._names), type=pa.string())
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
