"""memtrace end to end on Arc: `Memtrace.open(path, arc=ArcConfig(...))` and its async twin."""

from __future__ import annotations

from pathlib import Path

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memtrace,
    SearchQuery,
)

from .helpers import arc_config, drained, wait_until


def test_a_caller_sees_its_writes_before_arc_does(make_standin, tmp_path: Path) -> None:
    """Arc answers 204 long before a row is queryable (here: a 60 s buffer). Reads merge the spool, and a
    memory that is both in the spool and in Arc is counted once."""
    standin = make_standin(max_buffer_age_ms=60_000)
    config = arc_config(standin, database="ryw", confirm_interval=3600.0)
    with Memtrace.open(tmp_path, arc=config) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        mt.create_session(CreateSessionRequest(id="s1", agent_id="agent_1"))
        first = mt.remember("agent_1", "User prefers dark mode")
        decision = mt.decide("agent_1", "Use SQLite for tests", "fast and local")
        mt.add_memory(AddMemoryRequest(agent_id="agent_1", session_id="s1", content="asked about billing"))
        assert [m.id for m in mt.recall("agent_1").memories][1:] == [decision.id, first.id]
        assert mt.get_memory(first.id) == first

        wait_until(lambda: store.spool.status().pending == 0, what="the memories to be sent")
        assert (
            standin.query("SELECT id FROM events ORDER BY time", "ryw")["columns"] == []
        )  # Arc shows nothing
        assert mt.get_agent_stats("agent_1").memory_count == 3

        standin.flush()  # now Arc shows them too, and the spool still holds them (no confirmation yet)
        assert len(standin.rows("SELECT id FROM events ORDER BY time", "ryw")) == 3
        assert store.spool.status().sent == 3
        stats = mt.get_agent_stats("agent_1")
        assert stats.memory_count == 3 and stats.memory_types == {"decision": 1, "episodic": 2}
        assert len(mt.list_memories(ListOptions(limit=10)).memories) == 3
        ranked = mt.search_memories(SearchQuery(query="dark mode preference", agent_id="agent_1"))
        assert [m.id for m in ranked.results] == [first.id]
        context = mt.get_session_context("s1", ContextOptions(max_tokens=200)).context
        assert "asked about billing" in context


def test_reopening_the_directory_resumes_and_keeps_metadata_local(standin, tmp_path: Path) -> None:
    config = arc_config(standin, database="reopen")
    with Memtrace.open(tmp_path, arc=config) as mt:
        mt.create_session(CreateSessionRequest(id="s1", agent_id="agent_1", metadata={"key": "chat-1"}))
        written = [
            mt.add_memory(AddMemoryRequest(agent_id="agent_1", session_id="s1", content=f"turn {i}"))
            for i in range(5)
        ]
    assert (tmp_path / "memtrace.db").exists() and (tmp_path / "arc-spool.db").exists()
    with Memtrace.open(tmp_path, arc=config) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        wait_until(lambda: drained(store), what="the spool to drain")
        assert mt.get_session("s1").metadata == {"key": "chat-1"}
        turns = mt.get_session_memories("s1", ListOptions(order="asc")).memories
        assert [m.id for m in turns] == [m.id for m in written]


async def test_async_client_on_arc(standin, tmp_path: Path) -> None:
    async with AsyncMemtrace.open(tmp_path, arc=arc_config(standin, database="async")) as mt:
        m = await mt.remember("agent_1", "async memory about deploys")
        assert (await mt.get_memory(m.id)).content == "async memory about deploys"
        found = await mt.search_memories(SearchQuery(query="deploying"))
        assert [r.id for r in found.results] == [m.id]
        await mt.delete_memory(m.id)
        assert (await mt.list_memories()).count == 0


def test_a_database_file_path_keeps_the_spool_beside_it(standin, tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "mt.db", arc=arc_config(standin, database="dbfile")) as mt:
        mt.remember("agent_1", "hello")
    assert (tmp_path / "mt.db").exists() and (tmp_path / "arc-spool.db").exists()
