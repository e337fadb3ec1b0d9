"""The SQLite store's index of superseded memories (what lets a count read an index alone while nothing in its
scope is superseded, stores/sqlite/events.py `count`): a store written before it is upgraded in place."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace
from memtrace.stores.sqlite.schema import MIGRATIONS


def _fill(mt: Memtrace) -> None:
    mt.add_memories([AddMemoryRequest(agent_id="a", content=f"note {i}") for i in range(5)])
    mt.add_memory(AddMemoryRequest(agent_id="a", content="lives in Paris", key="city"))
    mt.add_memory(AddMemoryRequest(agent_id="a", content="lives in Berlin", key="city"))
    mt.add_memory(AddMemoryRequest(agent_id="b", content="another agent"))


def test_a_store_from_before_the_superseded_index_is_upgraded_in_place(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "data") as mt:
        _fill(mt)
    # As the code before the index left it: no index, the version before its migration.
    version = next(i for i, m in enumerate(MIGRATIONS) if any("memories_superseded" in s for s in m))
    conn = sqlite3.connect(tmp_path / "data" / "memtrace.db")
    conn.execute("DROP INDEX memories_superseded")
    for later in MIGRATIONS[version + 1 :]:  # and none of the indexes migrations after it add
        for statement in later:
            created = re.match(r"CREATE INDEX (\w+)", statement)
            assert created is not None, f"undo this later migration here too: {statement}"
            conn.execute(f"DROP INDEX {created.group(1)}")
    conn.execute(f"PRAGMA user_version={version}")
    conn.commit()
    conn.close()
    with Memtrace.open(tmp_path / "data") as mt:
        stats = mt.get_agent_stats("a")
        assert stats.memory_count == 6  # five notes and Berlin: Paris is superseded
        assert mt.get_agent_stats("b").memory_count == 1
    conn = sqlite3.connect(tmp_path / "data" / "memtrace.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    indexed = conn.execute(
        "SELECT COUNT(*) FROM memories INDEXED BY memories_superseded WHERE valid_until_us IS NOT NULL"
    ).fetchone()[0]
    conn.close()
    assert indexed == 1
