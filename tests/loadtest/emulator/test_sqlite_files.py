"""The SQLite files of ``--db``: checkpointed on a clean stop and periodically, so the
``.db`` alone holds the state; a damaged or missing write-ahead log is refused at start
(exit 2, one line naming the file) instead of silently starting older and reissuing ids."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.serve import EmulatorProcess
from loadtest.emulator.store import SqliteStore, StoreError
from tests.loadtest.emulator.helpers import KEY, TestClient, onfleet_auth

pytestmark = pytest.mark.timeout(120)

TASK = {"destination": {"location": [-122.41, 37.77]}}


def _tasks_in_main_file(db: Path, tmp: Path) -> int:
    """Task records in a copy of the main file alone (no WAL beside it)."""
    copy = tmp / f"copy-{time.monotonic_ns()}.db"
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as c:
        return int(c.execute("SELECT count(*) FROM records WHERE kind = 'task'").fetchone()[0])


def _create(url: str, n: int) -> list[str]:
    with httpx.Client(base_url=url, headers=onfleet_auth(), timeout=10) as c:
        r = c.post("/api/v2/tasks/batch", json={"tasks": [TASK] * n})
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["tasks"]]


def _emulate(db: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "fleetsim.cli", "emulate", "--port", "0", "--db", str(db)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_a_clean_stop_leaves_everything_in_the_db_file(tmp_path: Path) -> None:
    db = tmp_path / "emu.db"
    p = EmulatorProcess("--db", str(db), "--api-key", KEY)
    try:
        ids = _create(p.url, 7)
    finally:
        p.stop()  # SIGTERM
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert _tasks_in_main_file(db, tmp_path) == 7
    # The .db alone, copied elsewhere, starts with every task.
    alone = tmp_path / "alone" / "emu.db"
    alone.parent.mkdir()
    shutil.copyfile(db, alone)
    q = EmulatorProcess("--db", str(alone), "--api-key", KEY)
    try:
        with httpx.Client(base_url=q.url, headers=onfleet_auth(), timeout=10) as c:
            listed = c.get("/api/v2/tasks/all?from=0").json()["tasks"]
    finally:
        q.stop()
    assert sorted(t["id"] for t in listed) == sorted(ids)


def test_the_wal_is_checkpointed_periodically(tmp_path: Path) -> None:
    db = tmp_path / "emu.db"
    cfg = EmulatorConfig(api_keys=(KEY,), db_path=db, checkpoint_interval_s=0.1)
    with TestClient(create_app(cfg)) as c:
        assert c.post("/api/v2/tasks", json=TASK, headers=onfleet_auth()).status_code == 200
        deadline = time.monotonic() + 10
        while _tasks_in_main_file(db, tmp_path) == 0:
            assert time.monotonic() < deadline, "never checkpointed"
            time.sleep(0.05)


def test_without_the_periodic_checkpoint_the_db_file_lags(tmp_path: Path) -> None:
    # The control for the test above: the write is in the WAL, not yet in the file.
    db = tmp_path / "emu.db"
    cfg = EmulatorConfig(api_keys=(KEY,), db_path=db, checkpoint_interval_s=3600.0)
    with TestClient(create_app(cfg)) as c:
        assert c.post("/api/v2/tasks", json=TASK, headers=onfleet_auth()).status_code == 200
        time.sleep(0.3)
        assert _tasks_in_main_file(db, tmp_path) == 0


def _crashed_db(tmp_path: Path) -> Path:
    """A --db whose server was killed (-9) after creating tasks: its WAL holds them."""
    db = tmp_path / "emu.db"
    p = EmulatorProcess("--db", str(db), "--api-key", KEY)
    try:
        _create(p.url, 5)
        p.kill()
    finally:
        p.stop()  # after the kill: only reaps and closes the log
    assert Path(f"{db}-wal").stat().st_size > 0
    return db


def test_a_damaged_wal_is_exit_2_naming_it(tmp_path: Path) -> None:
    db = _crashed_db(tmp_path)
    wal = Path(f"{db}-wal")
    wal.write_bytes(b"garbage " * 1000)
    r = _emulate(db)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert f"write-ahead log {wal} is damaged (bad magic number" in r.stderr
    assert wal.read_bytes() == b"garbage " * 1000  # left as it was, for the user to decide


def test_a_missing_wal_after_a_crash_is_exit_2(tmp_path: Path) -> None:
    db = _crashed_db(tmp_path)
    alone = tmp_path / "alone" / "emu.db"
    alone.parent.mkdir()
    shutil.copyfile(db, alone)  # the .db without its WAL
    r = _emulate(alone)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert f"write-ahead log {alone}-wal is missing" in r.stderr
    # The original, with its WAL, still starts and has the tasks.
    with pytest.raises(StoreError):
        SqliteStore(alone)
    store = SqliteStore(db)
    try:
        assert len(list(store.load("task"))) == 5
    finally:
        store.close()


def test_a_wal_recovered_by_another_sqlite_client_is_accepted(tmp_path: Path) -> None:
    db = _crashed_db(tmp_path)
    with sqlite3.connect(db) as c:  # the README's `sqlite3 PATH "select ..."` after a crash
        c.execute("SELECT count(*) FROM records").fetchone()
    c.close()
    assert not Path(f"{db}-wal").exists()
    store = SqliteStore(db)
    try:
        assert len(list(store.load("task"))) == 5
    finally:
        store.close()
