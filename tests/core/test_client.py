"""The whole client API, run against every backend: embedded (`Memtrace.open`) and remote (a live server).

Embedded and remote must behave the same; each test uses its own agent/session ids so the shared server's
data never collides.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    BatchResult,
    ConflictError,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memtrace,
    NotFoundError,
    RegisterAgentRequest,
    SearchQuery,
    ValidationError,
)


@pytest.fixture(params=["embedded", "remote"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    if request.param == "embedded":
        yield "embedded", {"path": str(tmp_path / "data")}
    else:
        server = request.getfixturevalue("live_server")
        yield "remote", {"base_url": server.base_url, "api_key": server.api_key}


@pytest.fixture
def client(backend: tuple[str, dict[str, str]]) -> Iterator[Memtrace]:
    kind, cfg = backend
    mt = Memtrace.open(cfg["path"]) if kind == "embedded" else Memtrace(cfg["base_url"], cfg["api_key"])
    with mt:
        yield mt


@pytest.fixture
def uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def test_remember_recall_decide(client: Memtrace, uid: str) -> None:
    m = client.remember(uid, "User prefers dark mode")
    assert m.id.startswith("mem_") and m.memory_type == "episodic" and m.event_type == "general"
    assert m.agent_id == uid and m.org_id and m.time.tzinfo is not None
    d = client.decide(uid, "Use PostgreSQL", "needs joins")
    assert d.memory_type == "decision" and d.metadata == {"reasoning": "needs joins"}
    recalled = client.recall(uid)
    assert [x.content for x in recalled.memories] == ["Use PostgreSQL", "User prefers dark mode"]
    assert recalled.count == 2 and not recalled.has_more
    with pytest.raises(ConflictError):
        client.remember(uid, "User prefers dark mode")


def test_get_and_delete_memory(client: Memtrace, uid: str) -> None:
    m = client.add_memory(AddMemoryRequest(agent_id=uid, content="temp", tags=["x"], importance=0.5))
    assert client.get_memory(m.id).model_dump() == m.model_dump()
    client.delete_memory(m.id)
    with pytest.raises(NotFoundError):
        client.get_memory(m.id)
    with pytest.raises(NotFoundError):
        client.delete_memory(m.id)
    with pytest.raises(ValidationError):
        client.get_memory("not-an-id")


def test_batches_are_atomic_and_report_duplicates(client: Memtrace, uid: str) -> None:
    result = client.add_memories(
        [AddMemoryRequest(agent_id=uid, content=c) for c in ("one", "two", "two", "three")]
    )
    assert isinstance(result, BatchResult) and [m.content for m in result] == ["one", "two", "three"]
    assert result.skipped == 1
    with pytest.raises(ValidationError) as err:
        client.add_memories(
            [AddMemoryRequest(agent_id=uid, content="ok"), AddMemoryRequest(agent_id="9bad", content="x")]
        )
    assert err.value.field == "memories[1].agent_id"
    assert client.list_memories(ListOptions(agent_id=uid)).count == 3


def test_list_search_and_filters(client: Memtrace, uid: str) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    client.add_memories(
        [
            AddMemoryRequest(
                agent_id=uid, content="deploy failed on staging", event_type="error", tags=["ops"]
            ),
            AddMemoryRequest(
                agent_id=uid, content="deployed to production", tags=["ops", "prod"], importance=0.9
            ),
            AddMemoryRequest(agent_id=uid, content="lunch order: pizza", time=old),
        ]
    )
    recent = client.list_memories(ListOptions(agent_id=uid, since="1d"))
    assert {m.content for m in recent.memories} == {"deploy failed on staging", "deployed to production"}
    assert [m.content for m in client.list_memories(ListOptions(agent_id=uid, tags="ops,prod")).memories] == [
        "deployed to production"
    ]
    ranked = client.search_memories(SearchQuery(agent_id=uid, query="deployment failure"))
    assert ranked.results[0].content == "deploy failed on staging" and ranked.results[0].score
    assert isinstance(ranked.query_time_ms, int)
    important = client.search_memories(SearchQuery(agent_id=uid, min_importance=0.5))
    assert [m.content for m in important.results] == ["deployed to production"]
    assert client.search_memories(SearchQuery(agent_id=uid, content_contains="PIZZA")).count == 1


def test_delete_memories_by_filter(client: Memtrace, uid: str) -> None:
    client.add_memories(
        [AddMemoryRequest(agent_id=uid, session_id=f"{uid}_s", content=f"m{i}") for i in range(3)]
    )
    client.remember(uid, "outside the session")
    assert client.delete_memories(session_id=f"{uid}_s") == 3
    assert [m.content for m in client.list_memories(ListOptions(agent_id=uid)).memories] == [
        "outside the session"
    ]
    with pytest.raises(ValidationError):
        client.delete_memories()


def test_agents(client: Memtrace, uid: str) -> None:
    agent = client.register_agent(RegisterAgentRequest(name=uid, description="crawler", config={"depth": 2}))
    assert agent.id.startswith("agent_") and len(agent.id) == 30 and agent.config == {"depth": 2}
    assert client.get_agent(agent.id).name == uid
    assert client.get_agent(uid).id == agent.id  # by name too
    assert agent.id in {a.id for a in client.list_agents().agents}
    with pytest.raises(ConflictError):
        client.register_agent(RegisterAgentRequest(name=uid))
    client.remember(agent.id, "did a thing")
    stats = client.get_agent_stats(agent.id)
    assert stats.memory_count == 1 and stats.memory_types == {"episodic": 1}
    assert client.get_agent_memories(agent.id).count == 1
    client.delete_agent(agent.id)
    with pytest.raises(NotFoundError):
        client.get_agent(agent.id)
    with pytest.raises(NotFoundError):
        client.delete_agent(agent.id)


def test_sessions_and_context(client: Memtrace, uid: str) -> None:
    s = client.create_session(CreateSessionRequest(agent_id=uid, metadata={"topic": "crawl"}))
    assert s.id.startswith("sess_") and s.status == "active" and s.metadata == {"topic": "crawl"}
    chosen = client.create_session(CreateSessionRequest(agent_id=uid, id=f"{uid}_chat"))
    assert chosen.id == f"{uid}_chat"
    with pytest.raises(ConflictError):
        client.create_session(CreateSessionRequest(agent_id=uid, id=f"{uid}_chat"))
    assert {x.id for x in client.list_sessions(uid).sessions} == {s.id, chosen.id}
    client.add_memories(
        [
            AddMemoryRequest(agent_id=uid, session_id=s.id, content="fetched page 1"),
            AddMemoryRequest(
                agent_id=uid,
                session_id=s.id,
                content="use sitemap",
                memory_type="decision",
                event_type="decision",
                metadata={"reasoning": "faster"},
            ),
        ]
    )
    assert client.get_session_memories(s.id).count == 2
    ctx = client.get_session_context(s.id)
    assert ctx.context.startswith(f"## Session Context ({s.id})\n\n### Recent Actions (1)\n")
    assert "(reasoning: faster)" in ctx.context and ctx.memory_count == 2
    small = client.get_session_context(s.id, ContextOptions(max_tokens=30, include_types=["decision"]))
    assert small.memory_count + small.omitted == 1
    updated = client.update_session(s.id, metadata={"topic": "done"})
    assert updated.metadata == {"topic": "done"} and updated.status == "active"
    closed = client.close_session(s.id)
    assert closed.status == "closed" and closed.closed_at is not None
    for call in (
        client.get_session,
        client.get_session_context,
        client.get_session_memories,
        client.close_session,
    ):
        with pytest.raises(NotFoundError):
            call(f"{uid}_missing")


@pytest.mark.parametrize(
    ("req", "field"),
    [
        ({"agent_id": "1starts-with-digit", "content": "x"}, "agent_id"),
        ({"agent_id": "a", "content": ""}, "content"),
        ({"agent_id": "a", "content": "x", "event_type": "has space"}, "event_type"),
        ({"agent_id": "a", "content": "x", "session_id": "bad/slash"}, "session_id"),
        ({"agent_id": "a", "content": "x", "tags": ["ok", "not ok"]}, "tags[1]"),
        ({"agent_id": "a", "content": "nul\x00byte"}, "content"),
    ],
)
def test_invalid_fields_are_named(client: Memtrace, req: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        client.add_memory(AddMemoryRequest(**req))
    assert err.value.field == field and field.split("[")[0] in str(err.value)


@pytest.mark.parametrize(
    ("opts", "field"),
    [
        (ListOptions(since="yesterday"), "since"),
        (ListOptions(limit=5000), "limit"),
        (ListOptions(memory_type="dream"), "memory_type"),
        (ListOptions(tags="a,b c"), "tags[1]"),
    ],
)
def test_invalid_list_options_are_named(client: Memtrace, opts: ListOptions, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        client.list_memories(opts)
    assert err.value.field == field


def test_async_client_has_the_same_behaviour(backend: tuple[str, dict[str, str]], uid: str) -> None:
    kind, cfg = backend

    async def scenario() -> None:
        mt = (
            AsyncMemtrace.open(cfg["path"])
            if kind == "embedded"
            else AsyncMemtrace(cfg["base_url"], cfg["api_key"])
        )
        async with mt:
            first = await mt.remember(uid, "async memory")
            with pytest.raises(ConflictError):
                await mt.remember(uid, "async memory")
            # many concurrent calls: the loop keeps running while the engine works
            await asyncio.gather(*(mt.remember(uid, f"concurrent {i}") for i in range(20)))
            listed = await mt.list_memories(ListOptions(agent_id=uid, limit=100))
            assert listed.count == 21
            assert (await mt.get_memory(first.id)).content == "async memory"
            s = await mt.create_session(CreateSessionRequest(agent_id=uid))
            await mt.add_memories([AddMemoryRequest(agent_id=uid, session_id=s.id, content="in session")])
            ctx = await mt.get_session_context(s.id)
            assert "in session" in ctx.context
            assert (await mt.search_memories(SearchQuery(agent_id=uid, query="concurrent"))).count == 20
            assert await mt.delete_memories(agent_id=uid) == 22

    asyncio.run(scenario())


def test_embedded_data_survives_reopen(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path) as mt:
        m = mt.remember("agent_1", "persisted")
    with Memtrace.open(tmp_path) as mt:
        assert mt.get_memory(m.id).content == "persisted"


def test_from_env_picks_embedded_or_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMTRACE_URL", raising=False)
    monkeypatch.delenv("MEMTRACE_STORE_URL", raising=False)
    monkeypatch.setenv("MEMTRACE_DATA_DIR", str(tmp_path / "envdata"))
    with Memtrace.from_env() as mt:
        mt.remember("agent_1", "from env")
    assert (tmp_path / "envdata" / "memtrace.db").exists()


def test_from_env_opens_the_store_url_before_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MEMTRACE_STORE_URL is the server's store setting; the in-process client honours it too."""
    monkeypatch.delenv("MEMTRACE_URL", raising=False)
    monkeypatch.setenv("MEMTRACE_DATA_DIR", str(tmp_path / "envdata"))
    monkeypatch.setenv("MEMTRACE_STORE_URL", f"sqlite:///{tmp_path / 'shared'}")
    with Memtrace.from_env() as mt:
        mt.remember("agent_1", "from the store url")
    assert (tmp_path / "shared" / "memtrace.db").exists() and not (tmp_path / "envdata").exists()
    with Memtrace.open(tmp_path / "shared") as mt:
        assert [m.content for m in mt.recall("agent_1").memories] == ["from the store url"]


def test_data_dir_expands_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with Memtrace.open("~/memdata") as mt:
        mt.remember("agent_1", "home")
    assert (tmp_path / "memdata" / "memtrace.db").exists() and not (tmp_path / "~").exists()


@pytest.mark.parametrize(
    ("req", "field"),
    [
        ({"agent_id": "agent\n", "content": "x"}, "agent_id"),
        ({"agent_id": "a", "content": "x", "event_type": "general\n"}, "event_type"),
        ({"agent_id": "a", "content": "x", "tags": ["ok\n"]}, "tags[0]"),
    ],
)
def test_a_trailing_newline_is_not_a_valid_id(client: Memtrace, req: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        client.add_memory(AddMemoryRequest(**req))
    assert err.value.field == field
