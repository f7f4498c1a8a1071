"""Where emulator state is kept: in memory, or write-through to SQLite.

The providers keep their records in memory and call :meth:`Store.put` for every changed
record, then :meth:`Store.commit` before a response goes out, so an acknowledged write is
on disk when the client hears of it.  A request's puts are one transaction: they reach the
file together at its commit, or, when the request fails with an unexpected exception,
:meth:`Store.rollback` drops them all, so the next request's commit cannot carry half of a
failed one to disk.  SQLite runs in WAL mode with ``synchronous=NORMAL``:
a committed transaction survives ``kill -9`` of the process (the WAL is in the OS cache);
only an OS crash could lose the last ones.  The records are one table, ``records(kind, id,
body)`` with JSON bodies, so ``sqlite3 emu.db "select body from records where
kind='task'"`` shows the state.  :class:`MemoryStore` makes every call a no-op, so the
in-memory path pays nothing.  :class:`Store` is the protocol both keep.

The files: every commit lands in ``PATH-wal``; :meth:`Store.checkpoint` copies it into
``PATH`` (periodically, from the app's lifespan, and at a clean shutdown, after which SQLite
removes the WAL), so a copy of ``PATH`` alone after a clean stop holds everything.  A
``lifecycle`` table says ``running`` from start until the clean shutdown, and counts
commits (``commits``, written with each commit) and the count at the last checkpoint
(``checkpointed``).  At start, :class:`SqliteStore` refuses (:class:`StoreError`) a WAL
whose header is not a valid SQLite WAL header (SQLite itself would silently drop it, start
from the last checkpoint and reissue ids), and a missing WAL after an unclean stop when
``PATH`` holds nothing past its last checkpoint: the commits after it may have been lost
with the WAL.  (A WAL that another SQLite client recovered into ``PATH`` and removed, as
``sqlite3 PATH ...`` does after a crash, leaves ``commits`` past ``checkpointed``, and is
accepted.)
"""

from __future__ import annotations

import sqlite3
import struct
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import orjson

WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_HEADER_BYTES = 32


class StoreError(Exception):
    """The state file cannot be used as it is; the message names the file and the fix."""


def wal_header_problem(data: bytes) -> str | None:
    """Why ``data`` (a WAL file's first bytes) is not a valid SQLite WAL header, or None.

    The header is eight big-endian 32-bit words: magic, format version 3007000, page size,
    checkpoint sequence, two salts, and a checksum of the first six words (the magic's low
    bit says whether that checksum reads the words big- or little-endian).
    """
    if len(data) < WAL_HEADER_BYTES:
        return f"{len(data)} bytes, shorter than the {WAL_HEADER_BYTES}-byte header"
    words = struct.unpack(">8I", data[:WAL_HEADER_BYTES])
    magic, version, page_size = words[0], words[1], words[2]
    if magic not in WAL_MAGIC:
        return f"bad magic number 0x{magic:08x}"
    if version != 3007000:
        return f"unknown format version {version}"
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return f"bad page size {page_size}"
    fmt = ">6I" if magic & 1 else "<6I"
    s0 = s1 = 0
    x = struct.unpack(fmt, data[:24])
    for i in range(0, 6, 2):
        s0 = (s0 + x[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + x[i + 1] + s0) & 0xFFFFFFFF
    if (s0, s1) != (words[6], words[7]):
        return "header checksum mismatch"
    return None


class Store(Protocol):
    """Where the providers' records are kept (see the module docstring)."""

    @property
    def durable(self) -> bool:
        """True when a committed record survives the process."""
        ...

    def put(self, kind: str, key: str, record: Any) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Forget every put since the last commit."""
        ...

    def checkpoint(self) -> None:
        """Copy committed writes from the WAL into the main file."""
        ...

    def load(self, kind: str) -> Iterator[Any]: ...

    def close(self) -> None: ...


class MemoryStore:
    """No persistence: every call is a no-op."""

    durable = False

    def put(self, kind: str, key: str, record: Any) -> None:
        return None

    def commit(self) -> None:
        return None

    def rollback(self) -> None:
        return None

    def checkpoint(self) -> None:
        return None

    def load(self, kind: str) -> Iterator[Any]:
        return iter(())

    def close(self) -> None:
        return None


class SqliteStore:
    """Write-through SQLite file (see the module docstring)."""

    durable = True

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Both checks read the files before SQLite opens them: opening recovers (or drops)
        # the WAL and creates an empty one.
        wal = Path(f"{path}-wal")
        wal_exists = wal.exists()
        if wal_exists and wal.stat().st_size > 0:
            with wal.open("rb") as f:
                problem = wal_header_problem(f.read(WAL_HEADER_BYTES))
            if problem is not None:
                raise StoreError(
                    f"--db {path}: its write-ahead log {wal} is damaged ({problem}); the "
                    "commits in it cannot be read.  Restore both files from a backup, or "
                    f"move {wal} aside to start from the last checkpoint (ids may repeat)."
                )
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            self._open(path, wal, wal_exists)
        except BaseException:
            self._db.close()
            raise

    def _open(self, path: Path, wal: Path, wal_existed: bool) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS lifecycle (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        life = dict(self._db.execute("SELECT key, value FROM lifecycle").fetchall())
        self._commits = int(life.get("commits", 0))
        unclean = life.get("state") == "running"
        if unclean and not wal_existed and self._commits == int(life.get("checkpointed", 0)):
            raise StoreError(
                f"--db {path}: the last run did not shut down cleanly and its write-ahead "
                f"log {wal} is missing, so the commits after its last checkpoint may be "
                f"lost.  Copy {wal} next to the file (a copy of the .db alone misses them) "
                "or copy both after a clean stop (Ctrl-C or SIGTERM); to accept the file "
                f"as it is, run: sqlite3 {path} \"update lifecycle set value='clean' "
                "where key='state'\""
            )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records ("
            " kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,"
            " PRIMARY KEY (kind, id))"
        )
        # Into the main file at once, so a copy of it alone shows an unclean stop.
        self._db.execute("INSERT OR REPLACE INTO lifecycle(key, value) VALUES ('state', 'running')")
        self.checkpoint()
        # A store dropped without close() (an app that never ran its shutdown) is still
        # closed cleanly: SQLite would checkpoint and remove the WAL at close anyway, and the
        # main file must then not claim an unclean stop.
        self._finalizer = weakref.finalize(self, _shut_down, self._db)
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()
        self._seq = int(row[0])
        self._pending: dict[tuple[str, str], bytes] = {}

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def put(self, kind: str, key: str, record: Any) -> None:
        self._pending[(kind, key)] = orjson.dumps(record)

    def commit(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        cur = self._db.cursor()
        cur.execute("BEGIN")
        try:
            ups = [(k, i, self._next(), b) for (k, i), b in pending.items()]
            # Keep the first insertion's seq so loads come back in creation order.
            cur.executemany(
                "INSERT INTO records(kind, id, seq, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body",
                ups,
            )
            cur.execute(
                "INSERT OR REPLACE INTO lifecycle(key, value) VALUES ('commits', ?)",
                (str(self._commits + 1),),
            )
            cur.execute("COMMIT")
            self._commits += 1
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def rollback(self) -> None:
        # Nothing of the failed request reached SQLite yet: its puts are only pending.
        self._pending.clear()

    def load(self, kind: str) -> Iterator[Any]:
        rows = self._db.execute(
            "SELECT body FROM records WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
        for (body,) in rows:
            yield orjson.loads(body)

    def checkpoint(self) -> None:
        # The count goes into the main file with the checkpoint: a start that finds the WAL
        # gone and nothing past this count cannot tell whether commits were lost.
        self._db.execute(
            "INSERT OR REPLACE INTO lifecycle(key, value) VALUES ('checkpointed', ?)",
            (str(self._commits),),
        )
        # TRUNCATE: with the only connection this always completes, and leaves an empty WAL.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """A clean shutdown: commit, mark the main file clean, checkpoint, close (SQLite
        then removes the WAL)."""
        if not self._finalizer.alive:
            return
        self.commit()
        self._finalizer()


def _shut_down(db: sqlite3.Connection) -> None:
    """Mark the main file clean, checkpoint, close (SQLite then removes the WAL)."""
    db.execute("INSERT OR REPLACE INTO lifecycle(key, value) VALUES ('state', 'clean')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def open_store(path: Path | None) -> Store:
    """SQLite at ``path``, or memory when None."""
    return MemoryStore() if path is None else SqliteStore(path)
