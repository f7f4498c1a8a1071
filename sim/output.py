"""Run directories: writing a run's tables and KPIs, and reading them back.

A run directory holds ``tasks``, ``events``, ``workers`` and ``submissions`` (Parquet, or
CSV with ``fmt="csv"`` and a Frictionless ``datapackage.json``), ``kpis.json`` (the KPIs
plus scenario, hash, seed and version) and ``scenario.toml`` (the effective scenario).
Writing is atomic: everything goes into a temporary sibling directory that replaces the
target only when complete, so a failed run never leaves a directory that looks finished.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import UserError
from sim.kpis import Kpis
from sim.run import SimResult
from sim.run_meta import RunMeta
from sim.scenario_io import dump_scenario_toml
from sim.table_csv import (
    DATAPACKAGE,
    datapackage,
    read_csv_table,
    read_datapackage,
    resource,
    write_csv_table,
)
from sim.table_schema import (
    ID_LIST_DTYPE,
    LAYOUT_VERSION,
    META_KEY,
    arrow_schema,
    dictionary_columns,
    normalise,
)

Format = Literal["parquet", "csv"]
TABLES = ("tasks", "events", "workers", "submissions")
#: Text columns of the previous CSV layout (no datapackage.json): read as text, "" kept.
_OLD_TEXT_COLUMNS = {
    "tasks": ("dependencies", "failure_reason"),
    "events": ("kind", "detail"),
    "workers": ("name", "phone", "team", "vehicle"),
    "submissions": ("mode", "task_ids", "job_id"),
}


def kpis_document(result: SimResult) -> dict[str, Any]:
    """The ``kpis.json`` document: the run's meta, then its KPIs."""
    return {**result.meta.to_json(), "kpis": result.kpis}


def table_meta(meta: RunMeta, table: str | None = None) -> dict[str, Any]:
    """The run's identity as stored in each Parquet file's ``fleetsim`` metadata key (and
    ``datapackage.json``): the layout version, the table, then ``kpis.json``'s keys plus
    the origin as ISO 8601 (``start_iso``)."""
    head: dict[str, Any] = {"layout": LAYOUT_VERSION}
    if table is not None:
        head["table"] = table
    start = datetime.fromtimestamp(meta.start_epoch_ms / 1000.0, tz=UTC)
    iso = start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {**head, **meta.to_json(), "start_iso": iso}


def arrow_table(name: str, frame: pd.DataFrame, meta: RunMeta) -> pa.Table:
    """An analyst-form ``frame`` as an Arrow table with the declared types and metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    declared = {f.name: f for f in arrow_schema(name)}
    fields = [declared.get(f.name, f) for f in table.schema]
    metadata = dict(table.schema.metadata or {})
    metadata[b"pandas"] = _plain_list_dtypes(metadata.get(b"pandas"))
    metadata[META_KEY] = orjson.dumps(table_meta(meta, name))
    return table.cast(pa.schema(fields, metadata=metadata))


def _plain_list_dtypes(pandas_meta: bytes | None) -> bytes:
    """pandas cannot read back its own name for an Arrow list dtype
    (``list<item: int64>[pyarrow]``), so the metadata names lists the way pandas does for
    an object column of lists; ``pd.read_parquet`` then reads the file directly."""
    doc = orjson.loads(pandas_meta or b"{}")
    for col in doc.get("columns", []):
        if str(col.get("numpy_type", "")).startswith("list<"):
            col["numpy_type"] = "object"
    return orjson.dumps(doc)


def write_outputs(
    result: SimResult,
    out_dir: Path,
    fmt: Format = "parquet",
    extra: Sequence[Callable[[Path], None]] = (),
) -> Path:
    """Write the run into ``out_dir`` atomically; ``extra`` writers add files to it.

    The tables go out in the analyst layout (:mod:`sim.table_schema`); CSV gets a
    ``datapackage.json`` with every column's type beside it (:mod:`sim.table_csv`).
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    origin = result.meta.start_epoch_ms
    try:
        resources = []
        for name in TABLES:
            frame = normalise(name, getattr(result, name), origin)
            if fmt == "parquet":
                pq.write_table(
                    arrow_table(name, frame, result.meta),
                    tmp / f"{name}.parquet",
                    use_dictionary=dictionary_columns(name),
                )
            else:
                write_csv_table(name, frame, tmp / f"{name}.csv")
                resources.append(resource(name, frame))
        if fmt == "csv":
            (tmp / DATAPACKAGE).write_bytes(datapackage(resources, table_meta(result.meta)))
        (tmp / "kpis.json").write_bytes(
            orjson.dumps(kpis_document(result), option=orjson.OPT_INDENT_2) + b"\n"
        )
        (tmp / "scenario.toml").write_text(dump_scenario_toml(result.scenario), "utf-8")
        for writer in extra:
            writer(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


@dataclass(slots=True)
class RunData:
    """A run read back from disk: the four tables in the analyst layout
    (:mod:`sim.table_schema`), the KPIs and the run's identity."""

    path: Path
    tasks: pd.DataFrame
    events: pd.DataFrame
    workers: pd.DataFrame
    submissions: pd.DataFrame
    kpis: Kpis
    meta: RunMeta


def _arrow_lists(t: pa.DataType) -> Any:
    return ID_LIST_DTYPE if t == ID_LIST_DTYPE.pyarrow_dtype else None


def _read_table(run_dir: Path, name: str, resources: dict[str, dict[str, Any]]) -> pd.DataFrame:
    parquet, csv = run_dir / f"{name}.parquet", run_dir / f"{name}.csv"
    if parquet.is_file():
        # Lists straight into their Arrow dtype: no Python object per row.
        frame: pd.DataFrame = pq.read_table(parquet).to_pandas(types_mapper=_arrow_lists)
        return frame
    if not csv.is_file():
        raise UserError(f"{run_dir}: missing {name}.parquet (or {name}.csv)")
    if name in resources:
        return read_csv_table(csv, resources[name])
    # The previous layout: no schema, text columns named here, "" for missing text.
    text = _OLD_TEXT_COLUMNS[name]
    frame = pd.read_csv(csv, dtype=dict.fromkeys(text, "string"))
    for col in text:
        if col in frame:
            frame[col] = frame[col].fillna("")
    return frame


def read_run(run_dir: Path) -> RunData:
    """Read a run directory written by :func:`write_outputs` (Parquet or CSV).

    Both the current layout and the previous one (``-1`` ids, ``;``-joined lists, no
    timestamps or ``datapackage.json``) come back in the analyst layout.
    """
    run_dir = Path(run_dir)
    kp = run_dir / "kpis.json"
    if not kp.is_file():
        raise UserError(f"{run_dir}: not a run directory (no kpis.json)")
    doc = orjson.loads(kp.read_bytes())
    meta = RunMeta.from_json(doc, where=str(kp))
    dp = run_dir / DATAPACKAGE
    resources = read_datapackage(dp) if dp.is_file() else {}
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        frame = _read_table(run_dir, name, resources)
        try:
            frames[name] = normalise(name, frame, meta.start_epoch_ms)
        except (ValueError, TypeError) as e:
            raise UserError(f"{run_dir}: {name} table has a bad column ({e})") from None
    return RunData(path=run_dir, kpis=doc["kpis"], meta=meta, **frames)
