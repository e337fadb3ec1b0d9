"""A small write with fact versions goes through ``memtrace_append_facts`` (one round trip), a batch of
`COPY_FROM_ROWS` or more through the Python transaction that runs `memtrace.facts.place_version`. The two must
decide the same: the same rows stored with the same validity and links, the same duplicates skipped, the same
errors for a bad ``supersedes``, exact keyword statistics, and writers of one key through either path must
serialise on the same locks."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace

import pytest
from psycopg import pq

from memtrace import ConflictError, NotFoundError, ValidationError
from memtrace.errors import MemtraceError
from memtrace.records import MemoryFilter, MemoryRecord
from memtrace.stores.postgres import PoolOptions, PostgresDatabase, PostgresEventStore, migrate
from memtrace.stores.postgres.events import COPY_FROM_ROWS, _fact_lock
from memtrace.stores.postgres.schema import APPEND_FACTS_FUNCTION_V1, SCHEMA_VERSION

from .stores import TEST_POOL
from .test_append_function import reads_of_each_write, schema_before
from .test_store_behaviour import T0, record
from .test_term_stats import KEPT, RECOUNT, counts

SMALL, LONG = "org_small", "org_long"
KEY = "user:ada/city"
S = 1_000_000  # a second in microseconds
_ids = itertools.count(1)


def version(content: str, at: int, key: str | None = KEY, **fields: object) -> MemoryRecord:
    """A fact version as the engine makes one: valid from its time unless told otherwise."""
    fields.setdefault("valid_from_us", T0 + at * S)
    return record(next(_ids), content, time_us=T0 + 100 * S + next(_ids), fact_key=key, **fields)


def fillers(n: int) -> list[MemoryRecord]:
    return [record(next(_ids), f"filler {i}", time_us=T0 + 200 * S + next(_ids)) for i in range(n)]


def clone(r: MemoryRecord, org: str) -> MemoryRecord:
    return replace(r, org_id=org)


def rows(events: PostgresEventStore, org: str) -> list[tuple[object, ...]]:
    found = events.query(org, MemoryFilter(), order="asc", limit=1_000, offset=0)
    return sorted(
        (r.id, r.content, r.fact_key, r.valid_from_us, r.valid_until_us, r.superseded_by, r.dedup_key)
        for r in found
    )


def write_both(
    events: PostgresEventStore, batch: list[MemoryRecord], since: int | None = None
) -> tuple[list[int], list[tuple[object, ...]]]:
    """`batch` to SMALL in one call of the function, and to LONG padded with fillers to a COPY batch (the
    fillers go to SMALL too, on their own, so both orgs hold the same rows). Returns the skipped positions,
    which must agree, and the records as each path left them (validity set by placement)."""
    assert len(batch) < COPY_FROM_ROWS
    small = [clone(r, SMALL) for r in batch]
    long = [clone(r, LONG) for r in batch]
    pad = fillers(COPY_FROM_ROWS)
    skipped_small = events.append(SMALL, small, dedup_since_us=since)
    events.append(SMALL, [clone(f, SMALL) for f in pad], dedup_since_us=None)
    skipped_long = events.append(LONG, long + [clone(f, LONG) for f in pad], dedup_since_us=since)
    assert skipped_small == skipped_long
    placed_small = [(r.id, r.valid_until_us, r.superseded_by) for r in small]
    placed_long = [(r.id, r.valid_until_us, r.superseded_by) for r in long]
    assert placed_small == placed_long
    assert rows(events, SMALL) == rows(events, LONG)
    return skipped_small, rows(events, SMALL)


def test_versions_backfills_and_duplicates_are_placed_as_the_python_path_places_them(
    pg_events: PostgresEventStore,
) -> None:
    paris = version("Paris", 10)
    write_both(pg_events, [paris])
    write_both(pg_events, [version("Berlin", 20)])
    assert write_both(pg_events, [version("Berlin", 25)])[0] == [0]  # the same again: a duplicate
    write_both(pg_events, [version("Rome", 15)])  # a backfill into history
    write_both(pg_events, [version("Oslo", 5)])  # before the first version: ends where it begins
    # Several versions in one call: a later one cuts an earlier one of the same call, ties go to the later one,
    # a duplicate of an earlier row of the call is skipped.
    same_time = version("Lima", 30)
    call = [
        version("Kyiv", 40),
        same_time,
        version("Quito", 30),
        version("Bern", 30),  # a tie at 30: the version written last is the one valid there
        version("Kyiv", 45),
        version("Kyiv", 50, key="user:bob/city"),
        version("Kyiv", 50, key="user:bob/city"),
    ]
    skipped, _ = write_both(pg_events, call)
    assert skipped == [4, 6]
    history = [r for r in rows(pg_events, SMALL) if r[2] == KEY]
    chain = sorted(history, key=lambda r: (r[3], r[0]))
    assert [r[1] for r in chain][-1] == "Kyiv" and chain[-1][4] is None
    assert sum(1 for r in history if r[4] is None) == 1  # exactly one current
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)


def test_supersedes_by_id_with_and_without_keys_and_dedup(pg_events: PostgresEventStore) -> None:
    note = record(next(_ids), "an unkeyed note", time_us=T0 + next(_ids))
    pg_events.append(SMALL, [clone(note, SMALL)], dedup_since_us=None)
    pg_events.append(LONG, [clone(note, LONG)], dedup_since_us=None)
    other = version("Madrid", 10, key="user:eve/city")
    write_both(pg_events, [other])
    # Unkeyed, replacing an unkeyed memory and a version of a key it does not write (its lock is the key's:
    # the function asks for it and is called again).
    replacing = version("both replaced", 20, key=None, supersedes=(note.id, other.id), dedup_key="d1")
    write_both(pg_events, [replacing], since=0)
    assert write_both(pg_events, [version("again", 30, key=None, dedup_key="d1")], since=0)[0] == [0]
    # Keyed and naming the key's current version too: cut once.
    first = version("v1", 40, key="user:joe/city")
    write_both(pg_events, [first])
    write_both(pg_events, [version("v2", 50, key="user:joe/city", supersedes=(first.id,))])
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)


@pytest.mark.parametrize(
    ("target", "at", "error", "message"),
    [
        ("missing", 50, NotFoundError, "supersedes[1]: memory mem_missing not found"),
        ("cut", 50, ConflictError, "supersedes[1]: memory {cut} was already superseded by {by}"),
        ("current", 1, ValidationError, "invalid supersedes[1]: memory {current} became valid after"),
    ],
)
def test_a_bad_supersedes_target_fails_as_on_the_python_path_and_stores_nothing(
    pg_events: PostgresEventStore, target: str, at: int, error: type[MemtraceError], message: str
) -> None:
    cut, by, current = version("old", 10), version("new", 20), version("ok", 0, key="user:x/y")
    write_both(pg_events, [cut])
    write_both(pg_events, [by])
    write_both(pg_events, [current])
    names = {"missing": "mem_missing", "cut": cut.id, "current": by.id}
    bad = version("bad", at, key=None, supersedes=(current.id, names[target]))
    expected = message.format(cut=cut.id, by=by.id, current=by.id)
    before_small, before_long = rows(pg_events, SMALL), rows(pg_events, LONG)
    with pytest.raises(error) as small:
        pg_events.append(SMALL, [clone(bad, SMALL)], dedup_since_us=None)
    with pytest.raises(error) as long:
        pg_events.append(LONG, [clone(bad, LONG), *fillers(COPY_FROM_ROWS)], dedup_since_us=None)
    assert str(small.value) == str(long.value) and str(small.value).startswith(expected)
    if isinstance(small.value, ValidationError):
        assert small.value.field == long.value.field == "supersedes[1]"  # type: ignore[attr-defined]
    assert rows(pg_events, SMALL) == before_small and rows(pg_events, LONG) == before_long


def test_writers_of_one_key_through_both_paths_leave_exactly_one_current(
    pg_events: PostgresEventStore,
) -> None:
    def write(i: int) -> None:
        r = version(f"city {i}", 10 + i)
        r = clone(r, SMALL)
        batch = [r] if i % 2 else [r] + [clone(f, SMALL) for f in fillers(COPY_FROM_ROWS)]
        pg_events.append(SMALL, batch, dedup_since_us=None)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(24)))
    history = sorted((r for r in rows(pg_events, SMALL) if r[2] == KEY), key=lambda r: (r[3], r[0]))
    assert len(history) == 24
    for older, newer in itertools.pairwise(history):
        assert older[4] == newer[3] and older[5] == newer[0]  # one chain, each ends where the next begins
    assert history[-1][4] is None and history[-1][5] is None
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)


@pytest.mark.parametrize("path", ["function", "python"])
@pytest.mark.parametrize("how", ["by key", "by id of a keyed memory"])
def test_a_write_waits_for_the_lock_of_the_key_it_changes(
    pg_events: PostgresEventStore, path: str, how: str
) -> None:
    # The lock another writer of the key holds (either path, any replica version): a supersedes by id of one of
    # the key's versions must wait for it too, though the caller never named the key.
    current = clone(version("Paris", 10), SMALL)
    pg_events.append(SMALL, [current], dedup_since_us=None)
    if how == "by key":
        new = clone(version("Berlin", 20), SMALL)
    else:
        new = clone(version("Berlin", 20, key=None, supersedes=(current.id,)), SMALL)
    batch = [new] if path == "function" else [new] + [clone(f, SMALL) for f in fillers(COPY_FROM_ROWS)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        with pg_events.db.transaction() as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (_fact_lock(SMALL, f"k\x00{KEY}"),))
            writing = pool.submit(pg_events.append, SMALL, batch, dedup_since_us=None)
            with pytest.raises(FutureTimeout):
                writing.result(timeout=0.5)
            assert pg_events.get(SMALL, current.id).valid_until_us is None  # type: ignore[union-attr]
        assert writing.result(timeout=30) == []
    assert pg_events.get(SMALL, current.id).superseded_by == new.id  # type: ignore[union-attr]


def test_a_database_from_before_the_function_upgrades_and_its_versions_are_superseded(pg_url: str) -> None:
    added = schema_before(pg_url, APPEND_FACTS_FUNCTION_V1)  # the schema as the code before it left it
    db = PostgresDatabase(pg_url, TEST_POOL)
    try:
        events = PostgresEventStore(db)
        paris = clone(version("Paris", 10), SMALL)
        # a COPY batch: needs no function
        assert events.append(SMALL, [paris, *fillers(COPY_FROM_ROWS)], dedup_since_us=None) == []

        assert migrate(pg_url) == list(range(added + 1, SCHEMA_VERSION + 1))
        berlin = clone(version("Berlin", 20), SMALL)
        assert events.append(SMALL, [berlin], dedup_since_us=None) == []
        assert events.append(SMALL, [clone(version("Berlin", 30), SMALL)], dedup_since_us=None) == [0]
        stored = events.get(SMALL, paris.id)
        assert (
            stored is not None and stored.superseded_by == berlin.id and stored.valid_until_us == T0 + 20 * S
        )
        assert counts(events, KEPT) == counts(events, RECOUNT)
    finally:
        db.close()


def round_trips(db: PostgresDatabase, write: Callable[[], object]) -> int:
    """How many times `write` waited for the server: the frontend messages that end a request (``Sync`` of an
    extended-protocol statement, ``Query`` of a simple one), read from libpq's trace of the pool's one
    connection; the pool's liveness ping (an empty query after an idle second) is not the write's."""
    assert db.options.max_size == 1
    with tempfile.TemporaryFile() as trace:
        with db.pool.connection() as conn:
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        write()
        with db.pool.connection() as conn:
            conn.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().decode().splitlines()
    sent = [line.split("\t") for line in lines if line.startswith("F\t")]
    return sum(1 for m in sent if m[2] == "Sync" or (m[2] == "Query" and m[3:] != [' ""']))


def test_a_keyed_write_is_one_round_trip(pg_url: str) -> None:
    migrate(pg_url)
    db = PostgresDatabase(pg_url, PoolOptions(min_size=1, max_size=1))
    try:
        events = PostgresEventStore(db)
        note = clone(record(next(_ids), "a note", time_us=T0), SMALL)
        paris = clone(version("Paris", 10), SMALL)
        events.append(SMALL, [note, paris], dedup_since_us=None)  # partitions made, connection warm

        berlin = clone(version("Berlin", 20, dedup_key="d"), SMALL)
        assert round_trips(db, lambda: events.append(SMALL, [berlin], dedup_since_us=0)) == 1
        by_id = clone(version("Rome", 30, supersedes=(note.id,)), SMALL)
        assert round_trips(db, lambda: events.append(SMALL, [by_id], dedup_since_us=None)) == 1
        # A target whose key the caller could not know: asked for, then called again with its lock.
        unkeyed = clone(version("Oslo", 40, key=None, supersedes=(by_id.id,)), SMALL)
        assert round_trips(db, lambda: events.append(SMALL, [unkeyed], dedup_since_us=None)) == 2
        assert events.get(SMALL, by_id.id).superseded_by == unkeyed.id  # type: ignore[union-attr]
    finally:
        db.close()


def test_a_fact_versions_dedup_probe_looks_its_keys_up_instead_of_reading_the_window(
    pg_events: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2,000 memories with dedup keys in the window. Under generic plans (a connection's sixth call on) the probe
    # (`dedup_key = ANY(keys) AND time_us > since`) read every one of them through the primary key.
    written = [replace(f, dedup_key=f"k{i}") for i, f in enumerate(fillers(2_000))]
    pg_events.append(SMALL, [clone(f, SMALL) for f in written], dedup_since_us=0)
    reads = reads_of_each_write(pg_events.db, monkeypatch)
    paris = clone(version("Paris", 10, dedup_key="city-paris"), SMALL)
    assert pg_events.append(SMALL, [paris], dedup_since_us=0) == []
    again = clone(version("Paris, again", 20, dedup_key="city-paris"), SMALL)
    assert pg_events.append(SMALL, [again], dedup_since_us=0) == [0]  # the same dedup key within the window
    assert max(reads) <= 20  # a few index entries per key, not the window's 2,000 memories
