"""The embedded store scores small candidate sets itself (stores/sqlite/ranking.py) instead of with FTS5's
``bm25()``: the answers, their order and their scores must be bm25()'s, for every scope and tier."""

from __future__ import annotations

import random
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace
from memtrace.records import MemoryFilter
from memtrace.stores.sqlite.database import SQLiteDatabase
from memtrace.stores.sqlite.events import SQLiteEventStore

WORDS = [
    "deploy",
    "deployed",
    "deployment",
    "failed",
    "failure",
    "billing",
    "invoice",
    "customer",
    "update",
    "updated",
    "updating",
    "error",
    "errors",
    "user",
    "prefers",
    "dark",
    "mode",
    "sure",
    "thing",
    "café",
    "naïve",
    "résumé",
    "the",
    "a",
    "of",
    "to",
    "and",
    "server",
    "database",
    "timeout",
    "retry",
    "it's",
    "Straße",
]
QUERIES = (
    "deployment failed",
    "billing",
    "update error billing",
    "user prefers dark mode",
    "sure_thing",
    "cafe naive",
    "Straße café",  # FTS5 stems the bytes of non-ASCII words: ranked by bm25() itself
    "the",
    "errors updates",
    "nothing matches zebra",
    "it's",  # "s": also a token of the scope column, which must not count
)


def _fill(data: Path) -> None:
    rng = random.Random(5)
    with Memtrace.open(data) as mt:
        mt.add_memories(
            [
                AddMemoryRequest(
                    agent_id=f"agent_{i % 3}",
                    session_id=f"s{i % 5}" if i % 4 else None,
                    content=" ".join(rng.choices(WORDS, k=rng.randint(1, 30))),
                    importance=rng.choice([None, 0.2, 0.9]),
                )
                for i in range(600)
            ]
        )


def _search(store: SQLiteEventStore, query: str, flt: MemoryFilter) -> list[tuple[str, float | None]]:
    found = store.search("org_default", flt, query, limit=25, offset=0)
    return [(r.id, r.score) for r in found]


def test_scores_and_order_are_bm25s(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _fill(data)
    ours = SQLiteEventStore(SQLiteDatabase(data))
    fts5 = SQLiteEventStore(SQLiteDatabase(data), score_limit=0)  # always bm25()
    try:
        filters = [
            MemoryFilter(),
            MemoryFilter(agent_id="agent_1"),
            MemoryFilter(session_id="s2"),
            MemoryFilter(agent_id="agent_2", min_importance=0.5),
        ]
        compared = 0
        for flt in filters:
            for query in QUERIES:
                got, want = _search(ours, query, flt), _search(fts5, query, flt)
                assert [i for i, _ in got] == [i for i, _ in want], (query, flt)
                for (_, a), (_, b) in zip(got, want, strict=True):
                    assert a is not None and b is not None and abs(a - b) <= 2e-6, (query, flt, a, b)
                compared += len(got)
        assert compared > 300
    finally:
        ours.close()
        fts5.close()


def test_counts_follow_writes_and_deletes(tmp_path: Path) -> None:
    """A small organisation's document frequencies are recounted after every change of its index."""
    data = tmp_path / "data"
    _fill(data)
    ours = SQLiteEventStore(SQLiteDatabase(data))
    fts5 = SQLiteEventStore(SQLiteDatabase(data), score_limit=0)
    try:
        before = _search(ours, "billing", MemoryFilter())
        with Memtrace.open(data) as mt:
            mt.add_memories([AddMemoryRequest(agent_id="x", content="billing billing") for _ in range(40)])
            assert mt.delete_memories(agent_id="agent_0") > 0
        after = _search(ours, "billing", MemoryFilter())
        assert after != before
        assert after == _search(fts5, "billing", MemoryFilter())
    finally:
        ours.close()
        fts5.close()
