"""The SQLite store's rank window (only the newest `rank_limit` matches are ranked) as seen by scoped searches:
an agent or session with few memories is ranked in full without a window query, and one with more than
`rank_limit` memories still gets the window (stores/sqlite/events.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace, SearchQuery
from memtrace.stores.sqlite.events import SQLiteEventStore


def _store(mt: Memtrace) -> SQLiteEventStore:
    store = mt._backend.engine.events  # type: ignore[attr-defined]
    assert isinstance(store, SQLiteEventStore)
    return store


def test_a_small_agent_is_ranked_in_full_and_a_large_one_within_the_window(tmp_path: Path) -> None:
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    with Memtrace.open(tmp_path / "data") as mt:
        store = _store(mt)
        store.rank_limit = 5
        for agent in ("small", "large"):
            mt.add_memory(
                AddMemoryRequest(agent_id=agent, content="walrus walrus walrus walrus", time=two_days_ago)
            )
        mt.add_memories(
            [AddMemoryRequest(agent_id="small", content=f"walrus seen {i} today") for i in range(3)]
        )
        mt.add_memories(
            [AddMemoryRequest(agent_id="large", content=f"walrus seen {i} again") for i in range(8)]
        )
        small = mt.search_memories(SearchQuery(query="walrus", agent_id="small", limit=10)).results
        assert len(small) == 4 and small[0].content == "walrus walrus walrus walrus"  # the old best is found
        large = mt.search_memories(SearchQuery(query="walrus", agent_id="large", limit=10)).results
        assert len(large) == 5 and "walrus walrus walrus walrus" not in {m.content for m in large}
        assert all(m.agent_id == "large" for m in large)
        # The same for a session.
        mt.add_memories(
            [
                AddMemoryRequest(agent_id="large", session_id="s1", content=f"walrus {i} in s1")
                for i in range(7)
            ]
        )
        assert len(mt.search_memories(SearchQuery(query="walrus", session_id="s1", limit=10)).results) == 5
        store.rank_limit = 100
        assert len(mt.search_memories(SearchQuery(query="walrus", session_id="s1", limit=10)).results) == 7
