"""One SQLite database file, shared by the event and metadata stores: connection, pragmas, migrations.

Durability: WAL with ``synchronous=FULL`` by default, so a write is on disk when its transaction commits, which is
before the caller hears success (invariant 1). ``synchronous="NORMAL"`` trades the last commits on power loss
(never on a process crash) for speed and is opt-in.

Concurrency: several processes may open one data directory. Writers take SQLite's write lock up front
(``BEGIN IMMEDIATE``) and wait up to `busy_timeout_ms` for it; readers never block writers (WAL). Within a
process, one connection is shared under a lock, which is enough for SQLite's single-writer model.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from .schema import MIGRATIONS

DB_FILENAME = "memtrace.db"


class SQLiteDatabase:
    """A SQLite database file with memtrace's schema migrated to the latest version."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 30_000,
    ) -> None:
        path = Path(path)
        if path.suffix != ".db":
            path.mkdir(parents=True, exist_ok=True)
            path = path / DB_FILENAME
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(MIGRATIONS):
                return
            # EXCLUSIVE so that two processes opening a fresh directory do not both migrate.
            self._conn.execute("BEGIN EXCLUSIVE")
            try:
                version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in script:
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version={number}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for statements that only read."""
        with self._lock:
            yield self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
