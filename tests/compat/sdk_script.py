"""Drive the real memtrace-sdk 0.2.0 (from PyPI) through all 19 client methods against a memtrace server.

Run in an isolated environment that has only the SDK (it imports as `memtrace`, like our package):

    uv run --isolated --no-project --with memtrace-sdk==0.2.0 python sdk_script.py BASE_URL API_KEY

Runs the same sequence with the sync `Memtrace` and the async `AsyncMemtrace`, asserts what a user of the SDK
relies on, and prints ``{"sync": [methods...], "async": [methods...]}`` on success. Any failure exits non-zero.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from typing import Any

import memtrace
from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    AuthenticationError,
    ConflictError,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    Memtrace,
    MemtraceError,
    NotFoundError,
    RegisterAgentRequest,
    SearchQuery,
)

Call = Callable[..., Any]


def expect(exc_type: type[BaseException], fn: Call, *args: Any) -> BaseException:
    try:
        fn(*args)
    except exc_type as exc:
        return exc
    raise AssertionError(f"expected {exc_type.__name__}")


def sequence(call: Call, called: set[str]) -> None:
    """Every SDK method, with the assertions an SDK user relies on. `call(name, *args)` invokes one."""

    def c(name: str, *args: Any) -> Any:
        called.add(name)
        return call(name, *args)

    uid = "sdk" + uuid.uuid4().hex[:10]

    # conveniences
    m = c("remember", uid, "User prefers dark mode")
    assert isinstance(m, Memory) and m.agent_id == uid and m.content == "User prefers dark mode"
    assert m.memory_type == "episodic" and m.event_type == "general" and m.org_id
    d = c("decide", uid, "Use PostgreSQL", "needs joins")
    assert (
        d.memory_type == "decision"
        and d.event_type == "decision"
        and d.metadata == {"reasoning": "needs joins"}
    )
    recalled = c("recall", uid)
    assert [x.content for x in recalled.memories] == ["Use PostgreSQL", "User prefers dark mode"]
    assert recalled.count == 2 and recalled.has_more is False
    expect(ConflictError, c, "remember", uid, "User prefers dark mode")

    # memories
    entity = c(
        "add_memory",
        AddMemoryRequest(
            agent_id=uid,
            memory_type="entity",
            event_type="fact",
            content="Alice is the account owner",
            tags=["people", "x"],
            importance=0.7,
            metadata={"source": "crm", "nested": {"a": [1, 2]}},
        ),
    )
    assert entity.tags == ["people", "x"] and entity.importance == 0.7
    assert entity.metadata == {"source": "crm", "nested": {"a": [1, 2]}}
    batch = c(
        "add_memories",
        [
            AddMemoryRequest(
                agent_id=uid,
                memory_type="episodic",
                event_type="deploy",
                content="deployed v1",
                tags=["ops", "prod"],
            ),
            AddMemoryRequest(
                agent_id=uid, memory_type="episodic", event_type="deploy", content="deployed v2", tags=["ops"]
            ),
            AddMemoryRequest(
                agent_id=uid,
                memory_type="episodic",
                event_type="deploy",
                content="deployed v1",
                tags=["ops", "prod"],
            ),
        ],
    )
    assert [x.content for x in batch] == ["deployed v1", "deployed v2"]  # the duplicate is skipped
    listed = c("list_memories", ListOptions(agent_id=uid, tags="ops,prod", limit=50, order="asc"))
    assert [x.content for x in listed.memories] == ["deployed v1"] and listed.count == 1
    page = c("list_memories", ListOptions(agent_id=uid, limit=2))
    assert page.count == 2 and page.has_more is True
    found = c(
        "search_memories",
        SearchQuery(agent_id=uid, memory_types=["entity"], tags=["x"], min_importance=0.5, limit=10),
    )
    assert [x.content for x in found.results] == ["Alice is the account owner"]
    assert isinstance(found.query_time_ms, int) and found.count == 1
    contains = c("search_memories", SearchQuery(agent_id=uid, content_contains="deployed", order="asc"))
    assert [x.content for x in contains.results] == ["deployed v1", "deployed v2"]

    # agents: the repo examples register, and fetch by name on 409
    name = uid + "-bot"
    agent = c("register_agent", RegisterAgentRequest(name=name, description="crawler", config={"depth": 2}))
    assert agent.id.startswith("agent_") and agent.name == name and agent.config == {"depth": 2}
    expect(ConflictError, c, "register_agent", RegisterAgentRequest(name=name))
    assert c("get_agent", name).id == agent.id
    assert c("get_agent", agent.id).name == name
    agents = c("list_agents")
    assert agent.id in {a.id for a in agents.agents} and agents.count == len(agents.agents)
    stats = c("get_agent_stats", uid)
    assert stats.agent_id == uid and stats.memory_count == 5 and stats.memories_24h == 5
    assert stats.memory_types == {"episodic": 3, "decision": 1, "entity": 1} and stats.errors_24h == 0
    mine = c("get_agent_memories", uid, ListOptions(limit=3))
    assert mine.count == 3 and mine.has_more is True and {x.agent_id for x in mine.memories} == {uid}
    assert c("get_agent_memories", uid).count == 5

    # sessions: for a registered agent's id (the original's FK) and for a free-form agent id
    session = c("create_session", CreateSessionRequest(agent_id=agent.id, metadata={"topic": "billing"}))
    assert (
        session.id.startswith("sess_")
        and session.status == "active"
        and session.metadata == {"topic": "billing"}
    )
    free = c("create_session", CreateSessionRequest(agent_id=uid))
    assert free.agent_id == uid
    c(
        "add_memory",
        AddMemoryRequest(
            agent_id=agent.id,
            session_id=session.id,
            memory_type="session",
            event_type="user_message",
            content="hi there",
        ),
    )
    c(
        "add_memory",
        AddMemoryRequest(
            agent_id=agent.id,
            session_id=session.id,
            memory_type="decision",
            event_type="decision",
            content="escalate to a human",
        ),
    )
    assert c("get_session", session.id).id == session.id
    ctx = c("get_session_context", session.id)
    assert ctx.session_id == session.id and ctx.memory_count == 2
    assert ctx.context.startswith(f"## Session Context ({session.id})\n\n")
    assert "### Decisions Made (1)" in ctx.context and "escalate to a human" in ctx.context
    only_episodic = c(
        "get_session_context",
        session.id,
        ContextOptions(max_tokens=2000, include_types=["episodic"], since="4h"),
    )
    assert only_episodic.memory_count == 0
    memories = c("get_session_memories", session.id, ListOptions(limit=10, order="asc"))
    assert [x.content for x in memories.memories] == ["hi there", "escalate to a human"]
    assert {s.id for s in c("list_sessions", agent.id).sessions} == {session.id}
    assert {session.id, free.id} <= {s.id for s in c("list_sessions").sessions}
    closed = c("close_session", session.id)
    assert closed.status == "closed" and closed.closed_at is not None

    # errors as the SDK maps them
    c("delete_agent", agent.id)
    expect(NotFoundError, c, "get_agent", agent.id)
    expect(NotFoundError, c, "get_session", "sess_doesnotexist")
    expect(NotFoundError, c, "delete_agent", agent.id)
    bad = expect(
        MemtraceError,
        c,
        "add_memory",
        AddMemoryRequest(agent_id="9bad", memory_type="episodic", event_type="general", content="x"),
    )
    assert bad.status_code == 400 and "agent_id" in bad.message  # type: ignore[attr-defined]


def run_sync(base_url: str, api_key: str) -> list[str]:
    called: set[str] = set()
    with Memtrace(base_url, api_key) as client:
        sequence(lambda name, *args: getattr(client, name)(*args), called)
    with Memtrace(base_url, "mtk_" + "A" * 43 + "=") as stranger:
        expect(AuthenticationError, stranger.recall, "anyone")
    return sorted(called)


def run_async(base_url: str, api_key: str) -> list[str]:
    called: set[str] = set()
    loop = asyncio.new_event_loop()
    client = AsyncMemtrace(base_url, api_key)
    try:
        sequence(lambda name, *args: loop.run_until_complete(getattr(client, name)(*args)), called)
    finally:
        loop.run_until_complete(client.close())
        loop.close()
    return sorted(called)


def main() -> int:
    base_url, api_key = sys.argv[1], sys.argv[2]
    assert memtrace.__version__ == "0.2.0", memtrace.__version__
    assert not hasattr(memtrace, "id_for_key"), "this must be the published SDK, not our package"
    print(json.dumps({"sync": run_sync(base_url, api_key), "async": run_async(base_url, api_key)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
