"""Small writes go through ``memtrace_append`` (one round trip), batches and fact versions through the transaction
in Python (COPY). Both must store the same thing: rows byte for byte, the same dedup decisions, exact keyword
statistics; and a database written by the code before the function existed upgrades and keeps working."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from memtrace.records import MemoryFilter
from memtrace.stores.postgres import PostgresDatabase, PostgresEventStore, migrate
from memtrace.stores.postgres.events import COPY_FROM_ROWS
from memtrace.stores.postgres.schema import (
    APPEND_FUNCTION,
    APPEND_FUNCTION_V1,
    MIGRATIONS,
    SCHEMA_VERSION,
    schema_version,
)

from .stores import TEST_POOL
from .test_store_behaviour import T0, record
from .test_term_stats import KEPT, RECOUNT, counts

AWKWARD_TAGS = ("", "a,b", '"quoted"', "{braces}", "back\\slash", "NULL", "Straße", "tab\there", "emoji 🚀")


def stored(events: PostgresEventStore, org: str) -> list[tuple[object, ...]]:
    rows = events.query(org, MemoryFilter(), order="asc", limit=1_000, offset=0)
    return [
        (
            r.id,
            r.time_us,
            r.agent_id,
            r.session_id,
            r.content,
            r.metadata_json,
            r.tags,
            r.dedup_key,
            r.importance,
        )
        for r in rows
    ]


def test_single_writes_store_what_a_batch_stores(pg_events: PostgresEventStore) -> None:
    records = [
        record(
            i,
            f"deploy {i} café \\ ' \" {{x}}",
            session_id=None if i % 3 else f"s{i % 2}",
            metadata_json='{"b": 1, "a": [1, 2]}' if i % 2 else None,
            tags=AWKWARD_TAGS[: i % len(AWKWARD_TAGS)],
            importance=None if i % 4 else i / 7,
            dedup_key=f"k{i % 5}",
        )
        for i in range(COPY_FROM_ROWS + 4)
    ]
    batch_skipped = pg_events.append("org_batch", records, dedup_since_us=0)
    single_skipped = [
        i for i, r in enumerate(records) if pg_events.append("org_single", [r], dedup_since_us=0) == [0]
    ]
    assert single_skipped == batch_skipped == list(range(5, len(records)))  # k0..k4 once each
    assert stored(pg_events, "org_single") == stored(pg_events, "org_batch") != []
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)
    with pg_events.db.connection() as conn:
        per_org = conn.execute(
            "SELECT org_id, sum(documents), sum(total_terms) FROM corpus_stats GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert per_org[0][1:] == per_org[1][1:] == (5, per_org[0][2])


def test_a_small_batch_skips_repeats_within_itself_and_outside_the_window(
    pg_events: PostgresEventStore,
) -> None:
    old = record(1, "old", dedup_key="same", time_us=1_000)
    assert pg_events.append("org_x", [old], dedup_since_us=None) == []
    batch = [record(2, "a", dedup_key="same"), record(3, "b", dedup_key="same"), record(4, "c")]
    # The stored one is older than the window: the first of the batch is stored, its repeat is not.
    assert pg_events.append("org_x", batch, dedup_since_us=5_000) == [1]
    assert pg_events.append("org_x", [record(5, "d", dedup_key="same")], dedup_since_us=5_000) == [0]
    assert [r[4] for r in stored(pg_events, "org_x")] == ["old", "a", "c"]


def schema_before(pg_url: str, function_sql: str) -> int:
    """Lay out the schema as the code before the migration that installs `function_sql` left it; return that
    migration's number (the schema version written)."""
    added = next(n for n, m in enumerate(MIGRATIONS) if function_sql in m)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE memtrace_schema (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)"
        )
        for migration in MIGRATIONS[:added]:
            for statement in migration:
                conn.execute(statement)
        conn.execute("INSERT INTO memtrace_schema (id, version) VALUES (1, %s)", (added,))
    return added


def test_a_database_written_before_the_function_upgrades_and_keeps_counting(pg_url: str) -> None:
    added = schema_before(pg_url, APPEND_FUNCTION_V1)
    db = PostgresDatabase(pg_url, TEST_POOL)
    try:
        events = PostgresEventStore(db)
        before = [record(i, f"billing invoice {i}", dedup_key=f"k{i}") for i in range(COPY_FROM_ROWS)]
        assert events.append("org_x", before, dedup_since_us=0) == []  # COPY: needs no function

        assert migrate(pg_url) == list(range(added + 1, SCHEMA_VERSION + 1))
        with db.connection() as conn:
            assert schema_version(conn) == SCHEMA_VERSION
        assert events.append("org_x", [record(100, "billing again", dedup_key="k3")], dedup_since_us=0) == [0]
        assert events.append("org_x", [record(101, "billing again", dedup_key="k99")], dedup_since_us=0) == []
        assert events.count("org_x", MemoryFilter()) == COPY_FROM_ROWS + 1
        assert counts(events, KEPT) == counts(events, RECOUNT)
        found = events.search("org_x", MemoryFilter(), "billing", limit=3, offset=0)
        assert found[0].content == "billing again"  # the shortest document ranks first
    finally:
        db.close()


@pytest.mark.parametrize("rows", [1, COPY_FROM_ROWS - 1])
def test_a_write_that_fails_stores_nothing(pg_events: PostgresEventStore, rows: int) -> None:
    pg_events.append("org_x", [record(0, "first")], dedup_since_us=None)
    same_id = [record(i + 1, "new") for i in range(rows - 1)] + [record(0, "first again")]
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg_events.append("org_x", same_id, dedup_since_us=None)
    assert [r[4] for r in stored(pg_events, "org_x")] == ["first"]
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)


def rows_read(conn: psycopg.Connection[Any]) -> int:
    """Rows of `memories` this backend read, sequentially or through an index, as far as it has counted (its
    counts not yet flushed to the shared statistics, which includes the current transaction's)."""
    row = conn.execute(
        "SELECT COALESCE(sum(seq_tup_read + COALESCE(idx_tup_fetch, 0)), 0)::int "
        "FROM pg_stat_xact_user_tables WHERE relname LIKE 'memories%'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def reads_of_each_write(db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every connection `db` hands out run in a transaction with generic plans (what PL/pgSQL settles on
    after a function's fifth call in a session), and note the rows of `memories` each one read (sequentially or
    through an index) just before it commits. Returns the list the counts are appended to."""
    reads: list[int] = []
    connection = db.connection

    @contextlib.contextmanager
    def counting() -> Iterator[psycopg.Connection[Any]]:
        with connection() as conn:
            conn.execute("BEGIN")
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            before = rows_read(conn)
            yield conn
            reads.append(rows_read(conn) - before)
            conn.execute("COMMIT")

    monkeypatch.setattr(db, "connection", counting)
    return reads


def test_a_small_write_looks_up_its_dedup_keys_instead_of_reading_the_window(
    pg_events: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An org with 2,000 memories in the dedup window, written before PostgreSQL had statistics of them (as a
    # partition being written always is): the probe was planned as a read of the org's whole window into a
    # hash, for every small write, so a single write cost more the more the org had stored that day.
    pg_events.append(
        "org_x", [record(i, f"memory {i}", dedup_key=f"k{i}") for i in range(2_000)], dedup_since_us=0
    )
    reads = reads_of_each_write(pg_events.db, monkeypatch)
    small = [record(10_000 + i, f"new {i}", dedup_key=f"new{i}") for i in range(COPY_FROM_ROWS - 1)]
    assert pg_events.append("org_x", small, dedup_since_us=0) == []
    repeats = [record(20_000 + i, f"again {i}", dedup_key=f"k{i}") for i in range(3)]
    assert pg_events.append("org_x", repeats, dedup_since_us=0) == [0, 1, 2]
    assert pg_events.append("org_x", [record(30_000, "one more", dedup_key="k7")], dedup_since_us=0) == [0]
    assert max(reads) <= 2 * COPY_FROM_ROWS  # a few index entries per key, not the 2,000 rows of the window


def test_a_database_written_through_the_first_functions_upgrades_in_place(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The schema the code before the fixes left (both functions as first installed), written through them.
    added = schema_before(pg_url, APPEND_FUNCTION)
    db = PostgresDatabase(pg_url, TEST_POOL)
    try:
        events = PostgresEventStore(db)
        written = [record(i, f"memory {i}", dedup_key=f"k{i}") for i in range(200)]
        assert events.append("org_x", written, dedup_since_us=0) == []
        assert events.append("org_x", [record(500, "small", dedup_key="s")], dedup_since_us=0) == []
        paris = record(700, "Paris", fact_key="city", valid_from_us=T0)  # through memtrace_append_facts
        assert events.append("org_x", [paris], dedup_since_us=0) == []

        assert migrate(pg_url) == list(range(added + 1, SCHEMA_VERSION + 1))
        reads = reads_of_each_write(db, monkeypatch)
        again = [
            record(600, "again", dedup_key="s"),
            record(601, "new", dedup_key="n"),
            record(602, "k9", dedup_key="k9"),
        ]
        assert events.append("org_x", again, dedup_since_us=0) == [0, 2]
        assert max(reads) <= 2 * len(again)
        berlin = record(701, "Berlin", time_us=T0 + 10, fact_key="city", valid_from_us=T0 + 10)
        assert events.append("org_x", [berlin], dedup_since_us=0) == []
        cut = events.get("org_x", paris.id)
        assert cut is not None and cut.superseded_by == berlin.id and cut.valid_until_us == T0 + 10
        assert events.count("org_x", MemoryFilter()) == 204
        assert counts(events, KEPT) == counts(events, RECOUNT)
    finally:
        db.close()
