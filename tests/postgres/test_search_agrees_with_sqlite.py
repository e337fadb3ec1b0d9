"""Ranked search on PostgreSQL gives the embedded SQLite store's results on the same data: the same memories,
in the same order, with the same scores (one org; SQLite's statistics span its whole file)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from memtrace.records import MemoryFilter, MemoryRecord
from memtrace.stores.postgres import PostgresDatabase, PostgresEventStore
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteEventStore

from .stores import TEST_POOL

ORG = "org_rank"
VOCABULARY = [
    "deploy",
    "deployed",
    "deployment",
    "deploying",
    "failure",
    "failed",
    "fails",
    "billing",
    "invoice",
    "invoices",
    "customer",
    "customers",
    "prefers",
    "dark",
    "mode",
    "light",
    "theme",
    "migration",
    "migrated",
    "database",
    "postgres",
    "sqlite",
    "kubernetes",
    "cluster",
    "node",
    "nodes",
    "rollback",
    "rolled",
    "incident",
    "outage",
    "latency",
    "spike",
    "cache",
    "caching",
    "cached",
    "user",
    "users",
    "token",
    "tokens",
    "café",
    "naïve",
    "résumé",
    "straße",
    "über",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
]
QUERIES = [
    "deploy failure",
    "deployment",
    "billing invoices for customers",
    "dark mode",
    "the",
    "cafe resume",
    "Straße über",
    "database_migration",
    "rollback incident outage",
    "cached tokens latency",
    "kubernetes",
    "nothing_matches_this zzz",
    "users prefer light theme",
]


def corpus(n: int, seed: int = 7) -> list[MemoryRecord]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(2, 14))]
        if rng.random() < 0.1:
            words.insert(rng.randint(0, len(words)), "database_migration")
        records.append(
            MemoryRecord(
                id=f"mem_{i:026d}",
                org_id=ORG,
                time_us=1_760_000_000_000_000 + (i // 3) * 1_000_000,  # ties in time, broken by write order
                agent_id=rng.choice(["agent_a", "agent_b"]),
                session_id=rng.choice([None, "s1", "s2"]),
                memory_type=rng.choice(["episodic", "decision"]),
                event_type="general",
                content=" ".join(words),
                metadata_json=None,
                tags=tuple(rng.sample(["ops", "billing", "ui"], rng.randint(0, 2))),
                dedup_key=None,
                importance=rng.choice([None, 0.2, 0.9]),
                parent_id=None,
            )
        )
    return records


@pytest.fixture
def both(pg_events: PostgresEventStore, tmp_path: Path) -> tuple[SQLiteEventStore, PostgresEventStore]:
    sqlite = SQLiteEventStore(SQLiteDatabase(tmp_path / "sqlite"))
    records = corpus(400)
    for start in range(0, len(records), 100):  # several batches, as ingest arrives
        sqlite.append(ORG, records[start : start + 100], dedup_since_us=None)
        pg_events.append(ORG, records[start : start + 100], dedup_since_us=None)
    return sqlite, pg_events


FILTERS = [
    MemoryFilter(),
    MemoryFilter(agent_id="agent_a"),
    MemoryFilter(agent_id="agent_b", session_id="s1"),
    MemoryFilter(tags=("ops",)),
    MemoryFilter(memory_types=("decision",), min_importance=0.5),
]


@pytest.mark.parametrize("flt", FILTERS, ids=["org", "agent", "session", "tag", "type+importance"])
def test_same_results_order_and_scores(both, flt: MemoryFilter) -> None:
    sqlite, pg = both
    compared = 0
    for query in QUERIES:
        expected = sqlite.search(ORG, flt, query, limit=50, offset=0)
        got = pg.search(ORG, flt, query, limit=50, offset=0)
        assert [(m.id, m.score) for m in got] == [(m.id, m.score) for m in expected], query
        compared += len(expected)
    assert compared > 100  # the queries do find things


def test_pages_agree(both) -> None:
    sqlite, pg = both
    for offset in (0, 7, 30):
        expected = sqlite.search(ORG, MemoryFilter(), "deploy failure billing", limit=10, offset=offset)
        got = pg.search(ORG, MemoryFilter(), "deploy failure billing", limit=10, offset=offset)
        assert [m.id for m in got] == [m.id for m in expected]


def test_another_orgs_memories_change_nothing_in_this_orgs_ranking(pg_events: PostgresEventStore) -> None:
    records = corpus(120)
    pg_events.append(ORG, records, dedup_since_us=None)
    before = [
        (m.id, m.score) for m in pg_events.search(ORG, MemoryFilter(), "deploy failure", limit=30, offset=0)
    ]
    noisy = [
        MemoryRecord(**{**_fields(r), "id": r.id.replace("mem_", "mem_b"), "org_id": "org_other"})
        for r in corpus(300, seed=99)
    ]
    pg_events.append("org_other", noisy, dedup_since_us=None)
    after = [
        (m.id, m.score) for m in pg_events.search(ORG, MemoryFilter(), "deploy failure", limit=30, offset=0)
    ]
    assert after == before


def _fields(r: MemoryRecord) -> dict[str, Any]:
    return {name: getattr(r, name) for name in MemoryRecord.__slots__ if name != "score"}


def test_scores_follow_writes_from_this_and_another_process(
    pg_url: str, pg_events: PostgresEventStore, tmp_path: Path
) -> None:
    """Term counts are cached per org; a write anywhere (here: through a second pool, as another replica
    would) must show in the very next search's scores."""
    sqlite = SQLiteEventStore(SQLiteDatabase(tmp_path / "sqlite"))
    records = corpus(160)
    other = PostgresEventStore(PostgresDatabase(pg_url, TEST_POOL))
    try:
        for writer, batch in (
            (pg_events, records[:60]),
            (other, records[60:110]),
            (pg_events, records[110:]),
        ):
            sqlite.append(ORG, batch, dedup_since_us=None)
            writer.append(ORG, batch, dedup_since_us=None)
            for query in ("deploy failure", "billing customers", "cache"):
                expected = [
                    (m.id, m.score) for m in sqlite.search(ORG, MemoryFilter(), query, limit=20, offset=0)
                ]
                assert [
                    (m.id, m.score) for m in pg_events.search(ORG, MemoryFilter(), query, limit=20, offset=0)
                ] == expected
        sqlite.delete(ORG, MemoryFilter(agent_id="agent_a"))
        other.delete(ORG, MemoryFilter(agent_id="agent_a"))
        expected = [
            (m.id, m.score) for m in sqlite.search(ORG, MemoryFilter(), "deploy failure", limit=20, offset=0)
        ]
        assert [
            (m.id, m.score)
            for m in pg_events.search(ORG, MemoryFilter(), "deploy failure", limit=20, offset=0)
        ] == expected
    finally:
        other.db.close()


def test_estimated_phrase_counts_equal_exact_ones_when_the_sample_is_everything(both) -> None:
    """Past `df_exact_limit` a phrase's count is estimated from the org's most recent memories; with a sample
    as large as the org the estimate is the count, so the results are still SQLite's."""
    sqlite, pg = both
    estimating = PostgresEventStore(pg.db, df_exact_limit=5, df_sample=10_000)
    for query in ("database_migration", "kubernetes database_migration"):
        expected = [(m.id, m.score) for m in sqlite.search(ORG, MemoryFilter(), query, limit=30, offset=0)]
        got = [(m.id, m.score) for m in estimating.search(ORG, MemoryFilter(), query, limit=30, offset=0)]
        assert got == expected and got, query


def test_an_org_that_fills_the_store_is_searched_without_its_scope_token_and_ranks_the_same(both) -> None:
    """Once PostgreSQL's statistics say the org is most of the store, org-wide searches leave the org's
    token out of the index scan (it would filter nothing); the rows' org is still checked, so nothing
    changes in the results."""
    sqlite, pg = both
    with pg.db.connection() as conn:
        conn.execute("ANALYZE memories")
    fresh = PostgresEventStore(pg.db)  # no cached store size
    with pg.db.connection() as conn:
        assert not fresh._org_token_narrows(conn, 400)
        assert fresh._org_token_narrows(conn, 40)
    for query in QUERIES:
        expected = [(m.id, m.score) for m in sqlite.search(ORG, MemoryFilter(), query, limit=30, offset=0)]
        assert [
            (m.id, m.score) for m in fresh.search(ORG, MemoryFilter(), query, limit=30, offset=0)
        ] == expected
