"""Export and import across stores: SQLite -> PostgreSQL -> SQLite gives identical listings (every field, both
orders, ties included), identical agents and sessions, the same search hits, and byte-identical files."""

from __future__ import annotations

import io
from pathlib import Path

from memtrace import (
    AddMemoryRequest,
    CreateSessionRequest,
    ListOptions,
    Memtrace,
    RegisterAgentRequest,
    SearchQuery,
)


def _fill(mt: Memtrace) -> None:
    agent = mt.register_agent(RegisterAgentRequest(name="scribe", description="keeps notes", config={"k": 1}))
    mt.create_session(CreateSessionRequest(id="s_open", agent_id=agent.id, metadata={"topic": "birds"}))
    mt.create_session(CreateSessionRequest(id="s_closed", agent_id="free-form-agent"))
    mt.close_session("s_closed")
    mt.add_memories(
        [
            AddMemoryRequest(
                agent_id=agent.id if i % 3 else "free-form-agent",
                session_id=["s_open", "s_closed", None][i % 3],
                content=f"observation {i}: the grey heron waits" if i % 4 == 0 else f"entry {i} ünïcode ✓",
                memory_type=["episodic", "session", "decision", "entity"][i % 4],
                event_type=["general", "tool_call", "error"][i % 3],
                metadata={"b": i, "a": {"deep": [1.5, None, "x"]}} if i % 5 else None,
                tags=[f"t{i % 4}", "all"] if i % 6 else None,
                importance=round(i / 300, 4) if i % 2 else None,
                dedup_key=f"custom-{i}" if i % 9 == 0 else None,
                # Ties: 15 memories share each second, and one microsecond-exact pair.
                time=f"2026-04-01T10:00:{i // 15:02d}.000001Z",
            )
            for i in range(300)
        ]
    )


def _view(mt: Memtrace) -> dict[str, object]:
    return {
        "asc": [m.model_dump() for m in mt.iter_memories(ListOptions(order="asc"))],
        "desc": [m.model_dump() for m in mt.iter_memories(ListOptions(order="desc"))],
        "agents": [a.model_dump() for a in mt.list_agents().agents],
        "sessions": sorted((s.model_dump() for s in mt.list_sessions().sessions), key=lambda s: str(s["id"])),
        "search": sorted(
            m.id for m in mt.search_memories(SearchQuery(query="grey heron", limit=100)).results
        ),
    }


def _export(mt: Memtrace) -> bytes:
    out = io.BytesIO()
    mt.export_memories(out)
    return out.getvalue()


def test_sqlite_to_postgres_to_sqlite_keeps_every_listing(pg_url: str, tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "first") as first:
        _fill(first)
        original = _view(first)
        file_one = _export(first)
    with Memtrace.open(pg_url) as pg:
        report = pg.import_memories(file_one)
        assert (report.memories, report.agents, report.sessions) == (300, 1, 2)
        assert _view(pg) == original
        file_two = _export(pg)
        assert pg.import_memories(file_two).skipped == 300  # re-import on PostgreSQL: no duplicates
        assert len(list(pg.iter_memories())) == 300
    with Memtrace.open(tmp_path / "second") as second:
        second.import_memories(file_two)
        assert _view(second) == original
        file_three = _export(second)
    # Header lines differ only in their export time; everything else byte for byte.
    assert file_one.splitlines()[1:] == file_two.splitlines()[1:] == file_three.splitlines()[1:]
    assert len(original["asc"]) == 300 and original["search"]  # type: ignore[arg-type]
