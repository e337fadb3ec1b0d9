"""The keyword index keys rows by (block, agent slot, rowid in block) (stores/sqlite/org_index.py): a store
whose index was keyed by rowid is migrated in place and finds what it found before; agents stay apart; deletes
take rows out of the index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace, SearchQuery
from memtrace.stores.sqlite.org_index import BLOCK_BITS
from memtrace.stores.sqlite.schema import MIGRATIONS, register_schema_functions

_KEYED = next(i for i, m in enumerate(MIGRATIONS) if any("fts_agents" in s for s in m))


def _old_store(data: Path) -> None:
    """A store as the version before keys wrote it: rowid-keyed external-content tables, fully indexed."""
    data.mkdir()
    conn = sqlite3.connect(data / "memtrace.db", isolation_level=None)
    register_schema_functions(conn)
    for script in MIGRATIONS[:_KEYED]:
        for statement in script:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version={_KEYED}")
    rows = [
        ("org_default", "agent_a", "the deploy failed on monday"),
        ("org_default", "agent_b", "deploy worked after a retry"),
        ("org_default", "agent_a", "billing invoice sent"),
        ("org_other", "agent_a", "deploy of the other org"),
    ]
    for i, (org, agent, content) in enumerate(rows):
        conn.execute(
            "INSERT INTO memories (id, org_id, time_us, agent_id, memory_type, event_type, content) "
            "VALUES (?, ?, ?, ?, 'episodic', 'general', ?)",
            (f"mem_{i:026d}", org, 1_700_000_000_000_000 + i, agent, content),
        )
    for n, org in enumerate(("org_default", "org_other"), start=1):
        conn.execute("INSERT INTO fts_orgs (n, org_id) VALUES (?, ?)", (n, org))
        conn.execute(
            f"CREATE VIRTUAL TABLE memories_fts_{n} USING fts5(content, scope, content='memories', "
            "content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2')"
        )
        conn.execute(
            f"INSERT INTO memories_fts_{n}(rowid, content, scope) SELECT rowid, content, scope FROM memories "
            "WHERE org_id = ?",
            (org,),
        )
    conn.execute("UPDATE fts_state SET indexed_rowid = (SELECT MAX(rowid) FROM memories)")
    conn.close()


def test_a_store_indexed_by_rowid_is_migrated_and_finds_the_same(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _old_store(data)
    with Memtrace.open(data) as mt:
        found = mt.search_memories(SearchQuery(query="deploy")).results
        assert sorted(m.content for m in found) == [
            "deploy worked after a retry",
            "the deploy failed on monday",
        ]
        assert [
            m.content for m in mt.search_memories(SearchQuery(query="deploy", agent_id="agent_b")).results
        ] == ["deploy worked after a retry"]
        mt.add_memory(AddMemoryRequest(agent_id="agent_c", content="a new deploy"))
        assert mt.search_memories(SearchQuery(query="deploy")).count == 3
    with Memtrace.open(data, org_id="org_other") as other:
        assert [m.content for m in other.search_memories(SearchQuery(query="deploy")).results] == [
            "deploy of the other org"
        ]
    conn = sqlite3.connect(data / "memtrace.db")
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE name GLOB 'memories_fts_*'")}
    mapped = {f"memories_fts_{n}" for (n,) in conn.execute("SELECT n FROM fts_orgs")}
    conn.close()
    assert (
        "memories_fts_1" not in tables and "memories_fts_2" not in tables
    )  # the rowid-keyed tables are gone
    assert mapped <= tables and len(mapped) == 2


def test_agents_stay_apart_across_blocks_and_deletes_leave_the_index(tmp_path: Path) -> None:
    """More rows than one block (2**BLOCK_BITS rowids) would take too long here, so the rowids are pushed past
    a block boundary instead: a memory written after a large rowid lands in the next block."""
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        mt.add_memories(
            [AddMemoryRequest(agent_id=f"agent_{i % 3}", content=f"walrus number {i}") for i in range(30)]
        )
        assert mt.search_memories(SearchQuery(query="walrus", agent_id="agent_1", limit=100)).count == 10
    conn = sqlite3.connect(data / "memtrace.db", isolation_level=None)
    # The next memory takes a rowid past the first block boundary.
    conn.execute(
        "INSERT INTO memories (rowid, id, org_id, time_us, agent_id, memory_type, event_type, content) "
        "VALUES (?, 'mem_boundary', 'org_default', 1, 'agent_1', 'episodic', 'general', 'walrus far away')",
        ((1 << BLOCK_BITS) + 5,),
    )
    conn.close()
    with Memtrace.open(data) as mt:
        mt.add_memories(
            [AddMemoryRequest(agent_id=f"agent_{i % 3}", content=f"walrus later {i}") for i in range(30)]
        )
        for agent in ("agent_0", "agent_1", "agent_2"):
            got = mt.search_memories(SearchQuery(query="walrus", agent_id=agent, limit=100)).results
            assert {m.agent_id for m in got} == {agent}
            assert len(got) == (21 if agent == "agent_1" else 20)
        assert mt.search_memories(SearchQuery(query="walrus", limit=100)).count == 61
        assert mt.delete_memories(agent_id="agent_1") == 21
        assert mt.search_memories(SearchQuery(query="walrus", agent_id="agent_1", limit=100)).count == 0
        assert mt.search_memories(SearchQuery(query="walrus", limit=100)).count == 40
        assert mt.search_memories(SearchQuery(query="far away")).count == 0
