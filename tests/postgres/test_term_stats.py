"""``term_stats`` (each org's count of memories per stem, which BM25's document frequencies come from) stays
exactly what counting the stored memories gives: through batches, duplicates skipped, deletes by filter and by
content, other orgs, and the migration that counts existing memories. And the estimate for a loose prefix that
covers several stems stays within what is certain."""

from __future__ import annotations

import pytest

from memtrace.records import MemoryFilter
from memtrace.stores.arc.terms import QueryTerm
from memtrace.stores.postgres import PostgresEventStore
from memtrace.stores.postgres.frequencies import successor, union_estimate
from memtrace.stores.postgres.schema import MIGRATIONS

from .test_store_behaviour import record

RECOUNT = (
    "SELECT m.org_id, u.lexeme, count(*) FROM memories m CROSS JOIN LATERAL unnest(m.tsv) AS u "
    "WHERE left(u.lexeme, 1) <> '~' GROUP BY 1, 2"
)
KEPT = "SELECT org_id, term, sum(documents) FROM term_stats GROUP BY 1, 2 HAVING sum(documents) <> 0"


def counts(events: PostgresEventStore, sql: str) -> dict[tuple[str, str], int]:
    with events.db.connection() as conn:
        return {(o, t): int(n) for o, t, n in conn.execute(sql).fetchall()}


def contents(n: int) -> list[str]:
    words = ["deploy", "deployed", "deployment", "Straße", "café", "billing", "invoice", "the", "a"]
    return [" ".join(words[(i * k) % len(words)] for k in range(1, 2 + i % 6)) for i in range(n)]


def test_counts_follow_writes_skipped_duplicates_and_deletes(pg_events: PostgresEventStore) -> None:
    batch = [
        record(i, text, agent_id=("a1", "a2")[i % 2], dedup_key=f"k{i % 30}")
        for i, text in enumerate(contents(60))
    ]
    skipped = pg_events.append("org_x", batch, dedup_since_us=0)
    assert len(skipped) == 30  # the second half repeats the first half's keys: not stored, not counted
    pg_events.append("org_y", [record(100 + i, t) for i, t in enumerate(contents(20))], dedup_since_us=None)
    for i, text in enumerate(contents(5)):  # single writes: one INSERT each instead of COPY
        pg_events.append("org_y", [record(200 + i, text)], dedup_since_us=None)
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT) != {}

    assert pg_events.delete("org_x", MemoryFilter(agent_id="a1")) > 0  # deleted in SQL
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)
    assert pg_events.delete("org_y", MemoryFilter(content_contains="STRASSE")) > 0  # checked in Python first
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)
    assert pg_events.delete("org_x", MemoryFilter()) > 0
    assert all(org == "org_y" for org, _ in counts(pg_events, KEPT))


def test_words_that_spell_null_are_counted_and_found(pg_events: PostgresEventStore) -> None:
    # A batch's terms reach the statistics as one array literal: "null" must stay a word there.
    batch = [record(i, ("null value", "NULL pointer", "nothing here")[i % 3]) for i in range(30)]
    pg_events.append("org_x", batch, dedup_since_us=None)
    assert counts(pg_events, KEPT) == counts(pg_events, RECOUNT)
    assert counts(pg_events, KEPT)[("org_x", "null")] == 20
    found = pg_events.search("org_x", MemoryFilter(), "null", limit=50, offset=0)
    assert len(found) == 20 and all("null" in m.content.lower() for m in found)


def test_the_migration_counts_the_memories_already_stored(pg_events: PostgresEventStore) -> None:
    pg_events.append("org_x", [record(i, t) for i, t in enumerate(contents(40))], dedup_since_us=None)
    kept = counts(pg_events, KEPT)
    migration: list[str] = next(m for m in MIGRATIONS if any("CREATE TABLE term_stats" in s for s in m))
    with pg_events.db.connection() as conn:
        conn.execute("TRUNCATE term_stats")
        for statement in migration[1:]:  # what the migration runs after creating the table
            conn.execute(statement)
    assert counts(pg_events, KEPT) == kept == counts(pg_events, RECOUNT)


def test_a_prefix_over_several_stems_is_counted_exactly_below_the_limit_and_bounded_above(
    pg_events: PostgresEventStore,
) -> None:
    texts = ["deployed now", "deployment done", "deployed the deployment", "deploy", "billing"] * 4
    pg_events.append("org_x", [record(i, t) for i, t in enumerate(texts)], dedup_since_us=None)

    def prefix_count(store: PostgresEventStore) -> int:
        stats, _, _ = store._corpus_stats("org_x", [QueryTerm(" deplo")])
        return stats.document_frequency[0]

    assert prefix_count(pg_events) == 16  # exact: "deployed the deployment" counts once
    bounded = prefix_count(PostgresEventStore(pg_events.db, df_exact_limit=3))
    assert 12 <= bounded <= 20  # estimated: at least the largest stem's count (12), at most their sum (20)


@pytest.mark.parametrize(
    ("documents", "dfs", "expected"),
    [
        (100, [50, 50], 75),  # independent halves
        (100, [90, 5], 90),  # never below the largest
        (100, [1, 1], 2),
        (0, [3], 0),
        (10, [10, 10], 10),  # never above the store
    ],
)
def test_union_estimate(documents: int, dfs: list[int], expected: int) -> None:
    assert union_estimate(documents, dfs) == expected


@pytest.mark.parametrize("prefix", ["deplo", "caf", "z", "ñ", "\u00ff", "\ud7ff", "\U0010fffe"])
def test_successor_bounds_exactly_the_strings_with_the_prefix(prefix: str) -> None:
    upper = successor(prefix)
    assert upper is not None
    for s in (prefix, prefix + "a", prefix + "\U0010ffff" * 2, prefix + "zzz"):
        assert prefix.encode() <= s.encode() < upper.encode()
    assert successor("\U0010ffff") is None
