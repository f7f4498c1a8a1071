"""CSV output: a Frictionless datapackage.json types every column, so phones stay text."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd
import polars as pl
import pytest

from sim.errors import UserError
from sim.output import TABLES, read_run, write_outputs
from sim.run import SimResult, simulate
from sim.scenario_io import load_scenario
from sim.table_csv import E164_PATTERN
from sim.table_schema import ID_LIST_DTYPE, VEHICLES, column_names
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
def dirs(result: SimResult, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("csv")
    return write_outputs(result, base / "csv", fmt="csv"), write_outputs(result, base / "pq")


def _package(run_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((run_dir / "datapackage.json").read_bytes())
    return doc


def _fields(run_dir: Path, table: str) -> dict[str, dict[str, Any]]:
    res = {r["name"]: r for r in _package(run_dir)["resources"]}[table]
    return {f["name"]: f for f in res["schema"]["fields"]}


def test_datapackage_names_every_file_and_column(dirs: tuple[Path, Path]) -> None:
    csv_dir, _ = dirs
    doc = _package(csv_dir)
    assert doc["profile"] == "tabular-data-package"
    assert doc["fleetsim"]["scenario"] == "tiny" and doc["fleetsim"]["layout"] == 2
    for res in doc["resources"]:
        assert (csv_dir / res["path"]).is_file() and res["path"] == f"{res['name']}.csv"
        names = [f["name"] for f in res["schema"]["fields"]]
        with (csv_dir / res["path"]).open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f))
        assert names == header == column_names(res["name"])
    assert [r["name"] for r in doc["resources"]] == list(TABLES)
    workers = _fields(csv_dir, "workers")
    assert workers["phone"]["type"] == "string"
    assert workers["phone"]["constraints"]["pattern"] == E164_PATTERN
    assert workers["vehicle"]["constraints"]["enum"][:4] == list(VEHICLES)
    tasks = _fields(csv_dir, "tasks")
    assert tasks["dependencies"]["type"] == "array"
    assert tasks["created_at"]["type"] == "datetime"
    assert tasks["worker_id"]["type"] == "integer"


def test_lists_are_json_arrays_and_missing_values_empty(dirs: tuple[Path, Path]) -> None:
    csv_dir, _ = dirs
    raw = pd.read_csv(csv_dir / "tasks.csv", dtype=str, keep_default_na=False)
    assert set(raw["dependencies"].str[0]) == {"["}
    assert "" in set(raw["worker_id"]) and "-1" not in set(raw["worker_id"])
    assert raw["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").all()


def test_read_run_reads_csv_as_it_reads_parquet(dirs: tuple[Path, Path]) -> None:
    csv_dir, pq_dir = dirs
    a, b = read_run(csv_dir), read_run(pq_dir)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    assert a.workers["phone"].str.startswith("+").all()
    assert a.tasks["dependencies"].dtype == ID_LIST_DTYPE


def test_plain_pandas_loses_the_plus_but_the_schema_keeps_it(dirs: tuple[Path, Path]) -> None:
    csv_dir, _ = dirs
    plain = pd.read_csv(csv_dir / "workers.csv")
    assert plain["phone"].dtype.kind == "i"  # why the datapackage exists
    assert read_run(csv_dir).workers["phone"].iloc[0] == "+15550000000"


_POLARS = {"integer": pl.Int64, "number": pl.Float64, "boolean": pl.Boolean}


def test_polars_reads_the_csv_with_the_datapackage_schema(dirs: tuple[Path, Path]) -> None:
    csv_dir, _ = dirs
    fields = _fields(csv_dir, "workers")
    schema = {n: _POLARS.get(f["type"], pl.String) for n, f in fields.items()}
    workers = pl.read_csv(csv_dir / "workers.csv", schema=schema)
    assert workers.schema["phone"] == pl.String
    assert workers["phone"].str.contains(f"^{E164_PATTERN}$").all()
    tfields = _fields(csv_dir, "tasks")
    tasks = pl.read_csv(
        csv_dir / "tasks.csv",
        schema={n: _POLARS.get(f["type"], pl.String) for n, f in tfields.items()},
    ).with_columns(
        pl.col("dependencies").str.json_decode(pl.List(pl.Int64)),
        pl.col("created_at").str.to_datetime(time_zone="UTC"),
    )
    assert tasks.schema["dependencies"] == pl.List(pl.Int64)
    assert tasks["worker_id"].null_count() > 0
    assert tasks["is_pickup"].dtype == pl.Boolean


def test_duckdb_reads_the_csv_with_declared_types(dirs: tuple[Path, Path]) -> None:
    csv_dir, _ = dirs
    p = (csv_dir / "workers.csv").as_posix()
    rel = duckdb.sql(f"select phone from read_csv('{p}', types={{'phone': 'VARCHAR'}})")
    assert all(str(phone).startswith("+") for (phone,) in rel.fetchall())


def test_a_bad_cell_is_named(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(dirs[0], bad)
    text = (bad / "submissions.csv").read_text("utf-8")
    (bad / "submissions.csv").write_text(text.replace('"[', '"[x', 1), "utf-8")
    with pytest.raises(UserError, match=r"submissions.csv: column task_ids: '\[x"):
        read_run(bad)
    shutil.copy(dirs[0] / "submissions.csv", bad / "submissions.csv")
    text = (bad / "workers.csv").read_text("utf-8")
    (bad / "workers.csv").write_text(text.replace('"BICYCLE",6,', '"BICYCLE",six,', 1), "utf-8")
    with pytest.raises(UserError, match=r"workers.csv: does not match datapackage.json.*'six'"):
        read_run(bad)
    (bad / "datapackage.json").write_text("{", "utf-8")
    with pytest.raises(UserError, match=r"datapackage\.json: not a readable data package"):
        read_run(bad)
