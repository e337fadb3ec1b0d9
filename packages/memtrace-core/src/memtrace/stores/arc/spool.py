"""`ArcSpool`: the local SQLite file every Arc write passes through, so an acknowledged memory is never lost.

A memory is committed here (WAL, ``synchronous=FULL``) before the writer hears success, and leaves the spool
only when Arc can show it. Rows are never rewritten on the way: the spool is a queue ordered by ``seq``, a
cursor marks how far it has been handed out, and each hand-out is a *batch*, a ``seq`` range with a state:

    rows past the cursor (pending) --claim--> batch B, sent (1) --Arc shows all of B--> rows removed
                                                | not delivered (503, refused)        --> queued (0), sent again
                                                | delivered, still invisible too long --> queued (0), sent again
                                                | Arc refuses it for good (one row)   --> rejected (2), kept

Queued batches go out before new rows. Keeping state per range rather than per row keeps a claim to one
cursor update and a confirmation to one range delete, and leaves two indexes off every insert.

The spool also keeps a dedup index (org, dedup key -> newest time) of everything written through it, so
duplicates are caught while Arc is down and before Arc's buffer makes a row queryable.

Several processes may share one spool file: appends and claims are ``BEGIN IMMEDIATE`` transactions, and the
cursor lives in the file. Reads use their own connection, so they never wait behind a flush.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from ...records import MemoryFilter, MemoryRecord
from ..base import Order
from ..sqlite import files
from ..sqlite_filter import MemoryColumns, compile_filter, register_functions
from . import fact_ledger
from .queries import id_time_window
from .terms import QueryTerm
from .wire import SpoolRow, record_from_spool

T = TypeVar("T")
QUEUED, SENT, REJECTED = 0, 1, 2
PENDING = -1
"""A row past the cursor (in no batch yet)."""

# Same order as wire.SpoolRow (queries.WRITE_COLUMNS without write_batch), with time as integer microseconds.
_ROW_COLUMNS = (
    "time_us, id, org_id, agent_id, session_id, memory_type, event_type, content, metadata_json, tags_csv, "
    "dedup_key, importance, parent_id, expires_us, search_terms, term_count"
)
_SCHEMA = [
    # AUTOINCREMENT: a seq is never reused, even when the queue empties, so the cursor stays meaningful.
    """CREATE TABLE IF NOT EXISTS spool (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time_us INTEGER NOT NULL,
        id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        session_id TEXT,
        memory_type TEXT NOT NULL,
        event_type TEXT NOT NULL,
        content TEXT NOT NULL,
        metadata_json TEXT,
        tags_csv TEXT,
        dedup_key TEXT,
        importance REAL,
        parent_id TEXT,
        expires_us INTEGER,
        search_terms TEXT NOT NULL,
        term_count INTEGER NOT NULL
    )""",
    # No index on id: an id carries its millisecond, so (org_id, time_us) finds it (see _where).
    "CREATE INDEX IF NOT EXISTS spool_org_time ON spool(org_id, time_us)",
    """CREATE TABLE IF NOT EXISTS batches (
        batch TEXT PRIMARY KEY,
        lo INTEGER NOT NULL,
        hi INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        state INTEGER NOT NULL,
        sent_us INTEGER,
        min_time_us INTEGER NOT NULL,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS batches_state ON batches(state, lo)",
    """CREATE TABLE IF NOT EXISTS dedup (
        org_id TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        time_us INTEGER NOT NULL,
        PRIMARY KEY (org_id, dedup_key)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('rows', 0)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('cursor', 0)",
    *fact_ledger.SCHEMA,
]
_INSERT_SEQ = f"INSERT INTO spool (seq, {_ROW_COLUMNS}) VALUES ({','.join('?' * 17)})"
_UPSERT_KEY = (
    "INSERT INTO dedup (org_id, dedup_key, time_us) VALUES (?, ?, ?) "
    "ON CONFLICT (org_id, dedup_key) DO UPDATE SET time_us = max(time_us, excluded.time_us)"
)


class SpoolFullError(Exception):
    """The spool holds `rows` memories, and taking `incoming` more would pass its bound."""

    def __init__(self, rows: int, incoming: int, bound: int) -> None:
        super().__init__(
            f"the Arc spool holds {rows} memories; {incoming} more would pass its bound of {bound}"
        )
        self.rows = rows
        self.incoming = incoming
        self.bound = bound


@dataclass(frozen=True)
class SentBatch:
    batch: str
    rows: int
    sent_us: int
    min_time_us: int


@dataclass(frozen=True)
class SpoolStatus:
    pending: int
    sent: int
    rejected: int
    total: int


@dataclass(frozen=True)
class DeleteCandidate:
    seq: int
    id: str
    dedup_key: str | None
    state: int


_SPOOL_COLUMNS = MemoryColumns(tags_csv="',' || tags_csv || ','", id_time_bounds=id_time_window)


def _where(org_id: str, flt: MemoryFilter) -> tuple[str, list[Any]]:
    return compile_filter(org_id, flt, _SPOOL_COLUMNS)


class ArcSpool:
    """The spool file. Thread-safe; open one per process and directory (several processes may share a file)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 30_000,
        cache_rows: int = 50_000,
    ) -> None:
        self.path = Path(path)
        files.prepare_directory(self.path.parent)
        new = not self.path.exists()
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._cache: dict[int, SpoolRow] = {}
        self._cache_lock = threading.Lock()
        self._cache_limit = cache_rows
        self._synchronous = synchronous
        self._w = self._connect(synchronous, busy_timeout_ms, private=new)
        with self._write_lock:
            self._w.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    self._w.execute(statement)
                # A spool file made before memories could expire: the column is added (at the end; the spool
                # reads and writes by column name).
                spool_columns = {r[1] for r in self._w.execute("PRAGMA table_info(spool)")}
                if "expires_us" not in spool_columns:
                    self._w.execute("ALTER TABLE spool ADD COLUMN expires_us INTEGER")
                self._w.execute("COMMIT")
            except BaseException:
                self._w.execute("ROLLBACK")
                raise
        self._r = self._connect(synchronous, busy_timeout_ms)
        files.tighten_files(self.path)  # what an older version left open to other local users

    def _connect(
        self, synchronous: str, busy_timeout_ms: int, *, private: bool = False
    ) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        if private:
            files.make_private(self.path)  # before the first write: 0600, and its -wal and -shm with it
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        # Rows come and go within seconds: a larger WAL lets SQLite write a page once for many commits.
        conn.execute("PRAGMA wal_autocheckpoint=10000")
        register_functions(conn)
        return conn

    @contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction. `durable=False` skips the fsync of the commit (still safe against a crash of
        the process, not against power loss): for the spool's own bookkeeping, where losing the last commit
        means sending a batch again or confirming it again, never losing a memory. Appends and deletes,
        which callers are told about, are always durable."""
        with self._write_lock:
            if not durable and self._synchronous == "FULL":
                self._w.execute("PRAGMA synchronous=NORMAL")
            try:
                self._w.execute("BEGIN IMMEDIATE")
                try:
                    yield self._w
                except BaseException:
                    self._w.execute("ROLLBACK")
                    raise
                self._w.execute("COMMIT")
            finally:
                if not durable and self._synchronous == "FULL":
                    self._w.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            yield self._r

    # ------------------------------------------------------------------ writes

    def append(
        self,
        org_id: str,
        rows: Sequence[SpoolRow],
        *,
        dedup_since_us: int | None,
        known_duplicates: Callable[[], set[str]] | None = None,
        place: Callable[[sqlite3.Connection, list[int]], set[int]] | None = None,
        max_rows: int,
    ) -> list[int]:
        """Commit `rows` (all or nothing) and return the indexes skipped as duplicates.

        With `dedup_since_us`, a row is a duplicate when an earlier row of the batch or the dedup index (anything
        written through this spool after `dedup_since_us`) has its dedup key, or when `known_duplicates()` (keys
        found in Arc) returns it. That call is made after the rows are written, inside the transaction, so the
        write overlaps whatever the call waits for. Raises `SpoolFullError`, writing nothing, when the spool
        would pass `max_rows`. `place(conn, accepted)`, when given, runs last inside the transaction (the fact
        ledger's step, `fact_ledger`) and returns the indexes that are duplicates of their fact's version."""
        skipped: set[int] = set()
        with self._transaction() as conn:
            stored: set[str] = set()
            if dedup_since_us is not None:
                keys = list({row[10] for row in rows if row[10] is not None})
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    stored.update(
                        k
                        for (k,) in conn.execute(
                            "SELECT dedup_key FROM dedup WHERE org_id = ? AND time_us > ? "
                            f"AND dedup_key IN ({','.join('?' * len(chunk))})",
                            [org_id, dedup_since_us, *chunk],
                        )
                    )
            seen: set[str] = set()
            candidates: list[int] = []
            for i, row in enumerate(rows):
                key = row[10]
                if dedup_since_us is not None and key is not None:
                    if key in seen or key in stored:
                        skipped.add(i)
                        continue
                    seen.add(key)
                candidates.append(i)
            if candidates:
                # Explicit seqs (past AUTOINCREMENT's high-water mark) so the rows can be cached under them.
                base = conn.execute(
                    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'spool'), 0)"
                ).fetchone()[0]
                seq_of = {i: base + 1 + n for n, i in enumerate(candidates)}
                conn.executemany(_INSERT_SEQ, [(seq_of[i], *rows[i]) for i in candidates])
                if dedup_since_us is not None and known_duplicates is not None:
                    found = known_duplicates()
                    late = [i for i in candidates if rows[i][10] in found]
                    if late:
                        skipped.update(late)
                        conn.executemany("DELETE FROM spool WHERE seq = ?", [(seq_of[i],) for i in late])
            accepted = [i for i in candidates if i not in skipped]
            if place is not None and accepted:
                same = place(conn, accepted)
                if same:
                    skipped.update(same)
                    conn.executemany("DELETE FROM spool WHERE seq = ?", [(seq_of[i],) for i in same])
                    accepted = [i for i in accepted if i not in same]
            if not accepted:
                conn.execute("SELECT 1")  # nothing to keep; the transaction commits empty
                return sorted(skipped)
            held = conn.execute("SELECT value FROM counters WHERE name = 'rows'").fetchone()[0]
            if held + len(accepted) > max_rows:
                raise SpoolFullError(held, len(accepted), max_rows)
            conn.executemany(
                _UPSERT_KEY, [(org_id, rows[i][10], rows[i][0]) for i in accepted if rows[i][10] is not None]
            )
            conn.execute("UPDATE counters SET value = value + ? WHERE name = 'rows'", (len(accepted),))
        self._cache_rows([(seq_of[i], rows[i]) for i in accepted])
        return sorted(skipped)

    def _cache_rows(self, rows: Sequence[tuple[int, SpoolRow]]) -> None:
        """Keep freshly committed rows in memory for the flusher, which would otherwise read them straight back
        (the spool file stays the truth: anything not cached is read from it)."""
        with self._cache_lock:
            if len(self._cache) + len(rows) > self._cache_limit:
                return
            self._cache.update(rows)

    def _forget_cached_before(self, cursor: int) -> None:
        """Drop cached rows another process has handed out (only when the cache is full: it is rare)."""
        with self._cache_lock:
            if len(self._cache) >= self._cache_limit:
                for seq in [seq for seq in self._cache if seq <= cursor]:
                    del self._cache[seq]

    def _take_rows(self, conn: sqlite3.Connection, seqs: Sequence[int]) -> list[SpoolRow]:
        """The rows at `seqs` (which exist), from the cache where possible."""
        with self._cache_lock:
            cached = {seq: self._cache.pop(seq) for seq in seqs if seq in self._cache}
        missing = [seq for seq in seqs if seq not in cached]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            for seq, *row in conn.execute(
                f"SELECT seq, {_ROW_COLUMNS} FROM spool WHERE seq IN ({','.join('?' * len(chunk))})", chunk
            ):
                cached[seq] = tuple(row)
        return [cached[seq] for seq in seqs]

    def claim(self, limit: int, batch: str, now_us: int) -> list[SpoolRow]:
        """Hand out up to `limit` rows as `batch`, now sent: a queued batch first (oldest first), else the
        rows past the cursor. Returns them in seq order."""
        with self._transaction(durable=False) as conn:
            while True:
                queued = conn.execute(
                    f"SELECT batch, lo, hi FROM batches WHERE state = {QUEUED} ORDER BY lo LIMIT 1"
                ).fetchone()
                if queued is None:
                    break
                old, lo, hi = queued
                conn.execute("DELETE FROM batches WHERE batch = ?", (old,))
                seqs = [
                    r[0]
                    for r in conn.execute(
                        "SELECT seq FROM spool WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?",
                        (lo, hi, limit + 1),
                    )
                ]
                if not seqs:
                    continue  # every row of that batch was deleted meanwhile
                if len(seqs) > limit:  # the rest stays queued, ahead of new rows
                    rest = conn.execute(
                        "SELECT count(*), min(time_us) FROM spool WHERE seq BETWEEN ? AND ?",
                        (seqs[limit], hi),
                    ).fetchone()
                    self._insert_batch(conn, old + "+", seqs[limit], hi, rest[0], QUEUED, None, rest[1])
                    seqs = seqs[:limit]
                rows = self._take_rows(conn, seqs)
                self._insert_batch(
                    conn, batch, lo, seqs[-1], len(rows), SENT, now_us, min(r[0] for r in rows)
                )
                return rows
            cursor = conn.execute("SELECT value FROM counters WHERE name = 'cursor'").fetchone()[0]
            self._forget_cached_before(cursor)
            seqs = [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM spool WHERE seq > ? ORDER BY seq LIMIT ?", (cursor, limit)
                )
            ]
            if not seqs:
                return []
            rows = self._take_rows(conn, seqs)
            conn.execute("UPDATE counters SET value = ? WHERE name = 'cursor'", (seqs[-1],))
            self._insert_batch(
                conn, batch, cursor + 1, seqs[-1], len(rows), SENT, now_us, min(r[0] for r in rows)
            )
        return rows

    @staticmethod
    def _insert_batch(
        conn: sqlite3.Connection,
        batch: str,
        lo: int,
        hi: int,
        rows: int,
        state: int,
        sent_us: int | None,
        min_time_us: int,
    ) -> None:
        conn.execute(
            "INSERT INTO batches (batch, lo, hi, rows, state, sent_us, min_time_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (batch, lo, hi, rows, state, sent_us, min_time_us),
        )

    def unclaim(self, batch: str) -> None:
        """`batch` was not delivered: queue it to be sent again (before newer rows)."""
        with self._transaction(durable=False) as conn:
            conn.execute(f"UPDATE batches SET state = {QUEUED}, sent_us = NULL WHERE batch = ?", (batch,))

    def reject(self, batch: str, error: str) -> None:
        """Arc refuses `batch` for good: keep its rows (readable, counted), but stop sending them."""
        with self._transaction(durable=False) as conn:
            conn.execute(
                f"UPDATE batches SET state = {REJECTED}, sent_us = NULL, error = ? WHERE batch = ?",
                (error, batch),
            )

    def retry_rejected(self) -> int:
        """Queue rejected rows again (after Arc or its configuration was fixed). Returns how many."""
        with self._transaction(durable=False) as conn:
            n = conn.execute(
                f"SELECT COALESCE(sum(rows), 0) FROM batches WHERE state = {REJECTED}"
            ).fetchone()[0]
            conn.execute(f"UPDATE batches SET state = {QUEUED}, error = NULL WHERE state = {REJECTED}")
        return int(n)

    def sent_batches(self) -> list[SentBatch]:
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT batch, rows, sent_us, min_time_us FROM batches WHERE state = {SENT} ORDER BY sent_us"
            ).fetchall()
        return [SentBatch(*r) for r in rows]

    def confirm(self, batches: Sequence[str]) -> int:
        """Arc shows every row of these batches: the spool lets go of them. Returns how many rows left."""
        removed = 0
        with self._transaction(durable=False) as conn:
            for batch in batches:
                found = conn.execute("SELECT lo, hi FROM batches WHERE batch = ?", (batch,)).fetchone()
                if found is None:
                    continue
                removed += conn.execute("DELETE FROM spool WHERE seq BETWEEN ? AND ?", found).rowcount
                conn.execute("DELETE FROM batches WHERE batch = ?", (batch,))
            conn.execute("UPDATE counters SET value = value - ? WHERE name = 'rows'", (removed,))
        return removed

    def requeue(self, batch: str, visible_ids: set[str]) -> int:
        """`batch` is only partly (or not at all) visible after the timeout: drop the rows Arc shows, queue the
        rest to be sent again. Returns how many rows go again."""
        with self._transaction(durable=False) as conn:
            found = conn.execute("SELECT lo, hi FROM batches WHERE batch = ?", (batch,)).fetchone()
            if found is None:
                return 0
            lo, hi = found
            ids = [r[0] for r in conn.execute("SELECT id FROM spool WHERE seq BETWEEN ? AND ?", (lo, hi))]
            gone = [i for i in ids if i in visible_ids]
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                conn.execute(
                    f"DELETE FROM spool WHERE seq BETWEEN ? AND ? AND id IN ({','.join('?' * len(chunk))})",
                    [lo, hi, *chunk],
                )
            conn.execute("UPDATE counters SET value = value - ? WHERE name = 'rows'", (len(gone),))
            again = len(ids) - len(gone)
            if again:
                conn.execute(
                    f"UPDATE batches SET state = {QUEUED}, sent_us = NULL, rows = ? WHERE batch = ?",
                    (again, batch),
                )
            else:
                conn.execute("DELETE FROM batches WHERE batch = ?", (batch,))
        return again

    def prune_dedup(self, older_than_us: int) -> int:
        """Forget dedup keys no window can reach any more."""
        with self._transaction(durable=False) as conn:
            return conn.execute("DELETE FROM dedup WHERE time_us <= ?", (older_than_us,)).rowcount

    # ------------------------------------------------------------------- reads

    def query(self, org_id: str, flt: MemoryFilter, *, order: Order, limit: int) -> list[MemoryRecord]:
        where, params = _where(org_id, flt)
        direction = "ASC" if order == "asc" else "DESC"
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM spool WHERE {where} "
                f"ORDER BY time_us {direction}, id {direction} LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [record_from_spool(r) for r in rows]

    def read_facts(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """Run `read` on the reading connection (the fact ledger's queries, `fact_ledger`)."""
        with self._reading() as conn:
            return read(conn)

    def forget_facts(self, org_id: str, ids: Sequence[str]) -> None:
        """Drop deleted memories from the fact ledger."""
        with self._transaction() as conn:
            fact_ledger.forget(conn, org_id, ids)

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        found = self.query(org_id, MemoryFilter(ids=(memory_id,)), order="asc", limit=1)
        return found[0] if found else None

    def count(self, org_id: str, flt: MemoryFilter) -> tuple[int, list[str]]:
        """How many memories match, and the batches of those already sent (Arc may show them too)."""
        where, params = _where(org_id, flt)
        with self._reading() as conn:
            n = conn.execute(f"SELECT count(*) FROM spool WHERE {where}", params).fetchone()[0]
            batches = self._sent_batches_matching(conn, where, params)
        return int(n), batches

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> tuple[dict[str, int], list[str]]:
        where, params = _where(org_id, flt)
        with self._reading() as conn:
            counts = conn.execute(
                f"SELECT memory_type, count(*) FROM spool WHERE {where} GROUP BY memory_type", params
            ).fetchall()
            batches = self._sent_batches_matching(conn, where, params)
        return {t: int(n) for t, n in counts}, batches

    @staticmethod
    def _sent_batches_matching(conn: sqlite3.Connection, where: str, params: list[Any]) -> list[str]:
        """Sent batches holding a matching row: Arc may already show those rows too."""
        rows = conn.execute(
            f"SELECT b.batch FROM batches b WHERE b.state = {SENT} AND EXISTS "
            f"(SELECT 1 FROM spool WHERE seq BETWEEN b.lo AND b.hi AND {where}) ORDER BY b.batch",
            params,
        ).fetchall()
        return [r[0] for r in rows]

    def term_stats(
        self, org_id: str, flt: MemoryFilter, terms: Sequence[QueryTerm]
    ) -> tuple[int, int, list[int], list[str]]:
        """(memories, their total words, per term how many contain it) among the matching spool rows, and the
        sent batches holding such rows (Arc may count those rows too: the caller subtracts them there)."""
        where, params = _where(org_id, flt)
        presence = ", ".join("sum(instr(search_terms, ?) > 0)" for _ in terms)
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT count(*), sum(term_count), {presence} FROM spool WHERE {where}",
                [*(t.pattern for t in terms), *params],
            ).fetchone()
            batches = self._sent_batches_matching(conn, where, params)
        return int(row[0]), int(row[1] or 0), [int(v or 0) for v in row[2:]], batches

    def search_candidates(
        self, org_id: str, flt: MemoryFilter, terms: Sequence[QueryTerm]
    ) -> list[tuple[MemoryRecord, str, int]]:
        """Matching rows containing any term, with their search terms and word count (to score in Python)."""
        where, params = _where(org_id, flt)
        any_term = " OR ".join("instr(search_terms, ?) > 0" for _ in terms)
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM spool WHERE {where} AND ({any_term})",
                [*params, *(t.pattern for t in terms)],
            ).fetchall()
        return [(record_from_spool(r), r[14], r[15]) for r in rows]

    def delete_candidates(self, org_id: str, flt: MemoryFilter) -> list[DeleteCandidate]:
        """Matching rows with their state: `PENDING`, or their batch's state."""
        where, params = _where(org_id, flt)
        with self._reading() as conn:
            rows = conn.execute(f"SELECT seq, id, dedup_key FROM spool WHERE {where}", params).fetchall()
            ranges = conn.execute("SELECT lo, hi, state FROM batches ORDER BY lo").fetchall()
        out = []
        for seq, memory_id, key in rows:
            state = PENDING
            for lo, hi, batch_state in ranges:
                if lo <= seq <= hi:
                    state = batch_state
                    break
            out.append(DeleteCandidate(seq, memory_id, key, state))
        return out

    def delete(self, org_id: str, candidates: Sequence[DeleteCandidate], dedup_keys: Sequence[str]) -> int:
        """Remove these rows (whatever their state) and forget their dedup keys."""
        removed = 0
        seqs = [c.seq for c in candidates]
        with self._cache_lock:
            for seq in seqs:
                self._cache.pop(seq, None)
        with self._transaction() as conn:
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                removed += conn.execute(
                    f"DELETE FROM spool WHERE org_id = ? AND seq IN ({','.join('?' * len(chunk))})",
                    [org_id, *chunk],
                ).rowcount
            conn.executemany(
                "DELETE FROM dedup WHERE org_id = ? AND dedup_key = ?", [(org_id, k) for k in dedup_keys]
            )
            conn.execute("UPDATE counters SET value = value - ? WHERE name = 'rows'", (removed,))
            if removed:
                # Batches now expect fewer rows in Arc (those were deleted there too); empty ones are done.
                conn.execute(
                    "UPDATE batches SET rows = (SELECT count(*) FROM spool WHERE seq BETWEEN lo AND hi)"
                )
                conn.execute("DELETE FROM batches WHERE rows = 0")
        return removed

    def status(self) -> SpoolStatus:
        with self._reading() as conn:
            by_state = dict(
                conn.execute("SELECT state, COALESCE(sum(rows), 0) FROM batches GROUP BY state").fetchall()
            )
            cursor = conn.execute("SELECT value FROM counters WHERE name = 'cursor'").fetchone()[0]
            fresh = conn.execute("SELECT count(*) FROM spool WHERE seq > ?", (cursor,)).fetchone()[0]
            total = conn.execute("SELECT value FROM counters WHERE name = 'rows'").fetchone()[0]
        return SpoolStatus(
            pending=int(fresh) + int(by_state.get(QUEUED, 0)),
            sent=int(by_state.get(SENT, 0)),
            rejected=int(by_state.get(REJECTED, 0)),
            total=int(total),
        )

    def has_pending(self) -> bool:
        with self._reading() as conn:
            if conn.execute(f"SELECT 1 FROM batches WHERE state = {QUEUED} LIMIT 1").fetchone():
                return True
            cursor = conn.execute("SELECT value FROM counters WHERE name = 'cursor'").fetchone()[0]
            return conn.execute("SELECT 1 FROM spool WHERE seq > ? LIMIT 1", (cursor,)).fetchone() is not None

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._w.close()
            self._r.close()


__all__ = [
    "PENDING",
    "QUEUED",
    "REJECTED",
    "SENT",
    "ArcSpool",
    "DeleteCandidate",
    "SentBatch",
    "SpoolFullError",
    "SpoolStatus",
]
