"""`ArcSpool`: the local SQLite file every Arc write passes through, so an acknowledged memory is never lost.

A memory is committed here (WAL, ``synchronous=FULL``) before the writer hears success. It then moves through
three states, and leaves the spool only when Arc can show it:

    pending (0) --claim--> sent (1), in batch B --Arc shows all of B--> removed
                            |  Arc refused it for good (one row, several times)  --> rejected (2), kept
                            |  not delivered (503, refused connection)            --> pending again
                            |  delivered but still invisible after the timeout   --> pending again

The spool also keeps a dedup index (org, dedup key -> newest time) of everything written through it, so
duplicates are caught while Arc is down and before Arc's buffer makes a row queryable.

Several processes may share one spool file: claims and appends are ``BEGIN IMMEDIATE`` transactions. Reads use
their own connection, so they never wait behind a flush.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...records import MemoryFilter, MemoryRecord
from ..base import Order
from .terms import QueryTerm
from .wire import SpoolRow, record_from_spool

PENDING, SENT, REJECTED = 0, 1, 2

# Same order as wire.SpoolRow (queries.WRITE_COLUMNS without write_batch), with time as integer microseconds.
_ROW_COLUMNS = (
    "time_us, id, org_id, agent_id, session_id, memory_type, event_type, content, metadata_json, tags_csv, "
    "dedup_key, importance, parent_id, search_terms, term_count"
)
_SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS spool (
        seq INTEGER PRIMARY KEY,
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
        search_terms TEXT NOT NULL,
        term_count INTEGER NOT NULL,
        state INTEGER NOT NULL DEFAULT {PENDING},
        batch TEXT,
        error TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS spool_id ON spool(id)",
    "CREATE INDEX IF NOT EXISTS spool_state ON spool(state, seq)",
    "CREATE INDEX IF NOT EXISTS spool_batch ON spool(batch) WHERE batch IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS spool_org_time ON spool(org_id, time_us)",
    """CREATE TABLE IF NOT EXISTS batches (
        batch TEXT PRIMARY KEY,
        rows INTEGER NOT NULL,
        sent_us INTEGER NOT NULL,
        min_time_us INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS dedup (
        org_id TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        time_us INTEGER NOT NULL,
        PRIMARY KEY (org_id, dedup_key)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('rows', 0)",
]
_INSERT = f"INSERT INTO spool ({_ROW_COLUMNS}) VALUES ({','.join('?' * 15)})"
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
    id: str
    dedup_key: str | None
    state: int


def _where(org_id: str, flt: MemoryFilter) -> tuple[str, list[Any]]:
    clauses = ["org_id = ?"]
    params: list[Any] = [org_id]
    if flt.agent_id:
        clauses.append("agent_id = ?")
        params.append(flt.agent_id)
    if flt.session_id:
        clauses.append("session_id = ?")
        params.append(flt.session_id)
    if flt.memory_types:
        clauses.append(f"memory_type IN ({','.join('?' * len(flt.memory_types))})")
        params.extend(flt.memory_types)
    if flt.event_types:
        clauses.append(f"event_type IN ({','.join('?' * len(flt.event_types))})")
        params.extend(flt.event_types)
    for tag in flt.tags:
        clauses.append("instr(',' || tags_csv || ',', ?) > 0")
        params.append(f",{tag},")
    if flt.since_us is not None:
        clauses.append("time_us > ?")
        params.append(flt.since_us)
    if flt.until_us is not None:
        clauses.append("time_us < ?")
        params.append(flt.until_us)
    if flt.content_contains:
        # Python's lower(), as DuckDB's lower() in the Arc query is Unicode-aware (SQLite's is ASCII-only).
        clauses.append("instr(mt_lower(content), ?) > 0")
        params.append(flt.content_contains.lower())
    if flt.min_importance is not None:
        clauses.append("importance >= ?")
        params.append(flt.min_importance)
    if flt.ids:
        clauses.append(f"id IN ({','.join('?' * len(flt.ids))})")
        params.extend(flt.ids)
    return " AND ".join(clauses), params


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else None


class ArcSpool:
    """The spool file. Thread-safe; open one per process and directory (several processes may share a file)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 30_000,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._w = self._connect(synchronous, busy_timeout_ms)
        with self._write_lock:
            self._w.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    self._w.execute(statement)
                self._w.execute("COMMIT")
            except BaseException:
                self._w.execute("ROLLBACK")
                raise
        self._r = self._connect(synchronous, busy_timeout_ms)

    def _connect(self, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.create_function("mt_lower", 1, _lower, deterministic=True)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            self._w.execute("BEGIN IMMEDIATE")
            try:
                yield self._w
            except BaseException:
                self._w.execute("ROLLBACK")
                raise
            self._w.execute("COMMIT")

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
        known_duplicates: frozenset[str] = frozenset(),
        max_rows: int,
    ) -> list[int]:
        """Commit `rows` (all or nothing) and return the indexes skipped as duplicates.

        With `dedup_since_us`, a row is a duplicate when an earlier row of the batch, the dedup index (anything
        written through this spool after `dedup_since_us`) or `known_duplicates` (keys found in Arc) has its
        dedup key. Raises `SpoolFullError`, writing nothing, when the spool would pass `max_rows`."""
        skipped: list[int] = []
        accepted: list[SpoolRow] = []
        with self._transaction() as conn:
            seen: set[str] = set()
            for i, row in enumerate(rows):
                key = row[10]
                if dedup_since_us is not None and key is not None:
                    if key in seen or key in known_duplicates:
                        skipped.append(i)
                        continue
                    hit = conn.execute(
                        "SELECT time_us FROM dedup WHERE org_id = ? AND dedup_key = ?", (org_id, key)
                    ).fetchone()
                    if hit is not None and hit[0] > dedup_since_us:
                        skipped.append(i)
                        continue
                    seen.add(key)
                accepted.append(row)
            if not accepted:
                return skipped
            held = conn.execute("SELECT value FROM counters WHERE name = 'rows'").fetchone()[0]
            if held + len(accepted) > max_rows:
                raise SpoolFullError(held, len(accepted), max_rows)
            conn.executemany(_INSERT, accepted)
            conn.executemany(_UPSERT_KEY, [(org_id, r[10], r[0]) for r in accepted if r[10] is not None])
            conn.execute("UPDATE counters SET value = value + ? WHERE name = 'rows'", (len(accepted),))
        return skipped

    def claim(self, limit: int, batch: str, now_us: int) -> list[SpoolRow]:
        """Mark up to `limit` pending rows (oldest first) as sent in `batch`, and return them."""
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT seq, {_ROW_COLUMNS} FROM spool WHERE state = {PENDING} ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            if not rows:
                return []
            last_seq = rows[-1][0]
            conn.execute(
                f"UPDATE spool SET state = {SENT}, batch = ? WHERE state = {PENDING} AND seq <= ?",
                (batch, last_seq),
            )
            conn.execute(
                "INSERT INTO batches (batch, rows, sent_us, min_time_us) VALUES (?, ?, ?, ?)",
                (batch, len(rows), now_us, min(r[1] for r in rows)),
            )
        return [r[1:] for r in rows]

    def unclaim(self, batch: str) -> None:
        """`batch` was not delivered: its rows are pending again."""
        with self._transaction() as conn:
            conn.execute(f"UPDATE spool SET state = {PENDING}, batch = NULL WHERE batch = ?", (batch,))
            conn.execute("DELETE FROM batches WHERE batch = ?", (batch,))

    def reject(self, batch: str, error: str) -> None:
        """Arc refuses `batch` for good: keep its rows (readable, counted), but stop sending them."""
        with self._transaction() as conn:
            conn.execute(
                f"UPDATE spool SET state = {REJECTED}, batch = NULL, error = ? WHERE batch = ?",
                (error, batch),
            )
            conn.execute("DELETE FROM batches WHERE batch = ?", (batch,))

    def retry_rejected(self) -> int:
        """Put rejected rows back in line (after Arc or its configuration was fixed)."""
        with self._transaction() as conn:
            return conn.execute(
                f"UPDATE spool SET state = {PENDING}, error = NULL WHERE state = {REJECTED}"
            ).rowcount

    def sent_batches(self, sent_before_us: int | None = None) -> list[SentBatch]:
        sql = "SELECT batch, rows, sent_us, min_time_us FROM batches"
        params: tuple[Any, ...] = ()
        if sent_before_us is not None:
            sql += " WHERE sent_us <= ?"
            params = (sent_before_us,)
        with self._reading() as conn:
            return [SentBatch(*r) for r in conn.execute(sql + " ORDER BY sent_us", params).fetchall()]

    def confirm(self, batch: str) -> int:
        """Arc shows every row of `batch`: the spool lets go of them. Returns how many rows left."""
        with self._transaction() as conn:
            removed = conn.execute("DELETE FROM spool WHERE batch = ?", (batch,)).rowcount
            conn.execute("DELETE FROM batches WHERE batch = ?", (batch,))
            conn.execute("UPDATE counters SET value = value - ? WHERE name = 'rows'", (removed,))
        return removed

    def requeue(self, batch: str, visible_ids: set[str]) -> int:
        """`batch` is only partly (or not at all) visible after the timeout: drop the rows Arc shows, send the
        rest again. Returns how many rows go back to pending."""
        with self._transaction() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM spool WHERE batch = ?", (batch,)).fetchall()]
            gone = [i for i in ids if i in visible_ids]
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                conn.execute(f"DELETE FROM spool WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            conn.execute("UPDATE counters SET value = value - ? WHERE name = 'rows'", (len(gone),))
            again = conn.execute(
                f"UPDATE spool SET state = {PENDING}, batch = NULL WHERE batch = ?", (batch,)
            ).rowcount
            conn.execute("DELETE FROM batches WHERE batch = ?", (batch,))
        return again

    def prune_dedup(self, older_than_us: int) -> int:
        """Forget dedup keys no window can reach any more."""
        with self._transaction() as conn:
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

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM spool WHERE id = ? AND org_id = ?", (memory_id, org_id)
            ).fetchone()
        return record_from_spool(row) if row else None

    def count(self, org_id: str, flt: MemoryFilter) -> tuple[int, list[str]]:
        """How many memories match, and the batches of those already sent (Arc may show them too)."""
        where, params = _where(org_id, flt)
        with self._reading() as conn:
            n = conn.execute(f"SELECT count(*) FROM spool WHERE {where}", params).fetchone()[0]
            batches = conn.execute(
                f"SELECT DISTINCT batch FROM spool WHERE {where} AND state = {SENT} ORDER BY batch", params
            ).fetchall()
        return int(n), [b[0] for b in batches]

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> tuple[dict[str, int], list[str]]:
        where, params = _where(org_id, flt)
        with self._reading() as conn:
            counts = conn.execute(
                f"SELECT memory_type, count(*) FROM spool WHERE {where} GROUP BY memory_type", params
            ).fetchall()
            batches = conn.execute(
                f"SELECT DISTINCT batch FROM spool WHERE {where} AND state = {SENT} ORDER BY batch", params
            ).fetchall()
        return {t: int(n) for t, n in counts}, [b[0] for b in batches]

    def term_stats(
        self, org_id: str, flt: MemoryFilter, terms: Sequence[QueryTerm]
    ) -> tuple[int, int, list[int]]:
        """(memories, their total words, per term how many contain it) among the matching spool rows."""
        where, params = _where(org_id, flt)
        presence = ", ".join("sum(instr(search_terms, ?) > 0)" for _ in terms)
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT count(*), sum(term_count), {presence} FROM spool WHERE {where}",
                [*(t.pattern for t in terms), *params],
            ).fetchone()
        return int(row[0]), int(row[1] or 0), [int(v or 0) for v in row[2:]]

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
        return [(record_from_spool(r), r[13], r[14]) for r in rows]

    def delete_candidates(self, org_id: str, flt: MemoryFilter) -> list[DeleteCandidate]:
        where, params = _where(org_id, flt)
        with self._reading() as conn:
            rows = conn.execute(f"SELECT id, dedup_key, state FROM spool WHERE {where}", params).fetchall()
        return [DeleteCandidate(*r) for r in rows]

    def delete(self, org_id: str, ids: Sequence[str], dedup_keys: Sequence[str]) -> int:
        """Remove these memories (whatever their state) and forget their dedup keys."""
        removed = 0
        with self._transaction() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                removed += conn.execute(
                    f"DELETE FROM spool WHERE org_id = ? AND id IN ({','.join('?' * len(chunk))})",
                    [org_id, *chunk],
                ).rowcount
            conn.executemany(
                "DELETE FROM dedup WHERE org_id = ? AND dedup_key = ?", [(org_id, k) for k in dedup_keys]
            )
            conn.execute("UPDATE counters SET value = value - ? WHERE name = 'rows'", (removed,))
            # A batch whose rows were all deleted has nothing left to confirm.
            conn.execute(
                "DELETE FROM batches WHERE batch NOT IN (SELECT DISTINCT batch FROM spool WHERE batch IS NOT NULL)"
            )
        return removed

    def status(self) -> SpoolStatus:
        with self._reading() as conn:
            counts = dict(conn.execute("SELECT state, count(*) FROM spool GROUP BY state").fetchall())
            total = conn.execute("SELECT value FROM counters WHERE name = 'rows'").fetchone()[0]
        return SpoolStatus(
            pending=int(counts.get(PENDING, 0)),
            sent=int(counts.get(SENT, 0)),
            rejected=int(counts.get(REJECTED, 0)),
            total=int(total),
        )

    def has_pending(self) -> bool:
        with self._reading() as conn:
            return conn.execute(f"SELECT 1 FROM spool WHERE state = {PENDING} LIMIT 1").fetchone() is not None

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._w.close()
            self._r.close()


__all__ = ["ArcSpool", "DeleteCandidate", "SentBatch", "SpoolFullError", "SpoolStatus"]
