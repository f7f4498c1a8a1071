"""Run directories in the previous layout (-1 ids, ""-text, ;-joined lists, no timestamps,
no datapackage.json) read back exactly like the current one."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from sim.output import TABLES, kpis_document, read_run, write_outputs
from sim.run import SimResult, simulate
from sim.scenario_io import load_scenario
from sim.table_schema import ID_LIST_DTYPE, normalise
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


def write_old_layout(result: SimResult, out: Path, fmt: str) -> Path:
    """What ``write_outputs`` wrote before the analyst layout: the working frames as they
    are (pandas' own Parquet, plain CSV) and ``kpis.json``."""
    out.mkdir(parents=True)
    for name in TABLES:
        frame: pd.DataFrame = getattr(result, name)
        if fmt == "parquet":
            frame.to_parquet(out / f"{name}.parquet", index=False, engine="pyarrow")
        else:
            frame.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
    (out / "kpis.json").write_bytes(orjson.dumps(kpis_document(result)))
    return out


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_previous_layout_reads_as_the_current_one(
    result: SimResult, tmp_path: Path, fmt: str
) -> None:
    old = read_run(write_old_layout(result, tmp_path / "old", fmt))
    new = read_run(write_outputs(result, tmp_path / "new", fmt=fmt))  # type: ignore[arg-type]
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(old, name), getattr(new, name), obj=name)
    assert old.meta == new.meta


def test_old_conventions_become_nulls_lists_and_text(tmp_path: Path, result: SimResult) -> None:
    """A hand-written old CSV: -1 and "" for missing, one-element lists that look like
    numbers, phones that look like integers."""
    out = write_old_layout(result, tmp_path / "old", "csv")
    (out / "tasks.csv").write_text(
        "task_id,dependencies,worker_id,submission_id,created_s,completed_s,state,failure_reason\n"
        "0,,-1,0,1.5,,0,NONE\n"
        "1,0,3,0,1.5,60.25,3,NONE\n"
        "2,0;1,3,-1,2.0,,1,\n",
        "utf-8",
    )
    (out / "submissions.csv").write_text(
        "submission_id,mode,sent_s,acked_s,available_s,n_tasks,task_ids,job_id\n"
        "0,batch-async,1.0,1.2,1.5,2,0;1,job000000\n"
        "1,single,2.0,2.1,2.0,1,2,\n",
        "utf-8",
    )
    run = read_run(out)
    t = run.tasks
    assert t["dependencies"].dtype == ID_LIST_DTYPE
    assert t["dependencies"].tolist() == [[], [0], [0, 1]]
    assert t["worker_id"].isna().tolist() == [True, False, False]
    assert t["submission_id"].isna().tolist() == [False, False, True]
    assert t["state_name"].astype(str).tolist() == ["unassigned", "completed", "assigned"]
    assert t["completed_at"].isna().tolist() == [True, False, True]
    origin = pd.Timestamp(result.meta.start_epoch_ms, unit="ms", tz="UTC")
    assert t["completed_at"].iloc[1] == origin + pd.Timedelta(milliseconds=60250)
    s = run.submissions
    assert s["task_ids"].tolist() == [[0, 1], [2]]
    assert s["job_id"].isna().tolist() == [False, True]
    assert isinstance(s["mode"].dtype, pd.CategoricalDtype)
    assert run.workers["phone"].str.startswith("+").all()
    assert run.events["task_id"].isna().any() and not (run.events["task_id"] < 0).any()


def test_normalise_is_idempotent(result: SimResult) -> None:
    origin = result.meta.start_epoch_ms
    for name in TABLES:
        once = normalise(name, getattr(result, name), origin)
        pd.testing.assert_frame_equal(normalise(name, once, origin), once, obj=name)


def test_text_held_in_several_chunks_converts() -> None:
    """pandas keeps a big CSV's text in several Arrow chunks."""
    chunked = pa.chunked_array([["taskCreated", ""], ["workerDuty"]])
    frame = pd.DataFrame(
        {
            "kind": pd.arrays.ArrowStringArray(chunked),
            "detail": pd.arrays.ArrowStringArray(chunked),
            "task_ids": pd.arrays.ArrowStringArray(pa.chunked_array([["1;2", ""], ["3"]])),
        }
    )
    events = normalise("events", frame[["kind", "detail"]], 0)
    assert events["kind"].astype(str).tolist()[::2] == ["taskCreated", "workerDuty"]
    assert events["kind"].isna().tolist() == [False, False, False]  # "" is kept as a value
    assert normalise("submissions", frame[["task_ids"]], 0)["task_ids"].tolist() == [
        [1, 2],
        [],
        [3],
    ]
