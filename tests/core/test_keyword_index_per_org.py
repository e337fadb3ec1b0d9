"""The SQLite store keeps one keyword index per organisation (stores/sqlite/org_index.py): a store written by
the version with one shared index is migrated and still finds everything; scores ignore other organisations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace, SearchQuery
from memtrace.stores.sqlite.schema import MIGRATIONS


def test_a_store_with_the_shared_index_is_migrated_and_searchable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = sqlite3.connect(data / "memtrace.db", isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    for i, (org, content) in enumerate(
        [("org_default", "the deploy failed"), ("org_other", "deploy worked")]
    ):
        conn.execute(
            "INSERT INTO memories (id, org_id, time_us, agent_id, memory_type, event_type, content) "
            "VALUES (?, ?, ?, 'a', 'episodic', 'general', ?)",
            (f"mem_{i:026d}", org, 1_700_000_000_000_000 + i, content),
        )
    conn.execute("INSERT INTO memories_fts(rowid, content, scope) SELECT rowid, content, scope FROM memories")
    conn.execute("UPDATE fts_state SET indexed_rowid = 2")
    conn.close()
    with Memtrace.open(data) as mt:
        found = mt.search_memories(SearchQuery(query="deploy")).results
        assert [m.content for m in found] == ["the deploy failed"]
        mt.add_memory(AddMemoryRequest(agent_id="a", content="another deploy"))
        assert mt.search_memories(SearchQuery(query="deploy")).count == 2
    with Memtrace.open(data, org_id="org_other") as other:
        assert [m.content for m in other.search_memories(SearchQuery(query="deploy")).results] == [
            "deploy worked"
        ]


def test_deleting_one_orgs_memories_leaves_the_others_searchable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data, org_id="org_a") as a, Memtrace.open(data, org_id="org_b") as b:
        a.add_memories([AddMemoryRequest(agent_id="x", content=f"shared word {i}") for i in range(5)])
        b.add_memories([AddMemoryRequest(agent_id="x", content=f"shared word {i}") for i in range(7)])
        scores = [m.score for m in a.search_memories(SearchQuery(query="shared")).results]
        assert b.delete_memories(agent_id="x") == 7
        assert b.search_memories(SearchQuery(query="shared")).count == 0
        assert [m.score for m in a.search_memories(SearchQuery(query="shared")).results] == scores
