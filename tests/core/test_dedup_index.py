"""The SQLite dedup index is keyed by a 64-bit hash of the dedup key (stores/sqlite/schema.py): a store written
before that is upgraded in place and still catches duplicates of what it held; keys that share a hash are told
apart by the key itself."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memtrace import AddMemoryRequest, ConflictError, Memtrace, SearchQuery, dedup_key
from memtrace.stores.sqlite import events
from memtrace.stores.sqlite.schema import MIGRATIONS, dedup_hash


def _hash_migration() -> int:
    """The position of the migration that added the hashed dedup index (never hard-coded: others append)."""
    return next(i for i, m in enumerate(MIGRATIONS) if any("memories_dedup_h" in s for s in m))


def _old_store(data: Path, contents: list[str]) -> None:
    """A store as the code before the hashed index wrote it: every earlier migration, rows without a hash."""
    data.mkdir()
    conn = sqlite3.connect(data / "memtrace.db", isolation_level=None)
    version = _hash_migration()
    for script in MIGRATIONS[:version]:
        for statement in script:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version={version}")
    now_us = int(time.time() * 1_000_000)
    for i, content in enumerate(contents):
        conn.execute(
            "INSERT INTO memories (id, org_id, time_us, agent_id, memory_type, event_type, content, dedup_key) "
            "VALUES (?, 'org_default', ?, 'a', 'episodic', 'general', ?, ?)",
            (f"mem_{i:026d}", now_us - 1_000 + i, content, dedup_key("a", "general", content)),
        )
    conn.close()


def test_an_older_store_is_upgraded_in_place_and_still_catches_duplicates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _old_store(data, ["the deploy failed", "billing retried"])
    with Memtrace.open(data) as mt:
        with pytest.raises(ConflictError):
            mt.add_memory(AddMemoryRequest(agent_id="a", content="the deploy failed"))
        batch = mt.add_memories(
            [AddMemoryRequest(agent_id="a", content=c) for c in ("billing retried", "something new")]
        )
        assert (len(batch), batch.skipped_indexes) == (1, [0])
        assert mt.search_memories(SearchQuery(query="deploy")).count == 1
    conn = sqlite3.connect(data / "memtrace.db")
    rows = conn.execute("SELECT dedup_key, dedup_h FROM memories").fetchall()
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    assert len(rows) == 3 and all(h == dedup_hash(k) for k, h in rows)  # old rows got their hash
    assert "memories_dedup_h" in indexes and "memories_dedup" not in indexes
    assert version == len(MIGRATIONS)


def test_keys_sharing_a_hash_are_not_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "dedup_hash", lambda key: 7)  # every key collides
    with Memtrace.open(tmp_path / "data") as mt:
        mt.add_memory(AddMemoryRequest(agent_id="a", content="one"))
        mt.add_memory(AddMemoryRequest(agent_id="a", content="two"))  # same hash, other key: stored
        with pytest.raises(ConflictError):
            mt.add_memory(AddMemoryRequest(agent_id="a", content="one"))
        batch = mt.add_memories([AddMemoryRequest(agent_id="a", content=c) for c in ("two", "three")])
        assert batch.skipped_indexes == [0] and [m.content for m in batch] == ["three"]


def test_another_orgs_key_is_not_a_duplicate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data, org_id="org_a") as a, Memtrace.open(data, org_id="org_b") as b:
        a.add_memory(AddMemoryRequest(agent_id="x", content="same words"))
        b.add_memory(AddMemoryRequest(agent_id="x", content="same words"))  # same key and hash, other org
        with pytest.raises(ConflictError):
            b.add_memory(AddMemoryRequest(agent_id="x", content="same words"))


def test_only_memories_inside_the_window_enter_the_dedup_index(tmp_path: Path) -> None:
    """A memory older than the dedup window could never be found by a later lookup (the window only moves
    forward), so it is stored without a hash: the index holds a window's worth of writes, not the store."""
    old = datetime.now(UTC) - timedelta(days=3)
    with Memtrace.open(tmp_path / "data") as mt:
        mt.add_memories(
            [
                AddMemoryRequest(agent_id="a", content="backfilled", time=old),
                AddMemoryRequest(agent_id="a", content="just now"),
            ]
        )
        # Dedup answers as before: the old memory is outside the window, the new one inside.
        mt.add_memory(AddMemoryRequest(agent_id="a", content="backfilled", time=old))
        with pytest.raises(ConflictError):
            mt.add_memory(AddMemoryRequest(agent_id="a", content="just now"))
        assert mt.add_memories([AddMemoryRequest(agent_id="a", content="just now")]).skipped == 1
    conn = sqlite3.connect(tmp_path / "data" / "memtrace.db")
    rows = dict(conn.execute("SELECT content, MAX(dedup_h IS NOT NULL) FROM memories GROUP BY content"))
    conn.close()
    assert rows == {"backfilled": 0, "just now": 1}
