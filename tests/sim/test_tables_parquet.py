"""The Parquet tables read the same in pandas, DuckDB and Polars, with real types.

One small run with unassigned tasks (null worker ids), dependencies, async batch jobs and
failures is simulated once for the module.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.events import KINDS
from sim.output import TABLES, read_run, write_outputs
from sim.run import SimResult, simulate
from sim.scenario_io import load_scenario
from sim.table_schema import ID_LIST_DTYPE, STATE_NAMES, column_names
from tests.fixtures.scenarios import REPO

OVERRIDES = [
    "submission.mode='batch-async'",
    "fleet.workers=2",
    "demand.rate_per_h=120",
    "scenario.drain_h=0.5",
]


@pytest.fixture(scope="module")
def result() -> SimResult:
    return simulate(load_scenario(REPO / "scenarios" / "tiny.toml", overrides=OVERRIDES))


@pytest.fixture(scope="module")
def run_dir(result: SimResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_outputs(result, tmp_path_factory.mktemp("pq") / "run")


def test_the_run_has_what_the_layout_must_show(result: SimResult) -> None:
    t = result.tasks
    assert (t["worker_id"] < 0).any() and (t["dependencies"] != "").any()
    assert t["completed_s"].isna().any() and (result.submissions["job_id"] != "").all()


def test_columns_and_arrow_types(run_dir: Path) -> None:
    for name in TABLES:
        schema = pq.read_schema(run_dir / f"{name}.parquet")
        assert schema.names == column_names(name)
    tasks = pq.read_schema(run_dir / "tasks.parquet")
    for col in ("created_at", "assigned_at", "started_at", "completed_at", "ordered_at"):
        assert tasks.field(col).type == pa.timestamp("ms", tz="UTC")
    assert tasks.field("created_s").type == pa.float64()
    assert tasks.field("dependencies").type == pa.list_(pa.int64())
    for col in ("failure_reason", "state_name"):
        assert pa.types.is_dictionary(tasks.field(col).type)
    assert tasks.field("worker_id").type == pa.int64() and tasks.field("worker_id").nullable
    events = pq.read_schema(run_dir / "events.parquet")
    assert pa.types.is_dictionary(events.field("kind").type)
    assert events.field("time_at").type == pa.timestamp("ms", tz="UTC")
    workers = pq.read_schema(run_dir / "workers.parquet")
    assert pa.types.is_dictionary(workers.field("vehicle").type)
    assert workers.field("phone").type == pa.string()
    subs = pq.read_schema(run_dir / "submissions.parquet")
    assert subs.field("task_ids").type == pa.list_(pa.int64())
    assert pa.types.is_dictionary(subs.field("mode").type)
    # each column says what it is
    assert tasks.field("worker_id").metadata[b"description"].startswith(b"last worker")


def test_file_metadata_names_the_run(run_dir: Path, result: SimResult) -> None:
    for name in TABLES:
        meta = pq.read_schema(run_dir / f"{name}.parquet").metadata
        doc = orjson.loads(meta[b"fleetsim"])
        assert doc["table"] == name and doc["layout"] == 2
        assert doc["scenario"] == "tiny" and doc["seed"] == result.seed
        assert doc["scenario_hash"] == result.meta.scenario_hash
        assert doc["version"] == result.meta.version
        assert doc["start_epoch_ms"] == result.meta.start_epoch_ms == 1767610800000
        assert doc["start_iso"] == "2026-01-05T11:00:00.000Z"


def test_missing_values_are_real_nulls(run_dir: Path, result: SimResult) -> None:
    t = pq.read_table(run_dir / "tasks.parquet")
    n_unassigned = int((result.tasks["worker_id"] < 0).sum())
    assert t["worker_id"].null_count == n_unassigned > 0
    assert pa.compute.min(t["worker_id"]).as_py() >= 0
    assert t["completed_s"].null_count == t["completed_at"].null_count > 0
    assert t["complete_after_s"].null_count == len(t)  # no window start in tiny
    e = pq.read_table(run_dir / "events.parquet")
    assert e["task_id"].null_count == int((result.events["task_id"] < 0).sum()) > 0
    assert e["detail"].null_count == int((result.events["detail"] == "").sum()) > 0
    s = pq.read_table(run_dir / "submissions.parquet")
    assert s["job_id"].null_count == 0  # batch-async: every call has a job


def test_pandas_dtypes(run_dir: Path, result: SimResult) -> None:
    tasks = pd.read_parquet(run_dir / "tasks.parquet")
    assert tasks["created_at"].dtype == pd.DatetimeTZDtype("ms", "UTC")
    assert tasks["worker_id"].dtype == pd.Int64Dtype() and tasks["worker_id"].isna().any()
    assert isinstance(tasks["failure_reason"].dtype, pd.CategoricalDtype)
    assert list(tasks["state_name"].cat.categories) == list(STATE_NAMES)
    origin = pd.Timestamp(result.meta.start_epoch_ms, unit="ms", tz="UTC")
    assert tasks["created_at"].iloc[0] == origin + pd.to_timedelta(
        round(float(tasks["created_s"].iloc[0]) * 1000), unit="ms"
    )
    events = pd.read_parquet(run_dir / "events.parquet")
    assert list(events["kind"].cat.categories)[: len(KINDS)] == list(KINDS)
    workers = pd.read_parquet(run_dir / "workers.parquet")
    assert all(p.startswith("+") for p in workers["phone"])


def test_duckdb_reads_types_nulls_lists_and_metadata(run_dir: Path, result: SimResult) -> None:
    p = (run_dir / "tasks.parquet").as_posix()
    types = {str(r[0]): str(r[1]) for r in duckdb.sql(f"describe select * from '{p}'").fetchall()}
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["dependencies"] == "BIGINT[]"
    assert types["failure_reason"] == "VARCHAR" and types["worker_id"] == "BIGINT"
    (nulls,) = duckdb.sql(f"select count(*) from '{p}' where worker_id is null").fetchall()[0]
    assert nulls == int((result.tasks["worker_id"] < 0).sum())
    (with_deps,) = duckdb.sql(f"select count(*) from '{p}' where len(dependencies) > 0").fetchall()[
        0
    ]
    assert with_deps == int((result.tasks["dependencies"] != "").sum())
    (epoch_ms,) = duckdb.sql(
        f"select epoch_ms(min(created_at)) - min(created_s) * 1000 from '{p}'"
    ).fetchall()[0]
    assert epoch_ms == pytest.approx(result.meta.start_epoch_ms, abs=1)
    e = (run_dir / "events.parquet").as_posix()
    kinds = {k for (k,) in duckdb.sql(f"select distinct kind from '{e}'").fetchall()}
    assert kinds <= set(KINDS) and "taskCreated" in kinds
    rows = duckdb.sql(f"select value from parquet_kv_metadata('{p}') where key = 'fleetsim'")
    (value,) = rows.fetchall()[0]
    assert orjson.loads(value)["scenario_hash"] == result.meta.scenario_hash


def test_polars_reads_types(run_dir: Path) -> None:
    tasks = pl.read_parquet(run_dir / "tasks.parquet")
    assert tasks.schema["created_at"] == pl.Datetime("ms", "UTC")
    assert tasks.schema["dependencies"] == pl.List(pl.Int64)
    assert tasks.schema["failure_reason"] == pl.Categorical
    assert tasks.schema["worker_id"] == pl.Int64 and tasks["worker_id"].null_count() > 0
    events = pl.read_parquet(run_dir / "events.parquet")
    assert events.schema["kind"] == pl.Categorical
    workers = pl.read_parquet(run_dir / "workers.parquet")
    assert workers.schema["phone"] == pl.String and workers.schema["vehicle"] == pl.Categorical
    subs = pl.read_parquet(run_dir / "submissions.parquet")
    assert subs.schema["task_ids"] == pl.List(pl.Int64)
    assert subs["n_tasks"].to_list() == subs["task_ids"].list.len().to_list()


def test_read_run_gives_the_analyst_layout(run_dir: Path, result: SimResult) -> None:
    run = read_run(run_dir)
    t = run.tasks
    assert t["worker_id"].dtype == pd.Int64Dtype()
    assert t["worker_id"].isna().sum() == int((result.tasks["worker_id"] < 0).sum())
    assert t["dependencies"].dtype == ID_LIST_DTYPE  # elements are Python lists
    deps = dict(zip(result.tasks["task_id"], result.tasks["dependencies"], strict=True))
    for tid, got in zip(t["task_id"], t["dependencies"], strict=True):
        assert isinstance(got, list)
        assert got == [int(x) for x in deps[tid].split(";") if x]
    ids = [tid for ids in run.submissions["task_ids"] for tid in ids]
    assert sorted(ids) == sorted(result.tasks["task_id"].tolist())
    assert run.events["detail"].isna().any()
    assert np.array_equal(run.events["time_s"].to_numpy(), result.events["time_s"].to_numpy())


def test_writing_embeds_no_clock(result: SimResult, tmp_path: Path) -> None:
    a = write_outputs(result, tmp_path / "a")
    time.sleep(1.1)  # a writer that stamps the time would now write different bytes
    b = write_outputs(result, tmp_path / "b")
    for name in [*TABLES, "kpis"]:
        f = f"{name}.parquet" if name != "kpis" else "kpis.json"
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    created_by = pq.read_metadata(a / "tasks.parquet").created_by
    assert "parquet-cpp-arrow" in created_by
