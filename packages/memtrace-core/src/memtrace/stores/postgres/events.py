"""`PostgresEventStore`: memories in PostgreSQL (schema in `schema.py`, keyword search in `search.py`).

Bound parameters only; the only SQL made from values is partition DDL from integers (`schema.py`) and tsquery
text from quoted lexemes, which is itself passed as a bound parameter (`search.py`).

Dedup without a race across processes and replicas: a write transaction first takes transaction-scoped advisory
locks on its (org, dedup key) pairs, then looks for stored duplicates, then inserts. Under READ COMMITTED each
statement sees what committed before it started, so a second writer of the same key waits for the lock, then
sees the first writer's row. Keys are hashed into `DEDUP_LOCK_BUCKETS` buckets per org and the buckets locked in
ascending order: a batch of 1,000 takes at most that many locks (the shared lock table holds
``max_locks_per_transaction * max_connections``, 6,400 by default) and two batches can never deadlock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import psycopg
import psycopg.errors

from ...errors import ConflictError, MemtraceError, NotFoundError, ValidationError
from ...facts import BatchLedger, Version, fingerprint, needs_placement, place_version
from ...records import BRIEF_COLUMNS, MemoryFilter, MemoryRecord, brief_record
from ..arc.ranking import CorpusStats, rounded, weights
from ..base import Order, StoreStats
from .database import PostgresDatabase, fetch_in_transaction, lock_key
from .filters import Where, where
from .frequencies import document_frequencies, org_counts
from .schema import ensure_partitions, month_of
from .search import (
    SCOPE_AGENT,
    SCOPE_ORG,
    SCOPE_SESSION,
    all_query,
    any_query,
    document_terms,
    query_terms,
    score_sql,
    tf_sql,
    tier_condition,
    weight_params,
)

DEDUP_LOCK_BUCKETS = 256
_COLUMNS = (
    "id",
    "org_id",
    "time_us",
    "agent_id",
    "session_id",
    "memory_type",
    "event_type",
    "content",
    "metadata_json",
    "tags",
    "dedup_key",
    "importance",
    "parent_id",
    "expires_us",
    "fact_key",
    "valid_from_us",
    "valid_until_us",
    "superseded_by",
)
_M_COLUMNS = ", ".join("m." + c for c in _COLUMNS)
_C_COLUMNS = ", ".join("c." + c for c in _COLUMNS)
_INSERT_COLUMNS = (*_COLUMNS, "search_terms", "n_terms", "tsv")
_COPY = f"COPY memories ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"  # literal column names
_INSERT_ROW = "(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"
COPY_FROM_ROWS = 16
"""Batches this large go in with COPY; smaller ones with `memtrace_append` or `memtrace_append_facts` (imports:
one INSERT; COPY costs a round trip more, which is most of a single write's time)."""
_CONTENT = _COLUMNS.index("content")
_STATS_UPSERT = (
    "INSERT INTO corpus_stats (org_id, shard, documents, total_terms, writes) "
    "VALUES (%s, pg_backend_pid() %% 16, %s, %s, 1) ON CONFLICT (org_id, shard) DO UPDATE SET "
    "documents = corpus_stats.documents + EXCLUDED.documents, "
    "total_terms = corpus_stats.total_terms + EXCLUDED.total_terms, writes = corpus_stats.writes + 1"
)
# A write's statistics in one statement (one round trip). The terms are the main statement and the org's
# counts a WITH that it does not read, which PostgreSQL runs after it: every write and delete locks its term
# rows first (sorted, so concurrent writers take shared rows in one order: no deadlock), then its counts row.
# The shard spreads the rows of common words over 16 so writers do not queue on them either.
_STATS_ADD = (
    "WITH c AS (INSERT INTO corpus_stats (org_id, shard, documents, total_terms, writes) "
    "VALUES (%(org)s, pg_backend_pid() %% 16, %(documents)s, %(total)s, 1) ON CONFLICT (org_id, shard) DO UPDATE "
    "SET documents = corpus_stats.documents + EXCLUDED.documents, "
    "total_terms = corpus_stats.total_terms + EXCLUDED.total_terms, writes = corpus_stats.writes + 1) "
    "INSERT INTO term_stats (org_id, term, shard, documents) "
    "SELECT %(org)s, u.term, pg_backend_pid() %% 16, u.n FROM unnest(%(terms)s::text[], %(counts)s::bigint[]) "
    "AS u(term, n) "
    "ON CONFLICT (org_id, term, shard) DO UPDATE SET documents = term_stats.documents + EXCLUDED.documents"
)
_TERMS_FORGET = (
    "t AS (INSERT INTO term_stats (org_id, term, shard, documents) "
    "SELECT %(org)s, g.term, pg_backend_pid() %% 16, -g.n FROM (SELECT u.lexeme AS term, count(*) AS n "
    "FROM d CROSS JOIN LATERAL unnest(d.tsv) AS u WHERE left(u.lexeme, 1) <> '~' GROUP BY u.lexeme) AS g "
    "ORDER BY g.term "
    "ON CONFLICT (org_id, term, shard) DO UPDATE SET documents = term_stats.documents + EXCLUDED.documents)"
)
_DEDUP_PROBE = (
    "SELECT u.k FROM unnest(%s::text[]) AS u(k) CROSS JOIN LATERAL (SELECT 1 FROM memories m "
    "WHERE m.org_id = %s AND m.dedup_key = u.k AND m.time_us > %s LIMIT 1) AS f"
)
"""Which of a write's dedup keys (distinct) the org stored after the window's start: one lookup in the dedup
index per key, whatever the planner thinks of the window. As ``dedup_key = ANY(keys) AND time_us > since``, a
partition still being written (its statistics behind its latest rows) was estimated to hold ~500 rows in the
window and read by time through the primary key instead: at 380,000 memories that read the last day's 67,000
rows, each checked against the 1,000 keys, 60 ms of a batch's server time; this way 4 ms (3,000 index pages)."""
_ROW_BY_KEY = "SELECT * FROM memories m WHERE m.ctid = c.row_at AND m.tableoid = c.partition LIMIT 1"
"""A ranked memory's row, where the ranking read it (partition and row address, within the same statement): a
TID lookup per partition, with no index for the planner to choose. By key instead, the planner, misjudging an org
it had no statistics for yet, read that org's whole (org, id) index for each row (3.4 s for 50 rows of a
9,000-memory org), or the (org, agent, time) index (1.4 ms a row). Lateral, and kept from being flattened into
a join by its LIMIT."""
RANK_WORK_MEM_MB = 32
"""Sort memory of one ranked search (PostgreSQL's ``work_mem``, set for that transaction only)."""
_RANK_SETTINGS = f"SET LOCAL enable_seqscan = off; SET LOCAL work_mem = '{RANK_WORK_MEM_MB}MB'"
"""A ranked tier's transaction settings. A query of common words is estimated to match much of the store, and
the planner then reads all of it sequentially (seconds at 1M memories); the GIN index always finds the
candidates faster. The window's rows are sorted in memory: 20,000 candidates with their terms are ~9 MB, and
with the default 4 MB they were sorted on disk (100 ms of a 1.6 s org-wide search on a busy machine)."""
STORE_SIZE_TTL_S = 60.0
"""How long a process trusts its estimate of the whole store's size (which decides `_org_token_narrows`)."""


@lru_cache(maxsize=4096)
def _text_array(values: tuple[str, ...]) -> str:
    """`values` as a PostgreSQL array literal, every element quoted (``{"a","b\\"c"}``): what a batch's COPY
    sends for ``tags``. PostgreSQL parses it in C, where psycopg dumps a Python list element by element in
    Python (with the months below, 43-44 -> 41 ms of CPU a batch of 1,000). Cached: a store's tag sets repeat."""
    if not values:
        return "{}"
    return '{"' + '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values) + '"}'


def _array_literal(values: list[str]) -> str:
    """`values` as a PostgreSQL array literal, every element quoted (so a stem such as "null" stays a string):
    a batch's thousands of stems and 1,000 dedup keys in a join or two, where psycopg dumps a list element by
    element in Python (4 ms of a 1,000-memory batch). Elements are escaped only when some need it (stems are
    letters and digits; generated dedup keys hex)."""
    if not values:
        return "{}"
    flat = "".join(values)
    if '"' in flat or "\\" in flat:
        values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(values) + '"}'


def _months(records: list[MemoryRecord]) -> set[tuple[int, int]]:
    """The (year, month) partitions `records` fall in: from the earliest and latest time when they share a
    month (a batch nearly always does), so a batch of 1,000 makes two datetimes instead of 1,000."""
    first = min(r.time_us for r in records)
    last = max(r.time_us for r in records)
    if month_of(first) == month_of(last):
        return {month_of(first)}
    return {month_of(r.time_us) for r in records}


def _json_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON text: serialised in C by `json.dumps` and parsed in C by PostgreSQL, where psycopg
    adapts a list per column in Python (a batch of 1,000 spent longer there than in the insert)."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), check_circular=False)


_BRIEF_COLUMNS = ", ".join("m." + c for c in BRIEF_COLUMNS)
"""What session context reads (`EventStore.query`'s `brief`): the columns it renders, less the org and the
session, which the filter fixes. Ten columns fewer a row for the server to send and psycopg to decode (the tags
array, the NULLs of the fact fields among them)."""
_BRIEF_CONTENT = BRIEF_COLUMNS.index("content")


def _row_to_record(row: tuple[Any, ...] | Any, score: float | None = None) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        org_id=row[1],
        time_us=row[2],
        agent_id=row[3],
        session_id=row[4],
        memory_type=row[5],
        event_type=row[6],
        content=row[7],
        metadata_json=row[8],
        tags=tuple(row[9]),
        dedup_key=row[10],
        importance=row[11],
        parent_id=row[12],
        expires_us=row[13],
        fact_key=row[14],
        valid_from_us=row[15],
        valid_until_us=row[16],
        superseded_by=row[17],
        score=score,
    )


_VERSION = (
    "SELECT id, COALESCE(valid_from_us, time_us), valid_until_us, superseded_by, content, metadata_json "
    "FROM memories"
)


class _PostgresFactLedger:
    """`memtrace.facts.FactLedger` over one write transaction, which holds the advisory locks of every key (and
    unkeyed memory) it may change (`_lock_facts`)."""

    def __init__(self, conn: psycopg.Connection[Any], org_id: str) -> None:
        self.conn = conn
        self.org_id = org_id

    def _one(self, sql: str, params: tuple[Any, ...]) -> Version | None:
        row = self.conn.execute(sql, params).fetchone()
        if row is None:
            return None
        return Version(row[0], row[1], row[2], row[3], fingerprint(row[4], row[5]))

    def at(self, key: str, t: int) -> Version | None:
        return self._one(
            f"{_VERSION} WHERE org_id = %s AND fact_key = %s AND valid_from_us <= %s "
            "ORDER BY valid_from_us DESC, seq DESC LIMIT 1",
            (self.org_id, key, t),
        )

    def after(self, key: str, t: int) -> Version | None:
        return self._one(
            f"{_VERSION} WHERE org_id = %s AND fact_key = %s AND valid_from_us > %s "
            "ORDER BY valid_from_us, seq LIMIT 1",
            (self.org_id, key, t),
        )

    def by_id(self, memory_id: str) -> Version | None:
        return self._one(f"{_VERSION} WHERE org_id = %s AND id = %s", (self.org_id, memory_id))

    def cut(self, memory_id: str, valid_until_us: int, superseded_by: str) -> None:
        self.conn.execute(
            "UPDATE memories SET valid_until_us = %s, superseded_by = %s WHERE org_id = %s AND id = %s",
            (valid_until_us, superseded_by, self.org_id, memory_id),
        )


def _lock_facts(conn: psycopg.Connection[Any], org_id: str, records: list[MemoryRecord]) -> None:
    """Take the transaction's advisory locks on every fact it may change: the keys it writes, and each memory it
    supersedes by id (by that memory's key when it has one, so a keyed writer and an explicit one serialise).
    Ascending order, and always before the dedup locks, so two writers never deadlock."""
    names = {f"k\x00{r.fact_key}" for r in records if r.fact_key is not None}
    targets = sorted({t for r in records for t in r.supersedes})
    if targets:
        found = dict(
            conn.execute(
                "SELECT id, fact_key FROM memories WHERE org_id = %s AND id = ANY(%s)", (org_id, targets)
            ).fetchall()
        )
        names |= {f"k\x00{found[t]}" if found.get(t) else f"i\x00{t}" for t in targets}
    keys = sorted({_fact_lock(org_id, name) for name in names})
    if keys:
        conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::int8[]) WITH ORDINALITY AS u(k, n) ORDER BY n",
            (keys,),
        )


def _call_rows(
    records: list[MemoryRecord], terms: list[Any], *, supersedes: bool = False
) -> list[dict[str, Any]]:
    """The rows of a `memtrace_append`/`memtrace_append_facts` call, keyed by column name."""
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "time_us": r.time_us,
            "agent_id": r.agent_id,
            "session_id": r.session_id,
            "memory_type": r.memory_type,
            "event_type": r.event_type,
            "content": r.content,
            "metadata_json": r.metadata_json,
            "tags": r.tags,
            "dedup_key": r.dedup_key,
            "importance": r.importance,
            "parent_id": r.parent_id,
            "expires_us": r.expires_us,
            "fact_key": r.fact_key,
            "valid_from_us": r.valid_from_us,
            "valid_until_us": r.valid_until_us,
            "superseded_by": r.superseded_by,
            "search_terms": t.search_terms,
            "n_terms": t.n_terms,
            "tsv": t.tsv,
        }
        for r, t in zip(records, terms, strict=True)
    ]
    if supersedes:
        for row, r in zip(rows, records, strict=True):
            row["supersedes"] = r.supersedes
    return rows


def _dedup_buckets(org_id: str, records: list[MemoryRecord], dedup_since_us: int | None) -> list[int]:
    """The dedup lock buckets a write takes (sorted), none without a dedup window."""
    if dedup_since_us is None:
        return []
    return sorted({dedup_bucket(org_id, r.dedup_key) for r in records if r.dedup_key is not None})


def _fact_lock(org_id: str, name: str) -> int:
    """The advisory lock of a fact (``k\\x00<key>``) or of an unkeyed memory (``i\\x00<id>``): one scheme for
    `_lock_facts` and `memtrace_append_facts`, so writers of both paths serialise."""
    return lock_key(f"memtrace.fact.{org_id}\x00{name}")


_PLACEMENT_ERRORS: dict[str, type[MemtraceError]] = {
    "MT404": NotFoundError,
    "MT409": ConflictError,
    "MT422": ValidationError,
}
"""`memtrace_append_facts`'s SQLSTATEs for a bad supersedes target, as `place_version` raises them."""


def _placement_error(error: psycopg.Error) -> Exception:
    """The memtrace error `memtrace_append_facts` raised as a SQLSTATE, or `error` itself."""
    kind = _PLACEMENT_ERRORS.get(error.sqlstate or "")
    if kind is None or error.diag.message_primary is None:
        return error
    if kind is ValidationError:
        return ValidationError(error.diag.message_primary, error.diag.message_detail)
    return kind(error.diag.message_primary)


def _org_lock_class(org_id: str) -> int:
    return lock_key("memtrace.dedup." + org_id) >> 32  # a signed int4


def dedup_bucket(org_id: str, dedup_key: str) -> int:
    digest = hashlib.blake2b(f"{org_id}\x00{dedup_key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % DEDUP_LOCK_BUCKETS


class PostgresEventStore:
    """Memories in a `PostgresDatabase`. `rank_limit` bounds the candidates one ranked search scores per tier
    (the most recently written ones), so a query of very common words stays fast in a large store;
    `df_exact_limit` and `df_sample` bound the counting of the few terms ``term_stats`` cannot answer alone
    (`frequencies.py`)."""

    def __init__(
        self,
        db: PostgresDatabase,
        *,
        rank_limit: int = 20_000,
        df_exact_limit: int = 2_000,
        df_sample: int = 2_000,
        owns_db: bool = False,
    ) -> None:
        self.db = db
        self.rank_limit = rank_limit
        self.df_exact_limit = df_exact_limit
        self.df_sample = df_sample
        self._owns_db = owns_db
        self._partitions: set[tuple[int, int]] = set()
        self._store_size: tuple[float, float] = (0.0, -STORE_SIZE_TTL_S)  # (rows, when measured)

    # ------------------------------------------------------------------------------------------------ writes

    def append(self, org_id: str, records: list[MemoryRecord], *, dedup_since_us: int | None) -> list[int]:
        return self._write(org_id, records, dedup_since_us, keep_ids=False)

    def import_records(
        self, org_id: str, records: list[MemoryRecord], *, dedup_horizon_us: int | None = None
    ) -> tuple[int, int]:
        skipped = self._write(org_id, records, None, keep_ids=True)
        return len(records) - len(skipped), len(skipped)

    def _write(
        self, org_id: str, records: list[MemoryRecord], dedup_since_us: int | None, *, keep_ids: bool
    ) -> list[int]:
        if not records:
            return []
        # Tokenising is the CPU part of a write: done before the transaction, so no lock waits on it.
        terms = [document_terms(r.content, org_id, r.agent_id, r.session_id) for r in records]
        months = _months(records)
        # A small write is one call of `memtrace_append` (`memtrace_append_facts` with fact versions): one round
        # trip in its own transaction. A batch goes in with COPY (a JSON batch of 1,000 costs the server ~40 ms
        # more to parse than COPY's text; the five round trips around it are a few ms), as do imports, which
        # find taken ids inside their transaction.
        small = len(records) < COPY_FROM_ROWS and not keep_ids
        facts = small and any(needs_placement(r) for r in records)
        for attempt in (1, 2):
            self._ensure_partitions(months)
            try:
                if facts:
                    return self._append_facts_call(org_id, records, terms, dedup_since_us)
                if small:
                    return self._append_call(org_id, records, terms, dedup_since_us)
                return self._append(org_id, records, terms, dedup_since_us, keep_ids)
            except psycopg.errors.CheckViolation:
                # "no partition for row": someone dropped a partition this process thought existed.
                if attempt == 2:
                    raise
                self._partitions.clear()
        raise AssertionError("unreachable")

    def _ensure_partitions(self, months: set[tuple[int, int]]) -> None:
        missing = months - self._partitions
        if missing:
            with self.db.connection() as conn:
                ensure_partitions(conn, missing)
            self._partitions |= missing

    def _append_call(
        self, org_id: str, records: list[MemoryRecord], terms: list[Any], dedup_since_us: int | None
    ) -> list[int]:
        """Append with `memtrace_append` (schema.py): dedup locks, probe, insert and statistics server-side,
        committed when the call returns."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT memtrace_append(%s, %s::bigint, %s::integer, %s::integer[], %s::json)",
                (
                    org_id,
                    dedup_since_us,
                    _org_lock_class(org_id),
                    _dedup_buckets(org_id, records, dedup_since_us),
                    _json_rows(_call_rows(records, terms)),
                ),
            ).fetchone()
        assert row is not None
        return [n - 1 for n in row[0]]

    def _append_facts_call(
        self, org_id: str, records: list[MemoryRecord], terms: list[Any], dedup_since_us: int | None
    ) -> list[int]:
        """Append fact versions with `memtrace_append_facts` (schema.py): the fact and dedup locks `_append`
        takes, then each version placed as `memtrace.facts.place_version` places it, inserted, and the
        statistics, committed when the call returns. Sets the stored records' ``valid_until_us`` and
        ``superseded_by`` as `place_version` does. A supersedes target's lock depends on its key, which only
        the database knows: a target with a key not named here is answered with that key, and the call is made
        again with its lock (two round trips; the fact lock is a blake2b hash, computed here)."""
        keys = {r.fact_key for r in records if r.fact_key is not None}
        ids = sorted({t for r in records for t in r.supersedes})
        body = _json_rows(_call_rows(records, terms, supersedes=True))
        buckets = _dedup_buckets(org_id, records, dedup_since_us)
        while True:
            ordered = sorted(keys)
            with self.db.connection() as conn:
                try:
                    row = conn.execute(
                        "SELECT memtrace_append_facts(%s, %s::bigint, %s::integer, %s::integer[], %s::text[], "
                        "%s::bigint[], %s::text[], %s::bigint[], %s::json)",
                        (
                            org_id,
                            dedup_since_us,
                            _org_lock_class(org_id),
                            buckets,
                            ordered,
                            [_fact_lock(org_id, f"k\x00{k}") for k in ordered],
                            ids,
                            [_fact_lock(org_id, f"i\x00{t}") for t in ids],
                            body,
                        ),
                    ).fetchone()
                except psycopg.Error as e:
                    raise _placement_error(e) from None
            assert row is not None
            answer: dict[str, Any] = row[0]
            if "missing" in answer:
                keys.update(answer["missing"])
                continue
            by_id = {r.id: r for r in records}
            for memory_id, valid_until_us, superseded_by in answer["rows"]:
                placed = by_id[memory_id]
                placed.valid_until_us, placed.superseded_by = valid_until_us, superseded_by
            return [n - 1 for n in answer["skipped"]]

    def _append(
        self,
        org_id: str,
        records: list[MemoryRecord],
        terms: list[Any],
        dedup_since_us: int | None,
        keep_ids: bool = False,
    ) -> list[int]:
        """Insert in one transaction; the indexes skipped. `keep_ids` (imports) skips ids the org already holds
        and repeats within `records`, instead of applying the dedup window."""
        skipped: list[int] = []
        with self.db.transaction() as conn:
            ledger: BatchLedger | None = None
            # An import keeps the versions as they were exported (validity and all); a write places them.
            if not keep_ids and any(needs_placement(r) for r in records):
                _lock_facts(conn, org_id, records)
                ledger = BatchLedger(_PostgresFactLedger(conn, org_id))
            seen: set[str] = set()
            if dedup_since_us is not None:
                seen = self._lock_and_probe(conn, org_id, records, dedup_since_us)
            taken = self._lock_and_find_ids(conn, org_id, records) if keep_ids else set()
            rows: list[tuple[MemoryRecord, Any]] = []
            total_terms = 0
            stems: Counter[str] = Counter()
            for i, (r, t) in enumerate(zip(records, terms, strict=True)):
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
                if ledger is not None and needs_placement(r):
                    if not place_version(ledger, r):
                        skipped.append(i)
                        continue
                    ledger.add(r)
                total_terms += t.n_terms
                stems.update(t.stems)
                rows.append((r, t))
            # Rows are made only now: a later version of the batch may have cut an earlier one.
            copy = len(rows) >= COPY_FROM_ROWS
            array = _text_array if copy else list
            values = [
                (
                    r.id,
                    org_id,
                    r.time_us,
                    r.agent_id,
                    r.session_id,
                    r.memory_type,
                    r.event_type,
                    r.content,
                    r.metadata_json,
                    array(r.tags),
                    r.dedup_key,
                    r.importance,
                    r.parent_id,
                    r.expires_us,
                    r.fact_key,
                    r.valid_from_us,
                    r.valid_until_us,
                    r.superseded_by,
                    t.search_terms,
                    t.n_terms,
                    t.tsv,
                )
                for r, t in rows
            ]
            if copy:
                with conn.cursor().copy(_COPY) as writer:
                    for row in values:
                        writer.write_row(row)
            elif values:
                conn.execute(
                    f"INSERT INTO memories ({', '.join(_INSERT_COLUMNS)}) VALUES "  # literal column names
                    + ", ".join([_INSERT_ROW] * len(values)),
                    [value for row in values for value in row],
                )
            if rows:
                # Last, so the stats rows are locked only for the moment before commit.
                ordered = sorted(stems)
                conn.execute(
                    _STATS_ADD,
                    {
                        "org": org_id,
                        "terms": _array_literal(ordered),
                        "counts": "{" + ",".join([str(stems[t]) for t in ordered]) + "}",
                        "documents": len(rows),
                        "total": total_terms,
                    },
                )
        return skipped

    @staticmethod
    def _lock_and_probe(
        conn: psycopg.Connection[Any], org_id: str, records: list[MemoryRecord], since_us: int
    ) -> set[str]:
        keys = sorted({r.dedup_key for r in records if r.dedup_key is not None})
        if not keys:
            return set()
        buckets = sorted({dedup_bucket(org_id, k) for k in keys})
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, b) FROM unnest(%s::int4[]) WITH ORDINALITY AS u(b, n) ORDER BY n",
            (_org_lock_class(org_id), buckets),
        )
        found = conn.execute(_DEDUP_PROBE, (_array_literal(keys), org_id, since_us)).fetchall()
        return {k for (k,) in found}

    @staticmethod
    def _lock_and_find_ids(
        conn: psycopg.Connection[Any], org_id: str, records: list[MemoryRecord]
    ) -> set[str]:
        """The records' ids the org already holds, read under the org's import lock: the key is
        (org_id, time_us, id), so nothing in the schema stops two importers inserting one id twice; the lock
        makes the check and the insert one step. Looked up by (org_id, id), whatever the partition."""
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("memtrace.import." + org_id),))
        found = conn.execute(
            "SELECT id FROM memories WHERE org_id = %s AND id = ANY(%s)",
            (org_id, list({r.id for r in records})),
        ).fetchall()
        return {i for (i,) in found}

    def delete(self, org_id: str, flt: MemoryFilter) -> int:
        w = where(org_id, flt)
        with self.db.transaction() as conn:
            if w.content_check is None:
                row = conn.execute(
                    f"WITH d AS (DELETE FROM memories m WHERE {w.sql} RETURNING m.n_terms, m.tsv), "
                    f"{_TERMS_FORGET} SELECT count(*), COALESCE(sum(n_terms), 0) FROM d",
                    w.params,
                ).fetchone()
                assert row is not None
                count, total = int(row[0]), int(row[1])
            else:
                keys = [
                    (r[0], r[1])
                    for r in self._scan(
                        conn, f"SELECT m.time_us, m.id, m.content FROM memories m WHERE {w.sql}", w, 2
                    )
                ]
                row = conn.execute(
                    "WITH d AS (DELETE FROM memories m USING unnest(%(times)s::bigint[], %(ids)s::text[]) "
                    "AS k(t, i) WHERE m.org_id = %(org)s AND m.time_us = k.t AND m.id = k.i "
                    f"RETURNING m.n_terms, m.tsv), {_TERMS_FORGET} SELECT count(*), COALESCE(sum(n_terms), 0) FROM d",
                    {"times": [t for t, _ in keys], "ids": [i for _, i in keys], "org": org_id},
                ).fetchone()
                assert row is not None
                count, total = int(row[0]), int(row[1])
            if count:
                conn.execute(_STATS_UPSERT, (org_id, -count, -total))
        return count

    def delete_batch(self, org_id: str, flt: MemoryFilter, *, limit: int) -> int:
        """Delete at most `limit` matching memories in one transaction (see `EventStore.delete_batch`); the
        org's corpus and term statistics move with them. A filter with a content condition checked here, not in SQL
        (`Where.content_check`), is deleted whole in one transaction."""
        w = where(org_id, flt)
        if w.content_check is not None:
            return self.delete(org_id, flt)
        with self.db.transaction() as conn:
            row = conn.execute(
                f"WITH k AS (SELECT m.time_us, m.id FROM memories m WHERE {w.sql} LIMIT %(batch_limit)s), "
                "d AS (DELETE FROM memories m USING k WHERE m.org_id = %(org)s AND m.time_us = k.time_us "
                f"AND m.id = k.id RETURNING m.n_terms, m.tsv), {_TERMS_FORGET} "
                "SELECT count(*), COALESCE(sum(n_terms), 0) FROM d",
                {**w.params, "batch_limit": limit},
            ).fetchone()
            assert row is not None
            count, total = int(row[0]), int(row[1])
            if count:
                conn.execute(_STATS_UPSERT, (org_id, -count, -total))
        return count

    # ------------------------------------------------------------------------------------------------- reads

    @staticmethod
    def _scan(
        conn: psycopg.Connection[Any], sql: str, w: Where, content_at: int
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql` that pass `w.content_check` (on column `content_at`), read in batches through a
        server-side cursor so a large scan never sits in memory. Needs an open transaction."""
        assert w.content_check is not None
        with conn.cursor(name="memtrace_scan") as cur:
            cur.itersize = 500
            cur.execute(sql, w.params)
            for row in cur:
                if w.content_check(row[content_at]):
                    yield row

    def _select(
        self, sql: str, w: Where, limit: int, offset: int, content_at: int = _CONTENT
    ) -> list[tuple[Any, ...]]:
        """`sql` (ordered, without LIMIT) with `w`'s parameters, `offset` rows skipped, at most `limit` rows
        (content in column `content_at`)."""
        if w.content_check is None:
            with self.db.connection() as conn:
                return conn.execute(
                    sql + " LIMIT %(limit)s OFFSET %(offset)s",
                    {**w.params, "limit": limit, "offset": offset},
                ).fetchall()
        out: list[tuple[Any, ...]] = []
        with self.db.transaction() as conn:
            for i, row in enumerate(self._scan(conn, sql, w, content_at)):
                if i >= offset:
                    out.append(row)
                if len(out) >= limit:
                    break
        return out

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
        w = where(org_id, flt)
        direction = "ASC" if order == "asc" else "DESC"
        ordered = f"FROM memories m WHERE {w.sql} ORDER BY m.time_us {direction}, m.seq {direction}"
        # Brief rows take the session from the filter (context, the one caller, always names one).
        session_id = flt.session_id if brief else None
        if session_id:
            rows = self._select(f"SELECT {_BRIEF_COLUMNS} {ordered}", w, limit, offset, _BRIEF_CONTENT)
            return [brief_record(org_id, session_id, r) for r in rows]
        return [_row_to_record(r) for r in self._select(f"SELECT {_M_COLUMNS} {ordered}", w, limit, offset)]

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT {_M_COLUMNS} FROM memories m WHERE m.org_id = %s AND m.id = %s",
                (org_id, memory_id),
            ).fetchone()
        return _row_to_record(row) if row else None

    def count(self, org_id: str, flt: MemoryFilter) -> int:
        w = where(org_id, flt)
        if w.content_check is None:
            sql = f"SELECT count(*) FROM memories m WHERE {w.sql}"
            # As in the SQLite store: "alive now" and "current only" need each counted row from the heap. When
            # no memory of the org awaits the sweep and none in scope is superseded (a lookup in each partial
            # index), the count leaves them out and can read the index alone. One statement: one snapshot.
            probes = []
            if flt.alive_at_us is not None:
                probes.append(
                    "EXISTS (SELECT 1 FROM memories WHERE org_id = %(org)s AND expires_us <= %(alive_at)s)"
                )
            if flt.current_only:
                by_agent = " AND agent_id = %(agent)s" if flt.agent_id else ""
                probes.append(
                    f"EXISTS (SELECT 1 FROM memories WHERE org_id = %(org)s{by_agent} AND valid_until_us IS NOT NULL)"
                )
            params = w.params
            if probes:
                lean = where(org_id, dataclasses.replace(flt, alive_at_us=None, current_only=False))
                sql = (
                    f"SELECT CASE WHEN {' OR '.join(probes)} THEN ({sql}) "
                    f"ELSE (SELECT count(*) FROM memories m WHERE {lean.sql}) END"
                )
                params = {**lean.params, **w.params}
            with self.db.connection() as conn:
                row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0
        with self.db.transaction() as conn:
            return sum(1 for _ in self._scan(conn, f"SELECT m.content FROM memories m WHERE {w.sql}", w, 0))

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> dict[str, int]:
        w = where(org_id, flt)
        if w.content_check is None:
            with self.db.connection() as conn:
                rows = conn.execute(
                    f"SELECT m.memory_type, count(*) FROM memories m WHERE {w.sql} GROUP BY m.memory_type",
                    w.params,
                ).fetchall()
            return {t: int(n) for t, n in rows}
        counts: dict[str, int] = {}
        with self.db.transaction() as conn:
            for memory_type, _ in self._scan(
                conn, f"SELECT m.memory_type, m.content FROM memories m WHERE {w.sql}", w, 1
            ):
                counts[memory_type] = counts.get(memory_type, 0) + 1
        return counts

    # ----------------------------------------------------------------------------------------- ranked search

    def search(
        self, org_id: str, flt: MemoryFilter, text: str, *, limit: int, offset: int
    ) -> list[MemoryRecord]:
        terms = query_terms(text)
        if not terms:
            return []
        # Round trips, not the server's work, were most of an agent-scoped search on a busy machine: the
        # statistics are one statement, and each tier one message with its transaction and settings
        # (`fetch_in_transaction`): 2-3 round trips a search (4 for the few terms counted exactly), 8-16 before.
        with self.db.connection() as conn:
            return self._search(conn, org_id, flt, terms, limit=limit, offset=offset)

    def _search(
        self,
        conn: psycopg.Connection[Any],
        org_id: str,
        flt: MemoryFilter,
        terms: list[Any],
        *,
        limit: int,
        offset: int,
    ) -> list[MemoryRecord]:
        stats, alternatives, org_token = self._corpus_stats(org_id, terms, conn)
        w = weights(stats)
        if w is None:
            return []
        # The narrowest scope token only: intersecting with a wider one (a posting list of every memory of the
        # org or agent) costs more than the rest of the index scan. The org's token only where it narrows at
        # all: for an org holding most of the store, reading its posting list (1M entries) took 24 ms of a
        # 67 ms org-wide search and filtered out nothing. The WHERE clause still checks org, agent and session
        # on every row, so another org's rows never pass.
        if flt.session_id:
            scope = [SCOPE_SESSION + flt.session_id]
        elif flt.agent_id:
            scope = [SCOPE_AGENT + flt.agent_id]
        else:
            scope = [SCOPE_ORG + org_id] if org_token else []
        params = {**weight_params(w), **{f"p{i}": t.pattern for i, t in enumerate(terms)}}
        wanted = limit + offset
        # Two tiers, one total order, as the embedded store ranks: memories with every keyword first (ranked in
        # full: that tier is small), then those with some, each by BM25.
        found: list[MemoryRecord] = []
        every = all_query(terms, alternatives, scope)
        if every is not None:
            found = self._ranked(conn, org_id, flt, terms, every, params, True, wanted)
        some = any_query(alternatives, scope)
        if len(found) < wanted and some is not None:
            seen = {r.id for r in found}
            more = self._ranked(conn, org_id, flt, terms, some, params, False, wanted + len(found))
            found += [r for r in more if r.id not in seen][: wanted - len(found)]
        return found[offset:wanted]

    def _corpus_stats(
        self, org_id: str, terms: list[Any], conn: psycopg.Connection[Any] | None = None
    ) -> tuple[CorpusStats, list[tuple[str, ...]], bool]:
        """The org's document count and total length, per term the number of its memories containing it and
        the tsquery that finds them (`frequencies.document_frequencies`), and whether the org's scope token
        narrows an index scan. Read on `conn`, or on a connection of its own."""
        if conn is None:
            with self.db.connection() as own:
                return self._corpus_stats(org_id, terms, own)
        counted = org_counts(conn, org_id, terms)
        org_token = self._org_token_narrows(conn, counted.documents)
        found = document_frequencies(
            conn,
            org_id,
            terms,
            counted,
            org_token=org_token,
            exact_limit=self.df_exact_limit,
            sample=self.df_sample,
        )
        stats = CorpusStats(counted.documents, counted.total_terms, tuple(found.counts))
        return stats, found.alternatives, org_token

    def _org_token_narrows(self, conn: psycopg.Connection[Any], documents: int) -> bool:
        """Whether an org of `documents` memories is a small enough part of the store (under a quarter) for its
        scope token to narrow an index scan. The store's size is the planner's estimate (``reltuples`` of the
        partitions), read at most once a minute; unknown (never analysed) counts as "narrows"."""
        rows, measured = self._store_size
        if time.monotonic() - measured > STORE_SIZE_TTL_S:
            row = conn.execute(
                "SELECT COALESCE(sum(c.reltuples), 0) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'memories'::regclass AND c.reltuples > 0"
            ).fetchone()
            rows = float(row[0]) if row else 0.0
            self._store_size = (rows, time.monotonic())
        return rows <= 0 or documents * 4 < rows

    def _ranked(
        self,
        conn: psycopg.Connection[Any],
        org_id: str,
        flt: MemoryFilter,
        terms: list[Any],
        tsquery: str,
        params: dict[str, Any],
        every_keyword: bool,
        n: int,
    ) -> list[MemoryRecord]:
        """The best `n` memories of one tier that pass `flt`, best first, with `score` set: one round trip."""
        w = where(org_id, flt)
        tfs = ", ".join(tf_sql(i) for i in range(len(terms)))
        # OFFSET 0 fences the GIN scan off from the other conditions: left together, the planner ANDed its
        # bitmap with the (org, agent, time) index's, which cost 13 ms of a 49 ms agent-scoped search and
        # removed nothing (the scope token had already narrowed to the agent). The window of candidates is cut
        # carrying only what scoring needs (the unused columns of a fenced subquery are dropped), and the terms
        # are counted only in the window, and once: counting in every candidate before the cut, with whole rows
        # sorted after it, was most of an org-wide search (`search_org`, bench/RESULTS-postgres-1m.md), and
        # without the second OFFSET 0 the planner inlines each count into the score and the tier condition,
        # computing it up to four times.
        window = (
            f"SELECT m.partition, m.row_at, m.time_us, m.seq, m.importance, m.n_terms, m.search_terms FROM ("
            "SELECT m.*, m.tableoid AS partition, m.ctid AS row_at FROM memories m "
            f"WHERE m.tsv @@ %(q)s::tsquery OFFSET 0) AS m WHERE {w.sql} "
            "ORDER BY m.seq DESC LIMIT %(window)s"
        )
        ranked = (
            f"SELECT c.*, {score_sql(len(terms))} AS score FROM ("
            f"SELECT m.partition, m.row_at, m.time_us, m.seq, m.importance, "
            f"%(wa)s::float8 + %(wb)s::float8 * m.n_terms AS nrm, {tfs} "
            f"FROM ({window}) AS m OFFSET 0) AS c WHERE {tier_condition(terms, every_keyword)}"
        )
        order = "ORDER BY c.score DESC, c.time_us DESC, COALESCE(c.importance, 0) DESC, c.seq DESC"
        all_params = {**w.params, **params, "q": tsquery, "window": self.rank_limit}
        if w.content_check is None:
            # The best n by key, then their rows (n primary-key lookups).
            rows = fetch_in_transaction(
                conn,
                _RANK_SETTINGS,
                f"SELECT {_M_COLUMNS}, c.score FROM (SELECT * FROM ({ranked}) AS c {order} LIMIT %(n)s) AS c "
                f"CROSS JOIN LATERAL ({_ROW_BY_KEY}) AS m {order}",
                {**all_params, "n": n, "org": org_id},
            )
        else:
            check = w.content_check
            found = fetch_in_transaction(
                conn,
                _RANK_SETTINGS,
                f"SELECT {_M_COLUMNS}, c.score FROM ({ranked}) AS c CROSS JOIN LATERAL ({_ROW_BY_KEY}) AS m {order}",
                {**all_params, "org": org_id},
            )
            rows = [r for r in found if check(r[_CONTENT])][:n]
        return [_row_to_record(r, score=rounded(r[len(_COLUMNS)])) for r in rows]

    # ------------------------------------------------------------------------------------------------ admin

    def stats(self) -> StoreStats:
        """Store-wide figures for metrics without a scan: memories from the per-org counters, bytes of the
        memories partitions with their indexes."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT COALESCE(sum(documents), 0) FROM corpus_stats), "
                "(SELECT COALESCE(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
                "WHERE inhparent = 'memories'::regclass)"
            ).fetchone()
        assert row is not None
        return StoreStats(memories=int(row[0]), bytes=int(row[1]))

    def close(self) -> None:
        if self._owns_db:
            self.db.close()


__all__ = ["DEDUP_LOCK_BUCKETS", "PostgresEventStore", "dedup_bucket"]
