"""The event log: rows packed into arrays in chunks come back whole and in order."""

import math

import numpy as np
import pandas as pd

from sim import events as ev
from sim.events import CHUNK_ROWS, KINDS, EventLog


def _fill(log: EventLog, n: int) -> None:
    for i in range(n):
        detail = "on" if i % 3 == 0 else ""
        log.add(float(i) / 2, i % len(KINDS), i, i % 7, 40.0 + i * 1e-6, -73.0, detail)


def test_empty_log_gives_typed_empty_frame() -> None:
    f = EventLog().to_frame()
    assert len(f) == 0
    assert list(f.columns) == ["time_s", "kind", "task_id", "worker_id", "lat", "lon", "detail"]
    assert f["time_s"].dtype == np.float64 and f["task_id"].dtype == np.int64
    assert f["kind"].dtype == pd.StringDtype()


def test_rows_across_chunks_round_trip() -> None:
    n = 2 * CHUNK_ROWS + 123  # two packed chunks and a tail of tuples
    log = EventLog()
    _fill(log, n)
    assert len(log) == n
    f = log.to_frame()
    assert len(f) == n
    i = np.arange(n)
    assert np.array_equal(f["time_s"].to_numpy(), i / 2)
    assert np.array_equal(f["task_id"].to_numpy(), i)
    assert np.array_equal(f["worker_id"].to_numpy(), i % 7)
    assert list(f["kind"].iloc[[0, 1, CHUNK_ROWS, n - 1]]) == [
        KINDS[0],
        KINDS[1],
        KINDS[CHUNK_ROWS % len(KINDS)],
        KINDS[(n - 1) % len(KINDS)],
    ]
    assert f["detail"].iloc[CHUNK_ROWS * 2 + 1] == ("on" if (CHUNK_ROWS * 2 + 1) % 3 == 0 else "")
    # Calling again (and adding more afterwards) gives the same rows, then the new ones.
    assert log.to_frame().equals(f)
    log.add(1e9, ev.TASK_DELETED, 5)
    g = log.to_frame()
    assert len(g) == n + 1 and g["kind"].iloc[-1] == "taskDeleted"
    assert g["worker_id"].iloc[-1] == -1 and math.isnan(g["lat"].iloc[-1])
    assert g.iloc[:n].equals(f)


def test_records_match_the_frame() -> None:
    log = EventLog()
    _fill(log, CHUNK_ROWS + 10)
    recs = list(log.records())
    f = log.to_frame()
    assert len(recs) == len(f)
    for k in (0, CHUNK_ROWS - 1, CHUNK_ROWS, CHUNK_ROWS + 9):
        r = recs[k]
        assert (r.time_s, r.kind, r.task_id, r.worker_id, r.lat, r.lon, r.detail) == tuple(
            f.iloc[k]
        )
