"""`SQLiteEventStore`: memories in SQLite with an FTS5 keyword index. Bound parameters only."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from ...errors import StorageFullError
from ...facts import Version, fingerprint, needs_placement, place_version
from ...records import BRIEF_COLUMNS, MemoryFilter, MemoryRecord, brief_record
from ..base import Order, StoreStats
from ..sqlite_filter import MemoryColumns, compile_filter, register_functions
from .database import SQLiteDatabase
from .org_index import BLOCK_BITS, KeywordIndexes, agent_ranges, block_start, key_rowid, rowid_sql
from .ranking import (
    SCORE_LIMIT,
    DocumentFrequencies,
    Phrase,
    all_expression,
    any_expression,
    bm25_expression,
    candidate_expression,
    groups_of,
    index_state,
    phrase_weights,
    query_phrases,
    score_content,
    tier_estimate,
)
from .schema import dedup_hash

_COLUMNS = (
    "id, org_id, time_us, agent_id, session_id, memory_type, event_type, content, metadata_json, tags, "
    "dedup_key, importance, parent_id, expires_us, fact_key, valid_from_us, valid_until_us, superseded_by"
)
_N_COLUMNS = len(_COLUMNS.split(","))
# What a read selects: every column but the org, which the caller knows (every query is scoped by it). Each
# column of each row is an object the sqlite3 module makes, about a microsecond's work for a string like the org.
_M_COLUMNS = ", ".join("m." + c.strip() for c in _COLUMNS.split(",") if c.strip() != "org_id")
_N_SELECTED = _N_COLUMNS - 1
_SELECT = f"SELECT {_M_COLUMNS} FROM memories m"
_SELECT_ROWID = f"SELECT {_M_COLUMNS}, m.rowid FROM memories m"
# What a write inserts: the record's columns less the six most memories leave NULL (a parent, an expiry, the fact
# fields), then dedup_h (schema.dedup_hash of dedup_key: storage only, what the dedup index is keyed by), then
# those six, so that a row's values are a tuple whose first `_N_COMMON` values are all a write must bind when the
# six are NULL (`_insert_rows`).
_RARE_COLUMNS = ("parent_id", "expires_us", "fact_key", "valid_from_us", "valid_until_us", "superseded_by")
_INSERT_COLUMNS = (
    *(c.strip() for c in _COLUMNS.split(",") if c.strip() not in _RARE_COLUMNS),
    "dedup_h",
    *_RARE_COLUMNS,
)
_N_COMMON = len(_INSERT_COLUMNS) - len(_RARE_COLUMNS)
_NO_RARE = (None,) * len(_RARE_COLUMNS)
_ROW = f"({','.join('?' * len(_INSERT_COLUMNS))})"
_COMMON_ROW = f"({','.join(['?'] * _N_COMMON + ['NULL'] * len(_RARE_COLUMNS))})"
_INSERT = f"INSERT INTO memories ({', '.join(_INSERT_COLUMNS)}) VALUES {_ROW}"
ROWS_PER_INSERT = 500
"""Rows one INSERT statement writes (9,500 bound values, under SQLite's default limit of 32,766). The sqlite3
module lets go of the GIL for each statement it steps, and `executemany` steps once per row: an import's writer
thread then had to win the GIL back 2,000 times a batch from the thread reading the file (each time up to the
interpreter's 5 ms switch interval), so the two hardly overlapped. Multi-row statements cost the same processor
time and give the GIL up four times a batch, each for ~5 ms of SQLite's work."""
_MANY_VALUES = ROWS_PER_INSERT * len(_INSERT_COLUMNS)
_INSERT_MANY = (
    f"INSERT INTO memories ({', '.join(_INSERT_COLUMNS)}) VALUES {','.join([_ROW] * ROWS_PER_INSERT)}"
)
_INSERT_MANY_COMMON = (
    f"INSERT INTO memories ({', '.join(_INSERT_COLUMNS)}) VALUES {','.join([_COMMON_ROW] * ROWS_PER_INSERT)}"
)
"""`_INSERT_MANY` with the six rare columns NULL in the statement's text: binding None costs the sqlite3 module
~0.5 us a value (an adapter lookup; an int or a str costs next to nothing), 3 us a row for the six, the larger
part of binding a row."""
# INDEXED BY: left to itself the planner may range-scan (org_id, time_us) over every recent row, 100x slower.
# Only hash hits read their row (for the org and the key itself), and a hit is almost always a true duplicate.
_DEDUP_HITS = (
    "SELECT dedup_key FROM memories INDEXED BY memories_dedup_h "
    "WHERE dedup_h IN ({}) AND time_us > ? AND org_id = ?"
)
_DEDUP_CHUNK = 500
_ANY_EXPIRED = (
    "EXISTS (SELECT 1 FROM memories INDEXED BY memories_expiry WHERE org_id = ? AND expires_us <= ?)"
)
"""Whether a memory of the org (first parameter) has expired by the second and awaits the sweep: a lookup in the
partial expiry index. While none has, "alive now" is true of every row and a read may leave the condition out."""
CHECKPOINT_EVERY = 10_000
"""Memories a run of `delete_batch` deletes between two checkpoints of the log (about 70 MB of log at 1,000,000
memories, where each deleted memory rewrites ~2 pages). Checkpointing every ~1,000 pages, SQLite's default, synced
the database file 180 times in a 100,000-memory forget."""
LOG_RESTART_PAGES = 65_536
"""A run of `delete_batch` waits for its checkpoint once the log holds this many pages (256 MiB of 4 KiB pages),
so that the log starts over (a forget of millions would otherwise grow it by gigabytes)."""
_ROWIDS_IN = "m.rowid IN (SELECT value FROM json_each(?))"
# CROSS JOIN: row by row from the list. Left to itself the planner may walk the agent's whole range of
# memories_agent_time (10,000 rows at a million memories) and test each against the list.
_CANDIDATE_ROWS = (
    "SELECT m.rowid, m.content, m.time_us, COALESCE(m.importance, 0) FROM json_each(?) AS j "
    "CROSS JOIN memories m ON m.rowid = j.value WHERE {}"
)
"""Rows by a JSON list of rowids: one bound parameter however many (no SQLITE_MAX_VARIABLE_NUMBER)."""

log = logging.getLogger("memtrace.store")


def fts_query(text: str) -> str | None:
    """Turn free text into an FTS5 MATCH expression for memories with *any* of its keywords: the keywords ORed
    (BM25 rewards matching more of them), each also as a loose prefix (so exact forms, matching both, rank
    first). Returns None when `text` has no keyword at all."""
    return any_expression(query_phrases(text))


def fts_query_all(text: str) -> str | None:
    """The FTS5 MATCH expression for memories with *every* keyword of `text` (each in some form); None when
    `text` has fewer than two keywords (then it is the same as `fts_query`)."""
    return all_expression(query_phrases(text))


def _encode_tags(tags: tuple[str, ...]) -> str | None:
    return "," + ",".join(tags) + "," if tags else None


def _row_to_record(org_id: str, row: tuple[Any, ...], score: float | None = None) -> MemoryRecord:
    """A row of `_M_COLUMNS` (its first `_N_SELECTED` items) as the org's record."""
    # Positional, in MemoryRecord's field order: keyword arguments cost 2.5x as much, and a 500-memory session
    # context builds 500 of these (tests/core/test_records.py pins the order against the columns).
    tags = row[8]
    return MemoryRecord(
        row[0],  # id
        org_id,  # every row is the org's (the WHERE clause)
        row[1],  # time_us
        row[2],  # agent_id
        row[3],  # session_id
        row[4],  # memory_type
        row[5],  # event_type
        row[6],  # content
        row[7],  # metadata_json
        tuple(tags.strip(",").split(",")) if tags else (),
        row[9],  # dedup_key
        row[10],  # importance
        row[11],  # parent_id
        score,
        row[12],  # expires_us
        row[13],  # fact_key
        row[14],  # valid_from_us
        row[15],  # valid_until_us
        row[16],  # superseded_by
    )


_BRIEF_SELECT = f"SELECT {', '.join('m.' + c for c in BRIEF_COLUMNS)} FROM memories m"
"""What session context reads (`EventStore.query`'s `brief`): the columns it renders, less the org and the
session, which the filter fixes. Each column of each row is a value decoded into a Python object (about 500
instructions each, a NULL too): at 500 rows the eighteen columns were a third of the query's time."""


def _insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """INSERT `rows` (`_insert_row`'s), in order: `ROWS_PER_INSERT` at a time, the rest (fewer) one by one. Only
    three statements, so all stay prepared in the connection's cache (preparing a 500-row statement costs half its
    run)."""
    whole = len(rows) - len(rows) % ROWS_PER_INSERT
    if whole and conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) >= _MANY_VALUES:
        for start in range(0, whole, ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            if all(row[_N_COMMON:] == _NO_RARE for row in chunk):
                conn.execute(_INSERT_MANY_COMMON, [value for row in chunk for value in row[:_N_COMMON]])
            else:
                conn.execute(_INSERT_MANY, [value for row in chunk for value in row])
        rows = rows[whole:]
    conn.executemany(_INSERT, rows)


def _insert_row(
    org_id: str, r: MemoryRecord, hashes: dict[str, int], dedup_since_us: int | None
) -> tuple[Any, ...]:
    key = r.dedup_key
    # Only a memory a later dedup lookup can find enters the dedup index: one whose time is inside the window
    # now. The window only moves forward, so a memory older than it (a backfill, an import of old history) could
    # never be matched, and leaving it out keeps the index to a window's worth of writes instead of the whole
    # store: the index inserts land at random positions, and past the page cache each one costs a page written
    # to the WAL and the file (the cause of a 1,000,000-memory backfill slowing down as it went).
    in_window = dedup_since_us is None or r.time_us > dedup_since_us
    dedup_h = hashes[key] if key is not None and in_window else None
    return (  # in `_INSERT_COLUMNS` order
        r.id,
        org_id,
        r.time_us,
        r.agent_id,
        r.session_id,
        r.memory_type,
        r.event_type,
        r.content,
        r.metadata_json,
        _encode_tags(r.tags),
        key,
        r.importance,
        dedup_h,
        r.parent_id,
        r.expires_us,
        r.fact_key,
        r.valid_from_us,
        r.valid_until_us,
        r.superseded_by,
    )


# INDEXED BY: a key's versions by valid_from, whatever the planner guesses about the org's other rows.
_VERSION = (
    "SELECT id, COALESCE(valid_from_us, time_us), valid_until_us, superseded_by, content, metadata_json "
    "FROM memories"
)


class _SQLiteFactLedger:
    """`memtrace.facts.FactLedger` over one write transaction of the embedded store."""

    def __init__(self, conn: sqlite3.Connection, org_id: str) -> None:
        self.conn = conn
        self.org_id = org_id

    def _one(self, sql: str, params: tuple[Any, ...]) -> Version | None:
        row = self.conn.execute(sql, params).fetchone()
        if row is None:
            return None
        return Version(row[0], row[1], row[2], row[3], fingerprint(row[4], row[5]))

    def at(self, key: str, t: int) -> Version | None:
        return self._one(
            f"{_VERSION} INDEXED BY memories_fact WHERE org_id = ? AND fact_key = ? AND valid_from_us <= ? "
            "ORDER BY valid_from_us DESC, rowid DESC LIMIT 1",
            (self.org_id, key, t),
        )

    def after(self, key: str, t: int) -> Version | None:
        return self._one(
            f"{_VERSION} INDEXED BY memories_fact WHERE org_id = ? AND fact_key = ? AND valid_from_us > ? "
            "ORDER BY valid_from_us, rowid LIMIT 1",
            (self.org_id, key, t),
        )

    def by_id(self, memory_id: str) -> Version | None:
        return self._one(f"{_VERSION} WHERE id = ? AND org_id = ?", (memory_id, self.org_id))

    def cut(self, memory_id: str, valid_until_us: int, superseded_by: str) -> None:
        self.conn.execute(
            "UPDATE memories SET valid_until_us = ?, superseded_by = ? WHERE id = ? AND org_id = ?",
            (valid_until_us, superseded_by, memory_id, self.org_id),
        )


def _only_scope_filters(flt: MemoryFilter) -> bool:
    """True when `flt` filters on nothing the scope tokens do not already cover (org, agent, session), apart
    from `current_only` (few memories are superseded: `_ranked` over-fetches for it and checks)."""
    return not (
        flt.as_of_us is not None
        or flt.fact_key is not None
        or flt.fact_key_prefix is not None
        or flt.memory_types
        or flt.event_types
        or flt.tags
        or flt.since_us is not None
        or flt.until_us is not None
        or flt.content_contains
        or flt.min_importance is not None
        or flt.ids
        or flt.alive_at_us is not None
        or flt.expired_by_us is not None
    )


_COLUMNS_OF_M = MemoryColumns(prefix="m.", tags_csv="m.tags")


def _where(org_id: str, flt: MemoryFilter) -> tuple[str, list[Any]]:
    """The WHERE clause for `flt` over ``memories m``, always starting with the org."""
    return compile_filter(org_id, flt, _COLUMNS_OF_M)


class SQLiteEventStore:
    """Memories in a `SQLiteDatabase`."""

    def __init__(
        self,
        db: SQLiteDatabase,
        *,
        index_backlog: int = 5000,
        rank_limit: int = 20_000,
        score_limit: int = SCORE_LIMIT,
    ) -> None:
        self.db = db
        self.index_backlog = index_backlog
        self.rank_limit = rank_limit
        self.score_limit = score_limit
        self.indexes = KeywordIndexes()
        self.frequencies = DocumentFrequencies()
        self._bulk: SQLiteDatabase | None = None
        self._bulk_lock = threading.Lock()
        self._unsynced = 0  # memories deleted by batches whose commit did not wait for the disk
        self._since_checkpoint = 0  # memories deleted by batches since the last checkpoint
        with db.read() as conn:
            register_functions(conn)

    def append(self, org_id: str, records: list[MemoryRecord], *, dedup_since_us: int | None) -> list[int]:
        return self._insert(org_id, records, dedup_since_us=dedup_since_us, keep_ids=False)

    def import_records(
        self, org_id: str, records: list[MemoryRecord], *, dedup_horizon_us: int | None = None
    ) -> tuple[int, int]:
        # Memories older than the window stay out of the dedup index, as a backfill's do (`_insert_row`): at
        # 200,000 imported memories their random-position index entries were 8-17% of the writer's processor time
        # and 30% of its checkpoints' time.
        skipped = self._insert(
            org_id, records, dedup_since_us=None, keep_ids=True, dedup_horizon_us=dedup_horizon_us
        )
        return len(records) - len(skipped), len(skipped)

    def _insert(
        self,
        org_id: str,
        records: list[MemoryRecord],
        *,
        dedup_since_us: int | None,
        keep_ids: bool,
        dedup_horizon_us: int | None = None,
    ) -> list[int]:
        """Write `records` in one transaction; the indexes skipped. `keep_ids` (imports) skips the ids already
        stored for the org, and repeats within `records`, instead of applying the dedup window
        (`dedup_since_us`, None for imports); `dedup_horizon_us` is the window's start for the dedup index alone
        (`import_records`)."""
        horizon = dedup_since_us if dedup_horizon_us is None else dedup_horizon_us
        skipped: list[int] = []
        rows: list[tuple[Any, ...]] = []
        # Hashed before the write lock is taken: the lock is held for SQLite's work only.
        hashes = {r.dedup_key: dedup_hash(r.dedup_key) for r in records if r.dedup_key is not None}
        with self.db.write() as conn:
            taken = self._stored_ids(conn, org_id, records) if keep_ids else set()
            # One indexed IN-lookup per chunk finds stored duplicates; `seen` also catches those within the batch.
            # Both happen inside the write transaction, so no other writer can add a duplicate in between.
            seen: set[str] = (
                self._stored_keys(conn, org_id, hashes, dedup_since_us)
                if dedup_since_us is not None
                else set()
            )
            ledger = _SQLiteFactLedger(conn, org_id)
            written = 0
            for i, r in enumerate(records):
                if keep_ids:
                    if r.id in taken:
                        skipped.append(i)
                        continue
                    taken.add(r.id)
                if dedup_since_us is not None and r.dedup_key is not None:
                    if r.dedup_key in seen:
                        skipped.append(i)
                        continue
                    seen.add(r.dedup_key)
                # An import keeps the versions as they were exported (validity and all); a write places them.
                if not keep_ids and needs_placement(r):
                    # Versions go in one at a time, so a later one of the batch sees an earlier one; the write
                    # lock makes "find the current version, cut it, insert" one step for every writer.
                    if rows:
                        _insert_rows(conn, rows)
                        written += len(rows)
                        rows = []
                    if not place_version(ledger, r):
                        skipped.append(i)
                        continue
                    conn.execute(_INSERT, _insert_row(org_id, r, hashes, horizon))
                    written += 1
                    continue
                rows.append(_insert_row(org_id, r, hashes, horizon))
            if rows:
                _insert_rows(conn, rows)
                written += len(rows)
            if written:
                indexed, newest = self._index_state(conn)
                if newest - indexed >= self.index_backlog:
                    self._index_pending(conn, indexed, newest)
        return skipped

    # Keyword indexing runs behind the writes. A write commits its rows and their B-tree indexes only; the FTS5
    # index catches up in bulk, either right before a search (so a search always sees every acknowledged write)
    # or inside a write once `index_backlog` rows are pending (so no search ever waits on a large backlog).
    # Single writes touch ~40% fewer pages, and bulk indexing is cheaper per row than row-by-row.

    @staticmethod
    def _index_state(conn: sqlite3.Connection) -> tuple[int, int]:
        """(highest indexed rowid, highest rowid): the rows in between wait for the keyword index."""
        indexed = conn.execute("SELECT indexed_rowid FROM fts_state WHERE id = 1").fetchone()[0]
        newest = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM memories").fetchone()[0]
        return int(indexed), int(newest)

    def _index_pending(self, conn: sqlite3.Connection, indexed: int, newest: int) -> None:
        """Index the rows after `indexed` up to `newest`. Call inside the write transaction that read them."""
        self.indexes.index_after(conn, indexed)
        conn.execute("UPDATE fts_state SET indexed_rowid = ? WHERE id = 1", (newest,))
        self.db.size_cache()  # the store grew by a backlog's worth: keep its indexes in the cache

    def _catch_up(self) -> int | None:
        """Index what is pending. Returns None when everything is indexed, or, when indexing cannot write (a
        full disk), the watermark: rows after it are not in the keyword index, and a search must look at them
        another way (a read must not need a write to succeed)."""
        with self.db.read() as conn:
            indexed, newest = self._index_state(conn)
        if newest <= indexed:
            return None
        try:
            with self.db.write() as conn:
                # Read again under the write lock: another writer may have indexed in between.
                indexed, newest = self._index_state(conn)
                if newest > indexed:
                    self._index_pending(conn, indexed, newest)
        except StorageFullError as exc:
            log.warning("keyword indexing is waiting for disk space (%s); searching the rest in memory", exc)
            return indexed
        return None

    @staticmethod
    def _stored_keys(
        conn: sqlite3.Connection, org_id: str, hashes: dict[str, int], since_us: int
    ) -> set[str]:
        """The keys of `hashes` (dedup key -> its hash) that a memory of the org stored after `since_us` has."""
        distinct = list(set(hashes.values()))
        found: set[str] = set()
        for start in range(0, len(distinct), _DEDUP_CHUNK):
            chunk = distinct[start : start + _DEDUP_CHUNK]
            sql = _DEDUP_HITS.format(",".join("?" * len(chunk)))
            # A shared hash is not a shared key: keep only the keys this batch has.
            found.update(k for (k,) in conn.execute(sql, [*chunk, since_us, org_id]) if k in hashes)
        return found

    @staticmethod
    def _stored_ids(conn: sqlite3.Connection, org_id: str, records: list[MemoryRecord]) -> set[str]:
        """Which of the records' ids the org already holds: one statement (a lookup per id on the org's unique
        index) taking the ids as one JSON list and answering with one, so that the writer gives up the GIL once
        whatever it finds (see `ROWS_PER_INSERT`; a file imported again finds every id)."""
        sql = (
            "SELECT json_group_array(id) FROM memories WHERE org_id = ? "
            "AND id IN (SELECT value FROM json_each(?))"
        )
        (found,) = conn.execute(sql, (org_id, json.dumps([r.id for r in records]))).fetchone()
        return set(json.loads(found))

    def query(
        self,
        org_id: str,
        flt: MemoryFilter,
        *,
        order: Order,
        limit: int,
        offset: int,
        brief: bool = False,
    ) -> list[MemoryRecord]:
        where, params = _where(org_id, flt)
        direction = "ASC" if order == "asc" else "DESC"
        # Brief rows take the session from the filter (context, the one caller, always names one).
        brief_session = flt.session_id if brief and flt.expired_by_us is None else None
        if flt.expired_by_us is not None:
            # A sweep's look for expired memories (see MemoryFilter.expired_by_us): along the partial expiry index,
            # in its order, so a batch reads only its own rows. In time order it would read and sort every
            # expired memory of the org for each batch (30-60 ms at 100,000, with the store's lock held).
            sql = (
                f"{_SELECT} INDEXED BY memories_expiry WHERE {where} "
                f"ORDER BY m.expires_us {direction}, m.rowid {direction} LIMIT ? OFFSET ?"
            )
        else:
            # By key, through the fact index (only keyed memories): left to itself the planner walks
            # (org_id, time_us) newest first until the key's versions turn up, the whole org for an old fact.
            by_key = flt.fact_key is not None or flt.fact_key_prefix is not None
            select = _BRIEF_SELECT if brief_session else _SELECT
            source = select + " INDEXED BY memories_fact" if by_key else select
            sql = (
                f"{source} WHERE {where} ORDER BY m.time_us {direction}, m.rowid {direction} LIMIT ? OFFSET ?"
            )
        with self.db.read() as conn:
            rows = conn.execute(sql, [*params, limit, offset]).fetchall()
        if brief_session:
            return [brief_record(org_id, brief_session, r) for r in rows]
        return [_row_to_record(org_id, r) for r in rows]

    def search(
        self, org_id: str, flt: MemoryFilter, text: str, *, limit: int, offset: int
    ) -> list[MemoryRecord]:
        phrases = query_phrases(text)
        if not phrases:
            return []
        unindexed_after = self._catch_up()
        with self.db.read() as conn:
            flt = self._drop_needless_expiry_check(conn, org_id, flt)
            table = self.indexes.table(conn, org_id)
            tail = (
                self.indexes.index_in_memory(conn, org_id, unindexed_after)
                if unindexed_after is not None
                else None
            )
        # The table holds only the caller's org (org_index.py). Scope tokens narrow the match inside FTS5 (a
        # doclist intersection) to an agent or session; in the org's table an agent's memories also sit in their
        # own key ranges, which a scored tier reads alone. The WHERE still checks every condition on the row.
        scope = []
        ranges: list[tuple[int, int]] | None = None
        if flt.agent_id:
            scope.append(f'scope : "a{flt.agent_id.encode().hex()}"')
            if table is not None:
                with self.db.read() as conn:
                    slot = self.indexes.slot(conn, org_id, flt.agent_id)
                    newest = conn.execute("SELECT indexed_rowid FROM fts_state WHERE id = 1").fetchone()[0]
                if slot is None:
                    table = None  # nothing of the agent is indexed
                else:
                    ranges = agent_ranges(slot, int(newest))
        if flt.session_id:
            scope.append(f'scope : "s{flt.session_id.encode().hex()}"')
        wanted = limit + offset
        # An agent or session holding at most `rank_limit` memories cannot have more matches than that: its
        # searches need no rank window, which saves one evaluation of each tier's expression (at a million
        # memories, a third of an agent's search). Found out only if a tier needs to know (one that goes to
        # bm25(), or a `rank_limit` below `score_limit`): the probe walks the scope's index entries up to
        # `rank_limit`, 1-1.5 ms for an agent of 10,000 memories, and a tier scored outside bm25() has no window.
        probed: list[bool] = []

        def windowed() -> bool:
            if not probed:
                probed.append(not scope or self._scope_exceeds_rank_limit(org_id, flt))
            return probed[0]

        found: list[MemoryRecord] = []
        # Degraded (disk full): the memories not yet indexed, from an index in memory, come first, newest writes
        # being what a caller most expects to find; then the rest, by the org's index.
        for index, keyed in ((tail, False), (table, True)):
            if index is not None and len(found) < wanted:
                seen = {r.id for r in found}
                # The in-memory tail keeps bm25(): its statistics are its own, as they always were.
                more = self._tiers(
                    index, scope, ranges if keyed else None, org_id, flt, phrases, wanted, windowed, keyed
                )
                found += [r for r in more if r.id not in seen][: wanted - len(found)]
        return found[offset:wanted]

    @staticmethod
    def _drop_needless_expiry_check(conn: sqlite3.Connection, org_id: str, flt: MemoryFilter) -> MemoryFilter:
        """`flt` without its expiry condition when no memory of the org has expired (one probe of the partial
        expiry index): a search filtered on nothing but scope keeps the plan that ranks inside FTS5."""
        if flt.alive_at_us is None:
            return flt
        expired = conn.execute(f"SELECT {_ANY_EXPIRED}", (org_id, flt.alive_at_us)).fetchone()[0]
        return flt if expired else dataclasses.replace(flt, alive_at_us=None)

    def _tiers(
        self,
        table: str,
        scope: list[str],
        ranges: list[tuple[int, int]] | None,
        org_id: str,
        flt: MemoryFilter,
        phrases: list[Phrase],
        wanted: int,
        windowed: Callable[[], bool],
        keyed: bool,
    ) -> list[MemoryRecord]:
        """The best `wanted` matches in `table`. Two tiers, one total order: memories with every keyword first,
        then those with some, each tier by BM25. The first tier is small even in a large store, so it is ranked
        in full; the second is only needed when the first runs short, and there the rank window bounds the
        work. `keyed`: `table` is an org's index (rows keyed as org_index.py says, `ranges` the agent's key ranges
        when scoped to one), where a tier with few candidates is scored by `ranking` instead of ``bm25()``;
        else the in-memory index of rows not yet indexed (keyed by rowid, ranked by ``bm25()``). `windowed()`:
        whether the matches may exceed `rank_limit`."""
        found: list[MemoryRecord] = []
        limit = self.rank_limit if self.rank_limit < self.score_limit and windowed() else self.score_limit
        # Our Porter stemmer is FTS5's on ASCII words (tests/arc/test_search_terms.py); FTS5 stems the UTF-8
        # bytes of other words, which can differ ("straße"), so a query with one is ranked by bm25() alone.
        if not all(p.term.pattern.isascii() for p in phrases):
            limit = 0
        # An org-wide tier reads every match whichever way it is scored, and bm25() does it in C: scoring its
        # candidates in Python made the bench queries 2.3-2.6x slower at 100,000 memories (4.4-5.0 -> 11-13 ms;
        # back to 5.1-5.3 this way, same quiet machine), and at 1,000,000 a match costs 25-50 us to read and
        # score in Python against ~2 us in bm25() (the bench's all-words tiers hold 650-30,000 matches). Scoring
        # outside bm25() pays where a scope narrows the candidates but not bm25()'s walk of each whole doclist.
        if not scope:
            limit = 0

        def tier(expression: str, n: int) -> list[MemoryRecord]:
            match = " AND ".join([*scope, f"content : ({expression})"])
            every = expression is all_words
            ranked = (
                self._scored(table, scope, every, ranges, org_id, flt, n, phrases, limit)
                if keyed and limit
                else None
            )
            if ranked is not None:
                return ranked
            if not keyed:
                return self._ranked(table, match, org_id, flt, n, windowed(), keyed, match)
            ranking, plain, estimate = self._match_plan(table, scope, phrases, every)
            # A tier that likely matches no more than the rank window holds is ranked in one pass that also finds
            # the window, instead of a pass to find the window first.
            return self._ranked(
                table,
                ranking,
                org_id,
                flt,
                n,
                windowed(),
                keyed,
                plain or ranking,
                one_pass=estimate <= self.rank_limit,
            )

        all_words = all_expression(phrases)
        if all_words is not None:
            found = tier(all_words, wanted)
        if len(found) < wanted:
            seen = {r.id for r in found}
            any_words = any_expression(phrases)
            assert any_words is not None
            more = tier(any_words, wanted + len(found))
            found += [r for r in more if r.id not in seen][: wanted - len(found)]
        return found

    def _scored(
        self,
        table: str,
        scope: list[str],
        every: bool,
        ranges: list[tuple[int, int]] | None,
        org_id: str,
        flt: MemoryFilter,
        n: int,
        phrases: list[Phrase],
        limit: int,
    ) -> list[MemoryRecord] | None:
        """The best `n` memories of a tier (memories with some phrase of `every` keyword, or of any) within
        `scope`, as `_ranked` orders them, scored by `ranking`; None when the tier has more than `limit`
        candidates (then `_ranked` is the cheaper way). `ranges`: only keys in these (an agent's), each read by
        a seek in FTS5's doclists.

        The some-keywords tier takes its keywords one at a time, the one that can add most to a score first
        (a keyword's phrases can add at most their weights), and stops once the `n`-th best score found beats
        everything the keywords not yet read could add together: a memory with none of the read keywords
        scores at most that. A rare word with a very common one (whose idf is near zero) reads the rare word's
        matches only. The answer is the same as scoring every match."""
        where, params = _where(org_id, flt)
        with self.db.read() as conn:
            state = index_state(conn, table)
            w = phrase_weights(conn, table, phrases, self.frequencies, state)
            if w is None:
                return []
            alternatives = self.frequencies.alternatives(conn, table, phrases, state)
            if every:
                steps = [list(range(len(phrases)))]
            else:
                steps = sorted(groups_of(phrases), key=lambda g: -sum(w.bound(i) for i in g))
            bounds = [sum(w.bound(i) for g in steps[k + 1 :] for i in g) for k in range(len(steps))]
            df = self.frequencies.get(conn, table, phrases, state)
            if not scope and every and min(max(df[i] for i in g) for g in groups_of(phrases)) > 4 * limit:
                # Org-wide, every keyword in thousands of memories: the tier is almost surely over `limit`
                # (if not, bm25() gives the same answer, only slower).
                return None
            seen: set[int] = set()
            scored: list[tuple[float, int, float, int]] = []
            for step, bound in zip(steps, bounds, strict=True):
                expression = candidate_expression(
                    [phrases[i] for i in step], [alternatives[i] for i in step], every
                )
                if not scope and not every and max(df[i] for i in step) > limit - len(seen):
                    return None  # this keyword alone has more candidates than are left to score
                if expression is not None:
                    keys = self._candidates(conn, table, scope, expression, ranges, limit - len(seen))
                    if keys is None:
                        return None
                    rowids = [r for r in map(key_rowid, keys) if r not in seen]
                    seen.update(rowids)
                    # bm25() order: best score, then the newer, then the more important memory, then the
                    # later row.
                    scored += [
                        (score_content(content, phrases, w), t, imp, r)
                        for r, content, t, imp in conn.execute(
                            _CANDIDATE_ROWS.format(where), [json.dumps(rowids), *params]
                        )
                    ]
                    scored = sorted(scored, reverse=True)[:n]
                if len(scored) >= n and scored[-1][0] > bound:
                    break
            if not scored:
                return []
            full = {
                row[-1]: row
                for row in conn.execute(
                    f"{_SELECT_ROWID} WHERE {_ROWIDS_IN}", [json.dumps([b[3] for b in scored])]
                )
            }
        return [_row_to_record(org_id, full[b[3]][:_N_SELECTED], score=round(b[0], 6)) for b in scored]

    @staticmethod
    def _candidates(
        conn: sqlite3.Connection,
        table: str,
        scope: list[str],
        expression: str,
        ranges: list[tuple[int, int]] | None,
        limit: int,
    ) -> list[int] | None:
        """The keys matching `expression` within `scope` (and `ranges`); None when more than `limit`."""
        match = " AND ".join([*scope, f"content : ({expression})"])
        keys: list[int] = []
        for lo, hi in ranges if ranges is not None else [(0, 2**63 - 1)]:
            keys += [
                k
                for (k,) in conn.execute(
                    f"SELECT rowid FROM {table} WHERE {table} MATCH ? AND rowid BETWEEN ? AND ? LIMIT ?",
                    (match, lo, hi, limit + 1 - len(keys)),
                )
            ]
            if len(keys) > limit:
                return None
        return keys

    def _ranked(
        self,
        table: str,
        match: str,
        org_id: str,
        flt: MemoryFilter,
        n: int,
        windowed: bool,
        keyed: bool,
        window_match: str,
        *,
        one_pass: bool = False,
    ) -> list[MemoryRecord]:
        """The best `n` memories for one MATCH expression over the org's `table` that pass `flt`, best first,
        with `score` set. `windowed`: the match may exceed `rank_limit` (else every match is ranked). `keyed`:
        the table's rows are keyed as org_index.py says (else by rowid). `window_match`: an expression matching
        the same memories, for finding the window. `one_pass` (with `windowed`): rank every match in one pass
        that keeps them (MATERIALIZED) and takes the window from what it kept, instead of a pass over the
        matches to find the window first; cheaper while the matches are not many more than `rank_limit` (every
        one is scored), the same answer either way."""
        rowid = rowid_sql("rowid") if keyed else "rowid"
        where, params = _where(org_id, flt)
        # bm25() is lower-is-better; the scope column weighs nothing. Ties go to the newer, then the more
        # important memory.
        order = "c.rank, m.time_us DESC, COALESCE(m.importance, 0) DESC, m.rowid DESC"
        source = (
            f"SELECT {rowid} AS rowid, bm25({table}, 1.0, 0.0) AS rank FROM {table} "
            f"WHERE {table} MATCH ? AND rowid >= ? AND {rowid} >= ?"
        )

        def run(top: bool, args: list[Any]) -> list[Any]:
            if one_pass:
                # The window is the matches from the `rank_limit`-th newest on (all of them when fewer).
                inner = "ORDER BY rank, rowid DESC LIMIT ?" if top else ""
                sql = (
                    f"WITH a AS MATERIALIZED ({source}) SELECT {_M_COLUMNS}, c.rank FROM (SELECT rowid, rank "
                    "FROM a WHERE rowid >= COALESCE((SELECT rowid FROM a ORDER BY rowid DESC LIMIT 1 OFFSET ?), 0) "
                    f"{inner}) AS c JOIN memories m ON m.rowid = c.rowid WHERE {where} ORDER BY {order} LIMIT ?"
                )
                args = [*args[:3], self.rank_limit - 1, *args[3:]]
            else:
                inner = f"ORDER BY rank, {rowid} DESC LIMIT ?" if top else ""
                sql = (
                    f"SELECT {_M_COLUMNS}, c.rank FROM ({source} {inner}) AS c "
                    f"JOIN memories m ON m.rowid = c.rowid WHERE {where} ORDER BY {order} LIMIT ?"
                )
            with self.db.read() as conn:
                return conn.execute(sql, args).fetchall()

        one_pass = one_pass and windowed
        start, newest = self._rank_window(table, window_match, keyed) if windowed and not one_pass else (0, 0)
        if _only_scope_filters(flt):
            # Nothing but scope to filter on: take the best matches inside FTS5, then join only those. Joining
            # every match to read its row is what makes the general plan slow (~1 us per match). Superseded
            # memories may be among them: twice `n` leaves room, and when that is not enough the general plan runs.
            best = 2 * n if flt.current_only else n
            rows = run(True, [match, start, newest, best, *params, n])
            if flt.current_only and len(rows) < n:
                rows = run(False, [match, start, newest, *params, n])
        else:
            rows = run(False, [match, start, newest, *params, n])
        return [_row_to_record(org_id, r[:_N_SELECTED], score=round(-r[_N_SELECTED], 6)) for r in rows]

    def _match_plan(
        self, table: str, scope: list[str], phrases: list[Phrase], every: bool
    ) -> tuple[str, str | None, int]:
        """For a tier ranked by ``bm25()`` in the org's `table`: its MATCH expression for ``bm25()``
        (`ranking.bm25_expression`: a loose prefix standing for one term is that term, same scores), the same
        with every loose prefix as the terms it stands for (no doclist merges; None when nothing can match),
        which finds the rank window, and about how many memories of the org it matches."""
        with self.db.read() as conn:
            state = index_state(conn, table)
            alternatives = self.frequencies.alternatives(conn, table, phrases, state)
            df = self.frequencies.get(conn, table, phrases, state, counted=False)
        ranking = bm25_expression(phrases, alternatives, every)
        plain = candidate_expression(phrases, alternatives, every)
        assert ranking is not None
        return (
            " AND ".join([*scope, f"content : ({ranking})"]),
            " AND ".join([*scope, f"content : ({plain})"]) if plain else None,
            tier_estimate(state.rows, df, phrases, every),
        )

    def _scope_exceeds_rank_limit(self, org_id: str, flt: MemoryFilter) -> bool:
        """True when the agent and/or session of `flt` hold more than `rank_limit` memories: a B-tree probe that
        stops at `rank_limit` (well under a millisecond), where a rank window costs a pass over the doclists."""
        where, params = _where(org_id, MemoryFilter(agent_id=flt.agent_id, session_id=flt.session_id))
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT 1 FROM memories m WHERE {where} LIMIT 1 OFFSET ?", [*params, self.rank_limit]
            ).fetchone()
        return row is not None

    def _rank_window(self, table: str, match: str, keyed: bool) -> tuple[int, int]:
        """Which matches are ranked: those with key >= the first number and rowid >= the second. (0, 0), all
        of them, unless the query matches more than `rank_limit` memories, in which case only the `rank_limit`
        most recently stored matches are ranked.

        BM25 costs about a microsecond per match, so a query of common words over a million memories would take
        seconds; bounding the work keeps every search in the tens of milliseconds. Matches arrive in key order,
        which is rowid order by blocks (org_index.py): the `rank_limit`-th match from the end in key order
        says in which block the newest `rank_limit` by rowid begin, and a second pass from that block's first
        key finds their lowest rowid exactly. While every indexed memory is in the first block (rowids below
        2**BLOCK_BITS, about a million memories), that block is known and the first pass is skipped: it walked
        the newest `rank_limit` matches backwards, 25-40 ms for common words at a million memories."""
        with self.db.read() as conn:
            if keyed and self._indexed_rowid(conn) < 1 << BLOCK_BITS:
                start = 0
            else:
                row = conn.execute(
                    f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
                    (match, self.rank_limit - 1),
                ).fetchone()
                if row is None:
                    return 0, 0
                if not keyed:
                    return int(row[0]), 0
                start = block_start(int(row[0]))
            rowid = rowid_sql("rowid")
            row = conn.execute(
                f"SELECT {rowid} AS r FROM {table} WHERE {table} MATCH ? AND rowid >= ? ORDER BY r DESC "
                "LIMIT 1 OFFSET ?",
                (match, start, self.rank_limit - 1),
            ).fetchone()
        # No row (possible only with one block): fewer than `rank_limit` matches in all.
        return (start, int(row[0])) if row is not None else (0, 0)

    @staticmethod
    def _indexed_rowid(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT indexed_rowid FROM fts_state WHERE id = 1").fetchone()[0])

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        with self.db.read() as conn:
            row = conn.execute(f"{_SELECT} WHERE m.id = ? AND m.org_id = ?", (memory_id, org_id)).fetchone()
        return _row_to_record(org_id, row) if row else None

    def delete(self, org_id: str, flt: MemoryFilter) -> int:
        where, params = _where(org_id, flt)
        # By ids (at most 1,000: a sweep's batch, a delete by id list): through the id index. Without statistics
        # the planner takes "org_id = ?" for ~10 rows and walks every memory of the org instead (measured
        # 50 ms per statement at 50,000 memories, with the write lock held).
        by_id = " INDEXED BY memories_id" if flt.ids else ""
        # A delete of expired memories only (a sweep's) commits without waiting for the disk: lost to a power
        # cut, those memories are still expired (no read returns them) and the next sweep deletes them again.
        # Writers queued behind the sweep then wait for its statements, not also for its fsyncs.
        with self.db.write(durable=flt.expired_by_us is None) as conn:
            return self._delete_where(conn, org_id, where, params, indexed_by=by_id)

    def _bulk_db(self) -> SQLiteDatabase:
        """The store's second connection (`SQLiteDatabase.aside`), with the filter's SQL functions."""
        if self._bulk is None:
            bulk = self.db.aside()
            with bulk.read() as conn:
                register_functions(conn)
            self._bulk = bulk
        return self._bulk

    def delete_batch(self, org_id: str, flt: MemoryFilter, *, limit: int) -> int:
        """Delete at most `limit` matching memories in one write transaction (see `EventStore.delete_batch`).
        The rows are picked by rowid first, so the FTS removal and the DELETE touch exactly those rows, and the
        transaction's cost is bounded by `limit` whatever the filter matches.

        On the second connection (`SQLiteDatabase.aside`): a forget is seconds of these, and this process's
        readers keep reading their snapshot meanwhile instead of queueing for the connection; writers queue
        for one batch at most (the write gate).

        Disk work is per run of batches, not per batch. Batches commit without waiting for the disk; the last
        one (no more rows match than `limit`: the caller will not call again, by the protocol) syncs the log
        file, and with it every batch before it, before it returns, so a run that has returned is durable as
        `delete` is. A power cut may undo some batches of a run that has not returned, as a cut-off run leaves
        some batches undone anyway (run it again). The log is checkpointed between batches every
        `CHECKPOINT_EVERY` memories and after the last batch, outside the write gate, and then cut to nothing
        if nobody reads it (`SQLiteDatabase.truncate_log`)."""
        where, params = _where(org_id, flt)
        by_id = " INDEXED BY memories_id" if flt.ids else ""
        bulk = self._bulk_db()
        with bulk.write(durable=False) as conn:
            rowids = [
                r
                for (r,) in conn.execute(
                    f"SELECT m.rowid FROM memories m{by_id} WHERE {where} LIMIT ?", [*params, limit + 1]
                )
            ]
            last = len(rowids) <= limit
            deleted = (
                self._delete_where(conn, org_id, _ROWIDS_IN, [json.dumps(rowids[:limit])]) if rowids else 0
            )
        with self._bulk_lock:
            self._unsynced += deleted
            self._since_checkpoint += deleted
            sync = last and self._unsynced > 0 and flt.expired_by_us is None
            checkpoint = last or self._since_checkpoint >= CHECKPOINT_EVERY
            if sync:
                self._unsynced = 0
            if checkpoint:
                self._since_checkpoint = 0
        if checkpoint:
            # Between batches in a thread of its own, its disk writes overlapping the next batches (and kept out
            # of the batch's time, by which the caller sizes the next). After the last one, waited for; and when
            # the log has grown past LOG_RESTART_PAGES: the log starts over only after a checkpoint that nothing
            # was written beside, which an overlapping one never is.
            bulk.checkpoint(wait=last or bulk.log_pages() > LOG_RESTART_PAGES)
        if sync:
            bulk.sync_log()  # every batch of the run, on disk before the caller hears it is done
        if last:
            bulk.truncate_log()
        return deleted

    def _delete_where(
        self, conn: sqlite3.Connection, org_id: str, where: str, params: list[Any], *, indexed_by: str = ""
    ) -> int:
        """Delete the org's memories matching `where` (over ``memories m``) and take them out of the org's
        keyword index first, so its BM25 statistics (row count, lengths, term frequencies) stop counting them.
        Call inside a write transaction."""
        indexed = conn.execute("SELECT indexed_rowid FROM fts_state WHERE id = 1").fetchone()[0]
        self.indexes.remove(conn, org_id, where, params, indexed, indexed_by=indexed_by)
        cur = conn.execute(f"DELETE FROM memories AS m{indexed_by} WHERE {where}", params)
        # SQLite reuses the highest rowid after it is deleted. Lower the watermark to the new maximum so that a
        # reused rowid counts as not yet indexed; everything between the two was just deleted.
        conn.execute(
            "UPDATE fts_state SET indexed_rowid = MIN(indexed_rowid, (SELECT COALESCE(MAX(rowid), 0) FROM "
            "memories)) WHERE id = 1"
        )
        return cur.rowcount

    def count(self, org_id: str, flt: MemoryFilter) -> int:
        # "Alive now" and "current only" are the two conditions of nearly every count, and both need the row
        # (its expiry, its validity): counting an agent's 10,000 memories read 10,000 rows, 17 ms at a million
        # memories, and a dashboard asks for dozens of counts. When no memory of the org has expired (awaiting the
        # sweep) and none in scope is superseded, both are true of every row, and the count without them reads
        # an index alone (~0.1 ms per 1,000). The two partial indexes say so in a lookup each, in the same
        # statement, so the answer is the one snapshot's either way.
        where, params = _where(org_id, flt)
        sql = f"SELECT COUNT(*) FROM memories m WHERE {where}"
        probes: list[str] = []
        probe_params: list[Any] = []
        if flt.alive_at_us is not None:
            probes.append(_ANY_EXPIRED)
            probe_params += [org_id, flt.alive_at_us]
        if flt.current_only:
            by_agent = " AND agent_id = ?" if flt.agent_id else ""
            probes.append(
                "EXISTS (SELECT 1 FROM memories INDEXED BY memories_superseded "
                f"WHERE org_id = ?{by_agent} AND valid_until_us IS NOT NULL)"
            )
            probe_params += [org_id, flt.agent_id] if flt.agent_id else [org_id]
        if probes:
            lean_where, lean_params = _where(
                org_id, dataclasses.replace(flt, alive_at_us=None, current_only=False)
            )
            sql = (
                f"SELECT CASE WHEN {' OR '.join(probes)} THEN ({sql}) "
                f"ELSE (SELECT COUNT(*) FROM memories m WHERE {lean_where}) END"
            )
            params = [*probe_params, *params, *lean_params]
        with self.db.read() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> dict[str, int]:
        where, params = _where(org_id, flt)
        sql = f"SELECT m.memory_type, COUNT(*) FROM memories m WHERE {where} GROUP BY m.memory_type"
        with self.db.read() as conn:
            return {t: int(n) for t, n in conn.execute(sql, params).fetchall()}

    def stats(self) -> StoreStats:
        """Store-wide figures for metrics: memory rows and database bytes."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        return StoreStats(memories=int(rows), bytes=int(pages * page_size))

    def close(self) -> None:
        self.db.close()


__all__ = ["SQLiteEventStore", "fts_query"]
