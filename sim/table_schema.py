"""The analyst layout of a run's tables: one declaration per column, and the conversion.

The simulator builds its tables in a *working* form (``sim.tables``, ``EventLog.to_frame``):
``-1`` for a missing id, ``""`` for missing text, ``;``-joined id lists, plain strings.  The
files and :func:`sim.output.read_run` use the *analyst* form declared here (docs/
CONTRACTS.md): real nulls, ``list<int64>`` id lists, dictionary-encoded categories, and a
timezone-aware UTC timestamp ``<name>_at`` beside every ``<name>_s`` clock time.

:data:`LAYOUT` is the single declaration; the Parquet schema (:func:`arrow_schema`), the
Frictionless field descriptors (:mod:`sim.table_csv`) and :func:`normalise` are derived
from it.  :func:`normalise` accepts either form (or the analyst form read back from a
file) and returns the analyst form, so reading the previous file layout is the same code
as writing the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sim.events import KINDS

#: Bumped when the file layout changes; stored in each Parquet file's ``fleetsim`` metadata.
LAYOUT_VERSION: Final = 2
#: The Parquet file-metadata key holding the run's identity (JSON).
META_KEY: Final = b"fleetsim"
#: Precision of the ``*_at`` timestamps (the platform's clocks are epoch milliseconds).
TIMESTAMP_UNIT: Final = "ms"
TIMESTAMP_DTYPE: Final = pd.DatetimeTZDtype(unit=TIMESTAMP_UNIT, tz="UTC")

STATE_NAMES: Final = ("unassigned", "assigned", "active", "completed")
VEHICLES: Final = ("CAR", "BICYCLE", "MOTORCYCLE", "TRUCK")
MODES: Final = ("single", "batch", "batch-async")


class Kind(Enum):
    """How a column is stored; each kind maps to one Arrow type and one Frictionless type."""

    INT = "int"  # int64, never missing
    INT8 = "int8"  # small code (task state)
    ID = "id"  # int64 id, null when missing (working form: -1)
    BOOL = "bool"
    FLOAT = "float"  # float64, null when missing (working form: NaN)
    TIME = "time"  # float seconds from the origin + a ``*_at`` UTC timestamp beside it
    TEXT = "text"  # string, null when missing (working form: "")
    PHONE = "phone"  # E.164 text, never a number
    CATEGORY = "category"  # dictionary-encoded string
    ID_LIST = "id_list"  # list<int64> (working form: ";"-joined)


@dataclass(frozen=True, slots=True)
class Column:
    """One declared column; ``categories`` are the known values of a CATEGORY column
    (values outside them are kept, added after them in sorted order)."""

    name: str
    kind: Kind
    description: str
    categories: tuple[str, ...] = ()


def _c(name: str, kind: Kind, description: str, categories: Sequence[str] = ()) -> Column:
    return Column(name, kind, description, tuple(categories))


INT, I8, ID, B, F, T = Kind.INT, Kind.INT8, Kind.ID, Kind.BOOL, Kind.FLOAT, Kind.TIME

#: The analyst layout, table by table, in file column order (``*_at`` columns are added
#: right after their ``*_s`` column and are not listed).
LAYOUT: Final[dict[str, tuple[Column, ...]]] = {
    "tasks": (
        _c("task_id", INT, "0.. in creation order of the orders"),
        _c("order_id", INT, "the merchant order the task belongs to"),
        _c("family_id", INT, "dependency family (an order's pickups and dropoffs)"),
        _c("is_pickup", B, "pickup task (else dropoff)"),
        _c("lat", F, "destination latitude, degrees"),
        _c("lon", F, "destination longitude, degrees"),
        _c("quantity", F, "units carried (against vehicle capacity)"),
        _c("service_s", F, "service time at the destination, seconds"),
        _c("complete_after_s", T, "time window start (null = none)"),
        _c("complete_before_s", T, "time window end (null = none)"),
        _c("dependencies", Kind.ID_LIST, "task ids that must complete first"),
        _c("ordered_s", T, "when the merchant's order arrived"),
        _c("created_s", T, "when the platform created the task"),
        _c("assigned_s", T, "first assignment"),
        _c("started_s", T, "start (state 2)"),
        _c("arrived_s", T, "arrival at the destination"),
        _c("completed_s", T, "completion (success or failure)"),
        _c("cancelled_s", T, "deleted by the merchant's cancellation (null: not cancelled)"),
        _c("state", I8, "0 unassigned, 1 assigned, 2 active, 3 completed"),
        _c("state_name", Kind.CATEGORY, "the state's name", STATE_NAMES),
        _c("success", B, "completed successfully"),
        _c("failure_reason", Kind.CATEGORY, 'Onfleet failureReason, "NONE" unless failed'),
        _c("worker_id", ID, "last worker (null: never assigned)"),
        _c("did_auto_assign", B, "autoAssign outcome at creation"),
        _c("submission_id", ID, "the API call that created it"),
        _c("on_time", B, "completed successfully by complete_before_s (true without window)"),
        _c("no_show", B, "failed because the recipient was absent (failures.no_show_*)"),
        _c(
            "created_hour",
            ID,
            "hour of day (0-23, the scenario's time zone) it was created (null: never)",
        ),
    ),
    "events": (
        _c("time_s", T, "when it happened"),
        _c("kind", Kind.CATEGORY, "event kind, named after the Onfleet webhook trigger", KINDS),
        _c("task_id", ID, "the task (null for worker and batch events)"),
        _c("worker_id", ID, "the worker (null when none)"),
        _c("lat", F, "position, degrees (null when none)"),
        _c("lon", F, "position, degrees (null when none)"),
        _c("detail", Kind.TEXT, "on/off for workerDuty, the reason for taskFailed, …"),
    ),
    "workers": (
        _c("worker_id", INT, "0.. worker id"),
        _c("name", Kind.TEXT, "display name"),
        _c("phone", Kind.PHONE, "E.164 phone number"),
        _c("team", Kind.CATEGORY, "team name"),
        _c("vehicle", Kind.CATEGORY, "vehicle type", VEHICLES),
        _c("capacity", F, "vehicle capacity, units"),
        _c("speed_mps", F, "travel speed, m/s"),
        _c("shift_start_s", T, "shift start"),
        _c("shift_end_s", T, "shift end"),
        _c("start_lat", F, "start position latitude, degrees"),
        _c("start_lon", F, "start position longitude, degrees"),
        _c("on_duty_s", F, "time on duty, seconds"),
        _c("busy_s", F, "time with an active task, seconds"),
        _c("distance_m", F, "distance driven, metres"),
        _c("empty_distance_m", F, "distance driven without a load, metres"),
        _c("tasks_completed", INT, "tasks completed successfully"),
        _c("tasks_failed", INT, "tasks failed"),
        _c("break_s", F, "scheduled breaks taken, seconds"),
        _c("return_distance_m", F, "drive back to the end hub, metres"),
        _c("return_s", F, "drive back to the end hub, seconds"),
        _c("travel_fallbacks", INT, "legs the matrix or routing engine lacked (geodesic)"),
    ),
    "submissions": (
        _c("submission_id", INT, "0.. one per API call the merchant made"),
        _c("mode", Kind.CATEGORY, "single, batch or batch-async", MODES),
        _c("sent_s", T, "request sent"),
        _c("acked_s", T, "response received"),
        _c("available_s", T, "tasks exist for dispatch (async: the job's end)"),
        _c("n_tasks", INT, "tasks in the call"),
        _c("task_ids", Kind.ID_LIST, "the tasks the call created"),
        _c("job_id", Kind.TEXT, "async batch job id (null unless batch-async)"),
    ),
}


def at_name(time_column: str) -> str:
    """The timestamp column beside a ``*_s`` time column: ``created_s`` -> ``created_at``."""
    return time_column.removesuffix("_s") + "_at"


def column_names(table: str) -> list[str]:
    """Every column of ``table`` in file order, ``*_at`` columns included."""
    out: list[str] = []
    for c in LAYOUT[table]:
        out.append(c.name)
        if c.kind is Kind.TIME:
            out.append(at_name(c.name))
    return out


_ARROW: Final[dict[Kind, pa.DataType]] = {
    Kind.INT: pa.int64(),
    Kind.INT8: pa.int8(),
    Kind.ID: pa.int64(),
    Kind.BOOL: pa.bool_(),
    Kind.FLOAT: pa.float64(),
    Kind.TIME: pa.float64(),
    Kind.TEXT: pa.string(),
    Kind.PHONE: pa.string(),
    Kind.CATEGORY: pa.dictionary(pa.int32(), pa.string()),
    Kind.ID_LIST: pa.list_(pa.int64()),
}
TIMESTAMP_ARROW: Final = pa.timestamp(TIMESTAMP_UNIT, tz="UTC")
_NEVER_NULL: Final = frozenset({Kind.INT, Kind.INT8, Kind.BOOL, Kind.ID_LIST})


def arrow_schema(table: str) -> pa.Schema:
    """The Parquet schema of ``table``; each field carries its description."""
    fields: list[pa.Field] = []
    for c in LAYOUT[table]:
        meta = {b"description": c.description.encode()}
        fields.append(pa.field(c.name, _ARROW[c.kind], c.kind not in _NEVER_NULL, meta))
        if c.kind is Kind.TIME:
            at_meta = {b"description": f"{c.name} as a UTC timestamp".encode()}
            fields.append(pa.field(at_name(c.name), TIMESTAMP_ARROW, True, at_meta))
    return pa.schema(fields)


def dictionary_columns(table: str) -> list[str]:
    """Columns Parquet should dictionary-encode: categories and short texts.  Trying it on
    every column (pyarrow's default) doubled the write time, spent on floats and
    timestamps whose dictionaries overflow and fall back to plain encoding anyway."""
    return [c.name for c in LAYOUT[table] if c.kind in (Kind.CATEGORY, Kind.TEXT)]


# --- conversion to the analyst form ----------------------------------------------------


def _ids(s: pd.Series) -> Any:
    """Nullable int64: -1 (working form), NaN (a float read) or null become ``<NA>``."""
    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(v) | (v < 0)
    return pd.arrays.IntegerArray(np.where(missing, 0, v).astype(np.int64), missing)


def _floats(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def timestamps(seconds: np.ndarray, origin_ms: int) -> Any:
    """``origin_ms`` + ``seconds`` as UTC timestamps (ms), NaN -> ``NaT``."""
    missing = np.isnan(seconds)
    ms = np.round(np.where(missing, 0.0, seconds) * 1000.0).astype(np.int64) + origin_ms
    values = ms.astype(f"datetime64[{TIMESTAMP_UNIT}]")
    values[missing] = np.datetime64("NaT")
    return pd.DatetimeIndex(values).tz_localize("UTC").array


#: The pandas dtype of an id-list column: elements read back as Python lists.
ID_LIST_DTYPE: Final = pd.ArrowDtype(pa.list_(pa.int64()))


def _strings(values: Any) -> pa.Array:
    """A text column as one Arrow string array (pandas may hold it in several chunks)."""
    arr = pa.array(values, type=pa.string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def joined_ids(text: Any, sep: str = ";") -> pa.ListArray:
    """``sep``-joined id strings ("" for none) as one list array, without a loop per row."""
    arr = _strings(text).fill_null("")
    n_sep = pc.count_substring(arr, sep).to_numpy(zero_copy_only=False)
    empty = pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    lengths = np.where(empty, 0, n_sep + 1)
    offsets = np.zeros(len(arr) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    joined = sep.join(s for s in arr.to_pylist() if s)
    values = np.array(joined.split(sep), dtype=np.int64) if joined else np.zeros(0, np.int64)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def _id_lists(s: pd.Series) -> Any:
    if isinstance(s.dtype, pd.ArrowDtype) and s.dtype.pyarrow_dtype == ID_LIST_DTYPE.pyarrow_dtype:
        return s.array
    first = next((v for v in s if v is not None and v is not pd.NA), None)
    if first is None or isinstance(first, str):
        lists = joined_ids(s.array)
    else:  # lists or arrays (a Parquet list read by pandas)
        lists = pa.array(list(s), type=pa.list_(pa.int64()), from_pandas=True)
        lists = lists.fill_null(pa.scalar([], type=pa.list_(pa.int64())))
    return pd.arrays.ArrowExtensionArray(lists)


def _category(s: pd.Series, known: tuple[str, ...]) -> Any:
    """Dictionary-encoded in C; known categories first (stable codes across runs), then
    anything else the column holds, sorted, so no value is lost."""
    if isinstance(s.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(s.cat.categories):
        # Read back from a file: only the order of the categories may need fixing.
        cats = [str(c) for c in s.cat.categories]
        canon = [*known, *sorted(c for c in cats if c not in known)]
        if cats == canon:
            return s.array
        return s.cat.set_categories(canon).array
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype("string")
    encoded = _strings(s.array).dictionary_encode()
    present = [str(v) for v in encoded.dictionary.to_pylist()]
    categories = [*known, *sorted(v for v in present if v not in known)]
    where = {c: i for i, c in enumerate(categories)}
    remap = np.array([where[v] for v in present] or [0], dtype=np.int32)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    nulls = np.asarray(encoded.indices.is_null().to_numpy(zero_copy_only=False))
    codes = np.where(nulls, -1, remap[np.where(nulls, 0, indices).astype(np.int64)])
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories))


def _text(s: pd.Series, empty_is_null: bool) -> Any:
    out = s.astype("string")
    if empty_is_null:
        out = out.mask(out == "", pd.NA)
    return out.array


def normalise(table: str, frame: pd.DataFrame, origin_ms: int) -> pd.DataFrame:
    """``frame`` (working form, previous file layout, or analyst form) in the analyst form.

    Declared columns come in file order with their analyst dtypes; ``state_name`` and the
    ``*_at`` timestamps are derived when absent (from ``state`` and ``origin_ms``).  A
    declared column the frame lacks stays absent; undeclared columns are kept at the end.
    """
    n = len(frame)
    out: dict[str, Any] = {}
    for c in LAYOUT[table]:
        if c.name == "state_name" and c.name not in frame and "state" in frame:
            codes = frame["state"].to_numpy(dtype=np.int64)
            names = np.array(STATE_NAMES, dtype=object)[np.clip(codes, 0, 3)]
            out[c.name] = pd.Categorical(names, categories=STATE_NAMES)
            continue
        if c.name not in frame:
            continue
        s = frame[c.name]
        if c.kind is Kind.INT:
            out[c.name] = s.to_numpy(dtype=np.int64)
        elif c.kind is Kind.INT8:
            out[c.name] = s.to_numpy(dtype=np.int8)
        elif c.kind is Kind.ID:
            out[c.name] = _ids(s)
        elif c.kind is Kind.BOOL:
            out[c.name] = s.to_numpy(dtype=np.bool_)
        elif c.kind is Kind.FLOAT:
            out[c.name] = _floats(s)
        elif c.kind is Kind.TIME:
            seconds = _floats(s)
            out[c.name] = seconds
            at = at_name(c.name)
            if at in frame and isinstance(frame[at].dtype, pd.DatetimeTZDtype):
                out[at] = frame[at].astype(TIMESTAMP_DTYPE).array
            else:
                out[at] = timestamps(seconds, origin_ms)
        elif c.kind is Kind.TEXT or c.kind is Kind.PHONE:
            out[c.name] = _text(s, empty_is_null=True)
        elif c.kind is Kind.CATEGORY:
            out[c.name] = _category(s, c.categories)
        else:  # ID_LIST
            out[c.name] = _id_lists(s)
    declared = set(column_names(table))
    for name in frame.columns:
        if name not in declared:
            out[name] = frame[name].array
    return pd.DataFrame(out, index=pd.RangeIndex(n))
