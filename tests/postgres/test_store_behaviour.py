"""What the PostgreSQL store keeps exactly, and how it fails: round trips, order, partitions, content matching
like the embedded store, and clear errors for a wrong URL."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from memtrace.records import MemoryFilter, MemoryRecord
from memtrace.stores.postgres import (
    PostgresEventStore,
    PostgresUnavailableError,
    migrate,
    open_postgres_database,
)
from memtrace.stores.postgres.events import COPY_FROM_ROWS
from memtrace.stores.postgres.schema import partition_name
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteEventStore

from .server import server_url, with_database

ORG = "org_x"
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def record(i: int, content: str = "text", *, time_us: int = T0, **fields: object) -> MemoryRecord:
    values: dict[str, object] = {
        "id": f"mem_{i:026d}",
        "org_id": ORG,
        "time_us": time_us,
        "agent_id": "agent",
        "session_id": None,
        "memory_type": "episodic",
        "event_type": "general",
        "content": content,
        "metadata_json": None,
        "tags": (),
        "dedup_key": None,
        "importance": None,
        "parent_id": None,
    }
    values.update(fields)
    return MemoryRecord(**values)  # type: ignore[arg-type]


def test_content_metadata_and_tags_come_back_byte_for_byte(pg_events: PostgresEventStore) -> None:
    original = record(
        1,
        "line one\nline two\ttab \\ backslash 'quote' \"dq\" émoji 🚀 null-ish \\N",
        metadata_json='{"z": 1, "a": [1, 2.50, "x"], "z": 2, "nested": {"b": null}}',  # order, dups, spacing
        tags=("b-tag", "a tag", "ünïcode"),
        importance=0.1234567890123,
        parent_id="mem_parent",
        session_id="sess-1",
        dedup_key="k" * 256,
    )
    pg_events.append(ORG, [original], dedup_since_us=None)
    got = pg_events.get(ORG, original.id)
    assert got == original


def test_tags_of_every_kind_come_back_exactly_from_a_batch_and_a_single_write(
    pg_events: PostgresEventStore,
) -> None:
    """A batch goes in with COPY, its tags as array literals; a small write through `memtrace_append`. Both keep
    each tag's text exactly, however it would read in an array literal."""
    from memtrace.stores.postgres.events import COPY_FROM_ROWS

    awkward = (
        "plain",
        'dq"inside',
        "back\\slash",
        "comma,brace{}",
        "NULL",
        "",
        " spaced ",
        "ünï",
        "tab\there",
    )
    batch = [
        record(i, f"batch {i}", time_us=T0 + i, tags=awkward[i % len(awkward) :] if i % 4 else ())
        for i in range(COPY_FROM_ROWS + 4)
    ]
    single = record(999, "single", time_us=T0 + 999, tags=awkward)
    pg_events.append(ORG, batch, dedup_since_us=None)
    pg_events.append(ORG, [single], dedup_since_us=None)
    for original in [*batch, single]:
        assert pg_events.get(ORG, original.id) == original


def test_same_time_memories_keep_write_order_both_ways(pg_events: PostgresEventStore) -> None:
    # ids deliberately in reverse of the write order: the tie-break is the write order, not the id
    records = [record(100 - i, f"m{i}") for i in range(20)]
    pg_events.append(ORG, records[:10], dedup_since_us=None)
    for r in records[10:]:
        pg_events.append(ORG, [r], dedup_since_us=None)
    asc = pg_events.query(ORG, MemoryFilter(), order="asc", limit=100, offset=0)
    desc = pg_events.query(ORG, MemoryFilter(), order="desc", limit=100, offset=0)
    assert [m.content for m in asc] == [f"m{i}" for i in range(20)]
    assert [m.content for m in desc] == [f"m{i}" for i in reversed(range(20))]


def test_memories_land_in_monthly_partitions_and_read_as_one_table(pg_events: PostgresEventStore) -> None:
    month = 31 * 86_400 * 1_000_000
    times = [T0 - month, T0, T0 + month, T0 + 2 * month]
    pg_events.append(ORG, [record(i, f"at {i}", time_us=t) for i, t in enumerate(times)], dedup_since_us=None)
    with pg_events.db.connection() as conn:
        names = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'memories'::regclass"
            )
        }
    assert {
        partition_name(2025, 12),
        partition_name(2026, 1),
        partition_name(2026, 2),
        partition_name(2026, 3),
    } <= names
    listed = pg_events.query(ORG, MemoryFilter(since_us=T0 - 1), order="asc", limit=10, offset=0)
    assert [m.content for m in listed] == ["at 1", "at 2", "at 3"]
    assert pg_events.delete(ORG, MemoryFilter(until_us=T0)) == 1
    assert pg_events.count(ORG, MemoryFilter()) == 3
    assert pg_events.stats().memories == 3


CONTENTS = [
    "Straße in Berlin",
    "STRASSE",
    "ΣΊΣΥΦΟΣ and σίσυφος",
    "İstanbul office",
    "istanbul lower",
    "Café CRÈME",
    "café crème",
    "plain ASCII Text",
    "K is the Kelvin sign",
    "ﬁnal ligature",
]
NEEDLES = [
    "straße",
    "STRASSE",
    "ss",
    "σίσυφος",
    "ΣΊΣΥΦΟΣ",
    "i̇stanbul",
    "İSTANBUL",
    "crème",
    "CAFÉ",
    "text",
    "k",
    "fi",
    "ﬁ",
]


def test_content_contains_agrees_with_the_embedded_store(
    pg_events: PostgresEventStore, tmp_path: Path
) -> None:
    sqlite = SQLiteEventStore(SQLiteDatabase(tmp_path / "s"))
    records = [record(i, c) for i, c in enumerate(CONTENTS)]
    sqlite.append(ORG, records, dedup_since_us=None)
    pg_events.append(ORG, records, dedup_since_us=None)
    for needle in NEEDLES:
        flt = MemoryFilter(content_contains=needle)
        expected = [m.content for m in sqlite.query(ORG, flt, order="asc", limit=50, offset=0)]
        assert [m.content for m in pg_events.query(ORG, flt, order="asc", limit=50, offset=0)] == expected, (
            needle
        )
        assert pg_events.count(ORG, flt) == len(expected), needle
        assert pg_events.count_by_type(ORG, flt) == sqlite.count_by_type(ORG, flt), needle
    assert [
        m.content
        for m in pg_events.query(ORG, MemoryFilter(content_contains="ß"), order="asc", limit=1, offset=1)
    ] == ["STRASSE"]
    assert pg_events.delete(ORG, MemoryFilter(content_contains="σίσυφος")) == 1
    assert pg_events.count(ORG, MemoryFilter()) == len(CONTENTS) - 1


def test_tags_match_whole_tags(pg_events: PostgresEventStore) -> None:
    pg_events.append(
        ORG,
        [record(1, "both", tags=("billing", "urgent")), record(2, "prefix", tags=("bill", "urgent-ish"))],
        dedup_since_us=None,
    )
    assert [
        m.content for m in pg_events.query(ORG, MemoryFilter(tags=("bill",)), order="asc", limit=9, offset=0)
    ] == ["prefix"]
    assert pg_events.count(ORG, MemoryFilter(tags=("billing", "urgent"))) == 1


def test_dedup_in_one_batch_and_against_stored_memories(pg_events: PostgresEventStore) -> None:
    batch = [record(i, f"c{i}", dedup_key=f"k{i % 3}") for i in range(6)]
    assert pg_events.append(ORG, batch, dedup_since_us=0) == [3, 4, 5]
    again = [record(10 + i, "x", dedup_key=f"k{i}") for i in range(4)]
    assert pg_events.append(ORG, again, dedup_since_us=0) == [0, 1, 2]
    assert pg_events.append(ORG, [record(20, "old window", dedup_key="k0")], dedup_since_us=T0) == []


def test_a_batch_dedups_keys_of_every_kind_against_stored_memories(pg_events: PostgresEventStore) -> None:
    # A batch this large goes in with COPY; its keys are probed as one array literal.
    odd = ["NULL", "null", 'say "hi"', "back\\slash", "{a,b}", " spaced ", "ünïcode 🚀", "a,b", "\\N", "'q'"]
    keys = odd + [f"plain{i}" for i in range(COPY_FROM_ROWS)]
    first = [record(i, f"c{i}", dedup_key=k, time_us=T0 + i) for i, k in enumerate(keys)]
    assert pg_events.append(ORG, first, dedup_since_us=0) == []
    again = [record(100 + i, "again", dedup_key=k, time_us=T0 + 1_000 + i) for i, k in enumerate(keys)]
    fresh = [record(200 + i, "fresh", dedup_key=f"{k}!", time_us=T0 + 2_000 + i) for i, k in enumerate(odd)]
    assert pg_events.append(ORG, again + fresh, dedup_since_us=0) == list(range(len(keys)))
    later = [record(300 + i, "later", dedup_key=k, time_us=T0 + 3_000 + i) for i, k in enumerate(keys)]
    assert pg_events.append(ORG, later, dedup_since_us=T0 + 2_999) == []  # stored ones are outside the window
    assert pg_events.count(ORG, MemoryFilter()) == 2 * len(keys) + len(odd)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_a_clear_error() -> None:
    url = f"postgresql://memtrace:s3cret@127.0.0.1:{_closed_port()}/memtrace"
    with pytest.raises(PostgresUnavailableError) as info:
        migrate(url)
    message = str(info.value)
    assert "cannot connect to PostgreSQL at postgresql://127.0.0.1:" in message and "refused" in message
    assert "s3cret" not in message and info.value.status_code == 503


def test_a_missing_database_is_a_clear_error(pg_url: str) -> None:
    from .server import session_database_url

    session_database_url()  # skip (or fail under CI) without a server
    url = with_database(server_url(), "memtrace_test_does_not_exist")
    with pytest.raises(
        PostgresUnavailableError, match='database "memtrace_test_does_not_exist" does not exist'
    ):
        open_postgres_database(url)


def test_a_huge_memory_of_distinct_words_is_stored_and_found(pg_events: PostgresEventStore) -> None:
    words = [
        f"w{i}x{i * 7919 % 100_003}" for i in range(120_000)
    ]  # ~1.3 MB of distinct words: over a tsvector
    huge = record(1, "needle " + " ".join(words))
    pg_events.append(ORG, [huge], dedup_since_us=None)
    assert pg_events.get(ORG, huge.id) == huge
    assert [m.id for m in pg_events.search(ORG, MemoryFilter(), "needle", limit=5, offset=0)] == [huge.id]


def test_a_query_with_an_overlong_word_searches_the_rest(pg_events: PostgresEventStore) -> None:
    pg_events.append(ORG, [record(1, "deploy done")], dedup_since_us=None)
    long_word = "x" * 3000
    assert pg_events.search(ORG, MemoryFilter(), long_word, limit=5, offset=0) == []
    assert [
        m.content for m in pg_events.search(ORG, MemoryFilter(), f"{long_word} deploy", limit=5, offset=0)
    ] == ["deploy done"]


def test_connections_the_server_dropped_are_replaced_without_an_error(pg_events: PostgresEventStore) -> None:
    pg_events.append(ORG, [record(1, "before")], dedup_since_us=None)
    with pg_events.db.connection() as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'memtrace'"
        ).fetchone()
    pg_events.db.pool.check()  # what the pool also does on checkout: drop the dead, open fresh ones
    pg_events.append(ORG, [record(2, "after")], dedup_since_us=None)
    assert [m.content for m in pg_events.query(ORG, MemoryFilter(), order="asc", limit=5, offset=0)] == [
        "before",
        "after",
    ]
    assert killed is not None


def test_a_ranked_search_leaves_its_connection_as_it_found_it(pg_url: str) -> None:
    """A tier runs in a transaction of its own with its settings, in one message: afterwards the pooled
    connection is idle and has the server's settings, whether the statement succeeded or failed."""
    import psycopg

    from memtrace.stores.postgres import PoolOptions
    from memtrace.stores.postgres.database import fetch_in_transaction

    db = open_postgres_database(pg_url, PoolOptions(min_size=1, max_size=1))  # one connection: the same one
    try:
        events = PostgresEventStore(db)
        events.append(
            ORG, [record(i, f"walrus number {i} and a penguin") for i in range(30)], dedup_since_us=None
        )
        with db.connection() as conn:
            before = conn.execute(
                "SELECT current_setting('enable_seqscan'), current_setting('work_mem')"
            ).fetchone()
        found = events.search(ORG, MemoryFilter(agent_id="agent"), "walrus penguin", limit=5, offset=0)
        assert len(found) == 5 and all(r.score is not None for r in found)
        with db.connection() as conn:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            after = conn.execute(
                "SELECT current_setting('enable_seqscan'), current_setting('work_mem')"
            ).fetchone()
            assert after == before
            rows = fetch_in_transaction(
                conn, "SET LOCAL work_mem = '8MB'", "SELECT %(x)s::text", {"x": "it's"}
            )
            assert rows == [("it's",)]
            with pytest.raises(psycopg.errors.DivisionByZero):
                fetch_in_transaction(conn, "SET LOCAL work_mem = '8MB'", "SELECT 1 / %(zero)s", {"zero": 0})
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert conn.execute("SELECT current_setting('work_mem')").fetchone() == (before[1],)  # type: ignore[index]
        with db.transaction() as conn, pytest.raises(RuntimeError):
            fetch_in_transaction(conn, "SET LOCAL work_mem = '8MB'", "SELECT 1", {})  # would end the caller's
    finally:
        db.close()
