"""The SQLite store's rank window (only the newest `rank_limit` matches are ranked) as seen by scoped searches:
an agent or session with few memories is ranked in full without a window query, and one with more than
`rank_limit` memories still gets the window (stores/sqlite/events.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace, SearchQuery
from memtrace.records import MemoryFilter
from memtrace.stores.sqlite.events import SQLiteEventStore


def _store(mt: Memtrace) -> SQLiteEventStore:
    store = mt._backend.engine.events  # type: ignore[attr-defined]
    assert isinstance(store, SQLiteEventStore)
    return store


def _small_and_large_agents(mt: Memtrace) -> None:
    """Agents "small" (4 walrus memories) and "large" (9), each with its best match two days older than the rest."""
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    for agent in ("small", "large"):
        mt.add_memory(
            AddMemoryRequest(agent_id=agent, content="walrus walrus walrus walrus", time=two_days_ago)
        )
    mt.add_memories([AddMemoryRequest(agent_id="small", content=f"walrus seen {i} today") for i in range(3)])
    mt.add_memories([AddMemoryRequest(agent_id="large", content=f"walrus seen {i} again") for i in range(8)])


def test_a_small_agent_is_ranked_in_full_and_a_large_one_within_the_window(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "data") as mt:
        store = _store(mt)
        store.rank_limit = 5
        _small_and_large_agents(mt)
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


def test_the_window_holds_when_a_tier_too_large_to_score_goes_to_bm25(tmp_path: Path) -> None:
    """With `rank_limit` above `score_limit` (the defaults' order), whether an agent needs the window is only
    asked when a tier has too many candidates to score outside bm25(): the answer is the same as asking first."""
    with Memtrace.open(tmp_path / "data") as mt:
        store = _store(mt)
        store.score_limit, store.rank_limit = 3, 5
        _small_and_large_agents(mt)
        small = mt.search_memories(SearchQuery(query="walrus", agent_id="small", limit=10)).results
        assert len(small) == 4 and small[0].content == "walrus walrus walrus walrus"
        large = mt.search_memories(SearchQuery(query="walrus", agent_id="large", limit=10)).results
        assert len(large) == 5 and "walrus walrus walrus walrus" not in {m.content for m in large}
        # With the defaults, a tier small enough to score needs no window, so the probe is not run at all.
        probes: list[str] = []
        probe = store._scope_exceeds_rank_limit

        def counted(org_id: str, flt: MemoryFilter) -> bool:
            probes.append(org_id)
            return probe(org_id, flt)

        store._scope_exceeds_rank_limit = counted  # type: ignore[method-assign]
        store.score_limit, store.rank_limit = 2_000, 20_000
        mt.search_memories(SearchQuery(query="walrus", agent_id="small", limit=10))
        assert probes == []
