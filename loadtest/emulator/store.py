"""Where emulator state is kept: in memory, or write-through to SQLite.

The providers keep their records in memory and call :meth:`Store.put` for every changed
record, then :meth:`Store.commit` before a response goes out, so an acknowledged write is
on disk when the client hears of it.  A request's puts are one transaction: they reach the
file together at its commit, or, when the request fails with an unexpected exception,
:meth:`Store.rollback` drops them all, so the next request's commit cannot carry half of a
failed one to disk.  SQLite runs in WAL mode with ``synchronous=NORMAL``:
a committed transaction survives ``kill -9`` of the process (the WAL is in the OS cache);
only an OS crash could lose the last ones.  The file holds one table, ``records(kind, id,
body)`` with JSON bodies, so ``sqlite3 emu.db "select body from records where
kind='task'"`` shows the state.  :class:`MemoryStore` makes every call a no-op, so the
in-memory path pays nothing.  :class:`Store` is the protocol both keep.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import orjson


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

    def load(self, kind: str) -> Iterator[Any]:
        return iter(())

    def close(self) -> None:
        return None


class SqliteStore:
    """Write-through SQLite file (see the module docstring)."""

    durable = True

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records ("
            " kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,"
            " PRIMARY KEY (kind, id))"
        )
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
            cur.execute("COMMIT")
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

    def close(self) -> None:
        self._db.close()


def open_store(path: Path | None) -> Store:
    """SQLite at ``path``, or memory when None."""
    return MemoryStore() if path is None else SqliteStore(path)
