"""Where a sweep keeps its rows: an append-only journal while running, tables at the end.

Concepts held here:

* :class:`RunJournal` -- ``runs.jsonl``, one line per finished run, flushed as each run
  finishes, so an interrupted sweep loses at most the runs in flight; ``--resume`` reads
  it back and skips what finished (a torn last line from a crash is ignored).
* :func:`rows_frame` -- the flat table of ``sweep.parquet``: ``run_id, phase``, one
  column per parameter, ``seed``, one column per KPI, ``error``, ``elapsed_s``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson
import pandas as pd

from sim.sweep.runner import RunRow

JOURNAL = "runs.jsonl"
PARQUET = "sweep.parquet"
SUMMARY = "summary.csv"
META = "sweep.json"
PAIRED = "paired.csv"


class RunJournal:
    """The append-only record of finished runs in ``out_dir/runs.jsonl``."""

    def __init__(self, out_dir: Path, resume: bool) -> None:
        self.path = out_dir / JOURNAL
        out_dir.mkdir(parents=True, exist_ok=True)
        self.previous: dict[str, RunRow] = self._read() if resume else {}
        # Without --resume a sweep starts afresh; with it, keep the journal and append.
        self._fh: IO[bytes] = self.path.open("ab" if resume else "wb")

    def _read(self) -> dict[str, RunRow]:
        rows: dict[str, RunRow] = {}
        if not self.path.exists():
            return rows
        for line in self.path.read_bytes().splitlines():
            try:
                row = RunRow.from_json(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a line torn by a crash: that run simply runs again
            rows[row.run_id] = row
        return rows

    def finished(self, run_id: str) -> RunRow | None:
        """The earlier successful row of ``run_id`` (failed runs are tried again)."""
        row = self.previous.get(run_id)
        return row if row is not None and row.ok else None

    def append(self, row: RunRow) -> None:
        self._fh.write(orjson.dumps(row.to_json(), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def param_paths(rows: Iterable[RunRow], first: Sequence[str] = ()) -> list[str]:
    """Every parameter path in ``rows``: those in ``first`` (grid order), then the rest."""
    paths = list(first)
    for row in rows:
        for path, _ in row.params:
            if path not in paths:
                paths.append(path)
    return paths


def kpi_names(rows: Iterable[RunRow]) -> list[str]:
    """KPI names in the order the simulator reports them (first successful run first)."""
    names: list[str] = []
    for row in rows:
        for name, _ in row.kpis:
            if name not in names:
                names.append(name)
    return names


def rows_frame(rows: Sequence[RunRow], params: Sequence[str] = ()) -> pd.DataFrame:
    """The flat table: one row per run, a column per parameter and per KPI."""
    paths = param_paths(rows, params)
    kpis = kpi_names(rows)
    records: list[dict[str, Any]] = []
    for row in rows:
        rec: dict[str, Any] = {"run_id": row.run_id, "phase": row.phase}
        p = dict(row.params)
        for path in paths:
            rec[path] = p.get(path)
        rec["seed"] = row.seed
        k = dict(row.kpis)
        for name in kpis:
            rec[name] = k.get(name, math.nan)
        rec["error"] = row.error
        rec["elapsed_s"] = row.elapsed_s
        records.append(rec)
    columns = ["run_id", "phase", *paths, "seed", *kpis, "error", "elapsed_s"]
    df = pd.DataFrame.from_records(records, columns=columns)
    for path in paths:
        df[path] = _uniform(df[path])
    df["seed"] = df["seed"].astype("int64")
    for name in kpis:
        df[name] = df[name].astype("float64")
    return df


def _uniform(col: pd.Series) -> pd.Series:
    """One type per parameter column (Parquet needs it): numbers stay numbers, mixed -> str."""
    values = [v for v in col if v is not None]
    if values and all(isinstance(v, bool) for v in values):
        return col.astype("boolean")
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return col.astype("Int64")
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return col.astype("float64")
    return col.map(lambda v: None if v is None else str(v)).astype("string")


def clear_outputs(out_dir: Path) -> None:
    """Remove a previous sweep's finished-looking outputs (the journal stays for --resume)."""
    for name in (PARQUET, SUMMARY, PAIRED, META, "report.html"):
        (out_dir / name).unlink(missing_ok=True)
    for png in out_dir.glob("sweep-*.png"):
        png.unlink()


def write_table(df: pd.DataFrame, out_dir: Path) -> Path:
    path = out_dir / PARQUET
    tmp = path.with_suffix(".parquet.tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)  # never a half-written table that looks finished
    return path
