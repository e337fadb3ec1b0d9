"""One SQLite database file, shared by the event and metadata stores: connection, pragmas, migrations.

Durability: WAL with ``synchronous=FULL`` by default, so a write is on disk when its transaction commits, which is
before the caller hears success (invariant 1). ``synchronous="NORMAL"`` trades the last commits on power loss
(never on a process crash) for speed and is opt-in.

Files and faults: the directory is 0700 and the files 0600 (files.py). Opening checks the file first: a
zero-length file that memtrace did not just create is refused, and a cheap integrity check
(``PRAGMA quick_check`` within a time budget, so a small store is checked fully and a large one as far as the
budget reaches) refuses a damaged store with a message saying what to do. Every SQLite failure reaches the caller
as a `MemtraceError` (faults.py): a full disk is `StorageFullError`, a damaged file `StoreCorruptedError`.

Work per query: a statement run through `read()` is stopped after `query_budget_s` seconds with
`QueryTooExpensiveError` (a progress handler), so one expensive scan cannot hold the connection for long.

Concurrency: several processes may open one data directory. Writers take SQLite's write lock up front
(``BEGIN IMMEDIATE``) and wait up to `busy_timeout_ms` for it; readers never block writers (WAL). Within a
process, one connection is shared under a lock, which is enough for SQLite's single-writer model.

Long deletes (forgetting a subject: seconds of work in batches) run on a second connection, `aside()`, so this
process's readers do not wait for them: under WAL a reader on the first connection reads its snapshot while the
second writes. Writers of every connection this process has to the file (this one, `aside()`, and the server's
metadata connection, given this one's `write_gate`) first take one write gate, a Python lock: a writer queued
behind another waits there, not holding its connection (where it would hold up that connection's readers while
SQLite's busy handler sleeps), and it is woken as soon as the other commits. Other processes still meet at
SQLite's lock, with the busy timeout.

Checkpoints (copying the write-ahead log into the database file) never run on a connection readers wait for.
SQLite runs one after the commit that takes the log past 1,000 pages, on the committing connection, holding it
(and with it this process's readers) for as long as the copy and its sync take: milliseconds for a small write,
hundreds of them when a forget's batches on `aside()` had left their pages in the log. Here every connection has
SQLite's automatic checkpoint off; a write that leaves 1,000 pages or more in the log runs one itself, as SQLite
would have, but on a connection of its own (`checkpoint`) and with the write gate held, not the connection:
writers queue behind it as before (so it completes, and the log starts over from its beginning), readers do not.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from ...limits import QUERY_TIME_BUDGET_SECONDS
from . import files
from .faults import damaged, translate
from .schema import MIGRATIONS, register_schema_functions

DB_FILENAME = "memtrace.db"
INTEGRITY_BUDGET_SECONDS = 2.0
"""How long the start-up integrity check may take: ``quick_check`` reads every page, about 1 GB/s warm, so stores
up to a few hundred MB are checked in full; beyond, the check covers what it reached (and says so in the log)."""
_PROGRESS_STEPS = 10_000
"""SQLite virtual-machine steps between two looks at the clock (~a millisecond of work)."""
CACHE_MIN_BYTES = 64 * 2**20
CACHE_MAX_BYTES = 512 * 2**20
"""The page cache is a quarter of the database file, within these bounds (`SQLiteDatabase.size_cache`)."""

CHECKPOINT_PAGES = 1000
"""A write that leaves this many pages in the log not yet copied into the database starts a checkpoint (SQLite's
own automatic threshold)."""

log = logging.getLogger("memtrace.store")


def _retry_while_locked(step: Callable[[], None], *, timeout_s: float) -> None:
    """Run `step`, again while SQLite answers "database is locked", for up to `timeout_s`.

    The busy timeout does not cover every lock conflict of opening a store: while another process creates the same
    fresh file (still in rollback-journal mode, its writer holding the RESERVED lock), switching to WAL or reading
    fails at once with SQLITE_BUSY instead of waiting, because SQLite refuses to wait where waiting could deadlock.
    Several processes opening one new data directory at once hit exactly that, so opening waits here instead.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.1)


class SQLiteDatabase:
    """A SQLite database file with memtrace's schema migrated to the latest version."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 30_000,
        query_budget_s: float = QUERY_TIME_BUDGET_SECONDS,
        integrity_budget_s: float = INTEGRITY_BUDGET_SECONDS,
        write_gate: threading.Lock | None = None,
        checkpoint_after_writes: bool = True,
    ) -> None:
        """`write_gate`: another connection's (`write_gate`) to share, for a second connection to the same file
        in this process (the server's metadata connection): its writers then queue with this one's.
        `checkpoint_after_writes=False`: the caller checkpoints itself (`checkpoint`), as a forget's batches do."""
        path = Path(path)
        owns_directory = path.suffix != ".db"  # given a directory, not a file in someone else's folder
        if owns_directory:
            files.prepare_directory(path)
            path = path / DB_FILENAME
        else:
            files.prepare_directory(path.parent)
        self.path = path
        self.query_budget_s = query_budget_s
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.RLock()
        self._holder: int | None = None  # the thread inside read() or write(), while one is
        self._gate = write_gate or threading.Lock()  # every write transaction of this process, any connection
        self._aside: SQLiteDatabase | None = None
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_thread: threading.Thread | None = None
        self._checkpointer: sqlite3.Connection | None = None  # the connection `checkpoint()` runs on
        self._closed = False
        self._checkpoint_after_writes = checkpoint_after_writes
        self._shm: int | None = None  # a descriptor of the log's index (-shm), read by `_log_backlog`
        self._deadline: float | None = None
        self._budget_hit = False
        new = not path.exists()
        if not new:
            files.refuse_empty_database(path)
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
            )
        except sqlite3.Error as exc:
            raise translate(exc, path) from None
        try:
            if new:
                files.make_private(path)  # before the first write; -wal and -shm take the same mode
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            _retry_while_locked(
                lambda: self._prepare(synchronous, not new and integrity_budget_s > 0, integrity_budget_s),
                timeout_s=busy_timeout_ms / 1000,
            )
            # Only a store that opened cleanly is touched: what an older version left open to others is closed.
            if owns_directory:
                files.tighten_directory(path.parent)
            files.tighten_files(path)
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, path) from None
            raise
        self._conn.set_progress_handler(self._over_budget, _PROGRESS_STEPS)

    def size_cache(self) -> None:
        """Size the page cache to the store: a quarter of the file, at least 64 MiB, at most 512 MiB.

        Inserts land at random positions of the agent, session and dedup indexes; once those outgrow the cache,
        every insert reads its leaf pages back from the OS (the cause of ingest slowing as a store grows). A
        quarter of the file holds the B-tree indexes of a store of millions of memories (the table's own pages,
        most of the file, are appended at the end and are rarely read back by a write). The cache is memory the
        process uses only as pages are touched; it is recomputed as the store grows (`SQLiteEventStore`)."""
        pages, page_size = (
            self._conn.execute("PRAGMA page_count").fetchone()[0],
            self._conn.execute("PRAGMA page_size").fetchone()[0],
        )
        wanted = min(max(pages * page_size // 4, CACHE_MIN_BYTES), CACHE_MAX_BYTES)
        self._conn.execute(f"PRAGMA cache_size=-{wanted // 1024}")  # negative: KiB

    def _prepare(self, synchronous: str, check_integrity: bool, integrity_budget_s: float) -> None:
        """Pragmas, integrity check and migrations: each step idempotent, so the whole may be re-run."""
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA wal_autocheckpoint=0")  # see the module docstring: `checkpoint` does it
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self.size_cache()
        self._conn.execute("PRAGMA temp_store=MEMORY")
        if check_integrity:
            self._check_integrity(integrity_budget_s)
        register_schema_functions(self._conn)
        self._migrate()

    def _check_integrity(self, budget_s: float) -> None:
        """``PRAGMA quick_check`` for at most `budget_s` seconds; raise `StoreCorruptedError` on damage."""
        deadline = time.monotonic() + budget_s
        self._conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)").fetchall()]
        except sqlite3.OperationalError as exc:
            if "interrupt" not in str(exc):
                raise
            log.info(
                "%s: integrity check stopped after %.1f s (large store): the part read is sound",
                self.path,
                budget_s,
            )
            return
        finally:
            self._conn.set_progress_handler(None, 0)
        if problems != ["ok"]:
            raise damaged(self.path, "quick_check: " + "; ".join(problems))

    def _over_budget(self) -> bool:
        """Progress handler: True (interrupt) when the running read has used up its time budget."""
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._budget_hit = True
            return True
        return False

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
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        with self.read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def write_gate(self) -> threading.Lock:
        """The lock every write transaction of this connection takes first (see the module docstring)."""
        return self._gate

    def aside(self) -> SQLiteDatabase:
        """A second connection to this database (opened on first use, closed with this one), for long batched
        deletes: its `write()` transactions share this one's write gate but not its connection, so readers of
        this process are not held up by them. Call `write()` on it only from a thread outside this one's
        `read()`/`write()` blocks."""
        with self._lock:
            if self._aside is None:
                aside = SQLiteDatabase(
                    self.path,
                    synchronous=self._synchronous,
                    busy_timeout_ms=self._busy_timeout_ms,
                    query_budget_s=self.query_budget_s,
                    integrity_budget_s=0,  # checked (and migrated) when this one opened
                    write_gate=self._gate,
                    # Its batches checkpoint when they choose (SQLiteEventStore.delete_batch): every ~1,000 pages
                    # synced the file again, most of a 100,000-memory forget's disk time.
                    checkpoint_after_writes=False,
                )
                self._aside = aside
            return self._aside

    def checkpoint(self, *, wait: bool = True) -> None:
        """Copy the write-ahead log into the database file as far as readers allow, on a connection of its own
        (a PASSIVE checkpoint: it waits for no lock and holds up no reader or writer). `wait=False` runs it in a
        thread and returns at once (if one is running already, that one will do), so that the caller's work
        and the checkpoint's disk writes overlap; `wait=True` waits for any running one, then runs one.

        A checkpoint that fails (a full disk) is logged and left for the next one: everything it would have
        copied is committed in the log already."""
        with self._checkpoint_lock:
            running = self._checkpoint_thread
            if running is not None and running.is_alive():
                if not wait:
                    return
            else:
                running = None
            if not wait:
                thread = threading.Thread(target=self._checkpoint, name="memtrace-checkpoint", daemon=True)
                self._checkpoint_thread = thread
                thread.start()
                return
        if running is not None:
            running.join()
        self._checkpoint()

    def _checkpoint(self) -> None:
        with self._checkpoint_lock:
            if self._closed:
                return
            if self._checkpointer is None:
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=self._busy_timeout_ms / 1000,
                )
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                self._checkpointer = conn
            conn = self._checkpointer
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("%s: checkpoint failed, left for the next one: %s", self.path, exc)

    def sync_log(self) -> None:
        """Wait until the write-ahead log is on disk, and with it every transaction committed so far (a commit
        with ``durable=False`` did not wait): the log's file synced as a whole, as a durable commit syncs it."""
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # no log: every commit is in the database file, which the checkpoint that emptied it synced
        except OSError as exc:
            raise translate(sqlite3.OperationalError(str(exc)), self.path) from None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def truncate_log(self) -> None:
        """Cut the write-ahead log file to nothing if that can be done now: everything in it copied into the
        database and nobody reading it (SQLite otherwise keeps the file at the largest size it ever reached, and
        old pages in it). Holds the write gate, so writers of this process wait at the gate for the moment it
        takes, never at SQLite's lock holding a connection; waits for no reader."""
        with self._gate, self._checkpoint_lock:
            if self._closed or self._checkpointer is None:
                return
            conn = self._checkpointer
            try:
                conn.execute("PRAGMA busy_timeout=0")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                log.info("%s: log not cut back now (%s); it is reused from its start", self.path, exc)
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")

    def log_pages(self) -> int:
        """Pages in the write-ahead log since it last started over (copied into the database or not)."""
        return self._log_header()[0]

    def _log_backlog(self) -> int:
        """Pages in the log not yet copied into the database file."""
        frames, copied = self._log_header()
        return max(frames - copied, 0)

    def _log_header(self) -> tuple[int, int]:
        """(pages in the log, pages of it copied into the database file), read from the log's index (the -shm
        file, whose layout is fixed so that every SQLite version can share a database:
        www.sqlite.org/walformat.html, ``mxFrame`` at byte 16 of its header and ``nBackfill`` at byte 96, native
        byte order). Figures read while another connection changes them may be off; they only decide when to
        checkpoint."""
        try:
            with self._checkpoint_lock:
                if self._shm is None:
                    self._shm = os.open(f"{self.path}-shm", os.O_RDONLY)
                shm = self._shm
            header = os.pread(shm, 100, 0)
        except OSError:
            return 0, 0
        if len(header) < 100:
            return 0, 0
        frames: int = struct.unpack_from("=I", header, 16)[0]
        copied: int = struct.unpack_from("=I", header, 96)[0]
        return frames, copied

    def _after_write(self) -> None:
        """After a write transaction, holding the write gate only: a checkpoint if the log is long."""
        if self._checkpoint_after_writes and self._log_backlog() >= CHECKPOINT_PAGES:
            self.checkpoint()

    @contextmanager
    def _holding(self) -> Iterator[None]:
        """The connection's lock, noting which thread holds it (so a nested write() skips the gate)."""
        with self._lock:
            outer = self._holder
            self._holder = threading.get_ident()
            try:
                yield
            finally:
                self._holder = outer

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for statements that only read; each block has the query time budget."""
        with self._holding():
            outer = self._deadline  # a read inside a read keeps the outer one's budget
            if self.query_budget_s > 0 and outer is None:
                self._deadline = time.monotonic() + self.query_budget_s
            self._budget_hit = False
            try:
                yield self._conn
            except sqlite3.IntegrityError:
                raise  # a constraint the store itself handles (e.g. a name taken)
            except sqlite3.Error as exc:
                raise translate(exc, self.path, interrupted_by_budget=self._budget_hit) from None
            finally:
                self._deadline = outer

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception (a failed COMMIT
        included, so the connection is usable again at once, e.g. once a full disk has room).

        `durable=False` commits without waiting for the disk (``synchronous=NORMAL`` for this transaction: safe
        against a crash of the process, not against power loss) for writes whose loss nobody could notice;
        the next durable commit makes it durable too."""
        if self._holder == threading.get_ident():
            # Already inside this connection's read() or write(): the gate comes after the connection only here,
            # and nothing that holds the gate waits for the connection of a thread it is not (aside() is another).
            with self._holding():
                yield from self._transaction(durable)
            return
        with self._gate:
            with self._holding():
                yield from self._transaction(durable)
            self._after_write()

    def _transaction(self, durable: bool) -> Iterator[sqlite3.Connection]:
        """The body of `write`, with the locks held."""
        relaxed = not durable and self._synchronous == "FULL"
        if relaxed:
            self._conn.execute("PRAGMA synchronous=NORMAL")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError:
            raise  # a constraint the store itself handles (e.g. a name taken)
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from None
        finally:
            if relaxed:
                self._conn.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        with self._checkpoint_lock:
            self._closed = True
            running = self._checkpoint_thread
        if running is not None:
            running.join()
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        with self._checkpoint_lock:
            if self._shm is not None:
                os.close(self._shm)
                self._shm = None
        with self._lock:
            if self._aside is not None:
                self._aside.close()
                self._aside = None
            self._conn.close()
