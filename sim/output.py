"""Run directories: writing a run's tables and KPIs, and reading them back.

A run directory holds ``tasks``, ``events``, ``workers`` and ``submissions`` (Parquet, or
CSV with ``fmt="csv"``), ``kpis.json`` (the KPIs plus scenario, hash, seed and version)
and ``scenario.toml`` (the effective scenario).  Writing is atomic: everything goes into
a temporary sibling directory that replaces the target only when complete, so a failed
run never leaves a directory that looks finished.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd

from sim.errors import UserError
from sim.kpis import Kpis
from sim.run import SimResult
from sim.run_meta import RunMeta
from sim.scenario_io import dump_scenario_toml

Format = Literal["parquet", "csv"]
TABLES = ("tasks", "events", "workers", "submissions")
_TEXT_COLUMNS = {
    "tasks": ("dependencies", "failure_reason"),
    "events": ("kind", "detail"),
    "workers": ("name", "phone", "team", "vehicle"),
    "submissions": ("mode", "task_ids", "job_id"),
}


def kpis_document(result: SimResult) -> dict[str, Any]:
    """The ``kpis.json`` document: the run's meta, then its KPIs."""
    return {**result.meta.to_json(), "kpis": result.kpis}


def write_outputs(
    result: SimResult,
    out_dir: Path,
    fmt: Format = "parquet",
    extra: Sequence[Callable[[Path], None]] = (),
) -> Path:
    """Write the run into ``out_dir`` atomically; ``extra`` writers add files to it."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name in TABLES:
            frame: pd.DataFrame = getattr(result, name)
            if fmt == "parquet":
                frame.to_parquet(tmp / f"{name}.parquet", index=False, engine="pyarrow")
            else:
                frame.to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
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
    """A run read back from disk (same tables as :class:`~sim.run.SimResult`)."""

    path: Path
    tasks: pd.DataFrame
    events: pd.DataFrame
    workers: pd.DataFrame
    submissions: pd.DataFrame
    kpis: Kpis
    meta: RunMeta


def read_run(run_dir: Path) -> RunData:
    """Read a run directory written by :func:`write_outputs` (Parquet or CSV)."""
    run_dir = Path(run_dir)
    kp = run_dir / "kpis.json"
    if not kp.is_file():
        raise UserError(f"{run_dir}: not a run directory (no kpis.json)")
    doc = orjson.loads(kp.read_bytes())
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        pq, csv = run_dir / f"{name}.parquet", run_dir / f"{name}.csv"
        if pq.is_file():
            frames[name] = pd.read_parquet(pq)
        elif csv.is_file():
            text = _TEXT_COLUMNS[name]
            frame = pd.read_csv(csv, dtype=dict.fromkeys(text, "string"))
            for col in text:
                frame[col] = frame[col].fillna("")
            frames[name] = frame
        else:
            raise UserError(f"{run_dir}: missing {name}.parquet (or {name}.csv)")
    meta = RunMeta.from_json(doc, where=str(kp))
    return RunData(path=run_dir, kpis=doc["kpis"], meta=meta, **frames)
