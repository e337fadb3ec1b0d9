"""MemtraceRetriever: ranked memtrace search as LangChain Documents."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import create_retriever_tool

from memtrace import AddMemoryRequest, AsyncMemtrace, Memtrace, ValidationError
from memtrace_langchain import MemtraceChatMessageHistory, MemtraceRetriever


def seed(client: Memtrace, agent: str) -> dict[str, str]:
    """A few memories of one agent; returns their ids by a short name."""
    rows = {
        "dark": AddMemoryRequest(
            agent_id=agent,
            content="User prefers dark mode in the editor",
            memory_type="entity",
            event_type="preference",
            tags=["ui", "preferences"],
            importance=0.9,
            session_id="s-1",
        ),
        "tea": AddMemoryRequest(
            agent_id=agent, content="User likes green tea", memory_type="entity", tags=["preferences"]
        ),
        "deploy": AddMemoryRequest(agent_id=agent, content="Deployed the editor service to staging"),
        "choice": AddMemoryRequest(
            agent_id=agent,
            content="Chose the dark theme as default for the editor",
            memory_type="decision",
            event_type="decision",
            metadata={"reasoning": "most users asked for it"},
        ),
    }
    return {name: client.add_memory(req).id for name, req in rows.items()}


async def test_k_and_filters_given_at_invoke_time_apply_to_that_call(client: Memtrace, unique) -> None:
    agent = unique("agent")
    ids = seed(client, agent)
    retriever = MemtraceRetriever(client=client, agent_id=agent, k=3)

    assert [d.id for d in retriever.invoke("dark mode editor", k=1)] == [ids["dark"]]
    assert len(await retriever.ainvoke("dark mode editor", k=1)) == 1
    assert len(retriever.invoke("dark mode editor")) == 3  # the retriever's own k is untouched
    assert {d.id for d in retriever.invoke("editor", memory_types=["decision"])} == {ids["choice"]}
    with pytest.raises(ValidationError) as bad:
        retriever.invoke("dark mode", k=0)
    assert bad.value.field == "k"
    with pytest.raises(TypeError, match="kk"):
        retriever.invoke("dark mode", kk=1)


def test_documents_are_ranked_and_carry_the_memory(client: Memtrace, unique) -> None:
    agent = unique("agent")
    ids = seed(client, agent)
    docs = MemtraceRetriever(client=client, agent_id=agent).invoke("dark mode")

    assert docs[0].page_content == "User prefers dark mode in the editor"
    assert docs[0].id == ids["dark"]
    meta = docs[0].metadata
    assert meta["id"] == ids["dark"]
    assert (meta["agent_id"], meta["session_id"]) == (agent, "s-1")
    assert (meta["memory_type"], meta["event_type"]) == ("entity", "preference")
    assert meta["tags"] == ["ui", "preferences"]
    assert meta["importance"] == 0.9
    assert abs(datetime.fromisoformat(meta["time"]) - datetime.now(UTC)) < timedelta(minutes=5)
    # Only matching memories, best first, with scores that say so.
    assert {d.id for d in docs} == {ids["dark"], ids["choice"]}
    assert docs[0].metadata["score"] >= docs[1].metadata["score"] > 0


def test_k_and_filters_narrow_the_results(client: Memtrace, unique) -> None:
    agent, other = unique("agent"), unique("other")
    ids = seed(client, agent)
    seed(client, other)

    def ids_of(**kwargs: object) -> set[str | None]:
        return {d.id for d in MemtraceRetriever(client=client, agent_id=agent, **kwargs).invoke("editor")}

    assert ids_of() == {ids["dark"], ids["deploy"], ids["choice"]}  # the other agent's are not there
    assert len(MemtraceRetriever(client=client, agent_id=agent, k=1).invoke("editor")) == 1
    assert ids_of(memory_types=["decision"]) == {ids["choice"]}
    assert ids_of(tags=["ui"]) == {ids["dark"]}
    assert ids_of(session_id="s-1") == {ids["dark"]}
    assert ids_of(since="1h") == {ids["dark"], ids["deploy"], ids["choice"]}
    # Without agent_id the retriever searches every agent's memories.
    assert len(MemtraceRetriever(client=client, k=10).invoke("editor")) >= 6


def test_old_memories_are_found_unless_since_excludes_them(client: Memtrace, unique) -> None:
    agent = unique("agent")
    old = client.add_memory(
        AddMemoryRequest(
            agent_id=agent, content="Onboarding call about invoices", time=datetime(2024, 1, 1, tzinfo=UTC)
        )
    )
    assert [d.id for d in MemtraceRetriever(client=client, agent_id=agent).invoke("invoices")] == [old.id]
    assert MemtraceRetriever(client=client, agent_id=agent, since="7d").invoke("invoices") == []


def test_it_finds_chat_messages_by_the_same_session_key(client: Memtrace, unique) -> None:
    agent, key = unique("agent"), "0c1f-user@example.com"
    history = MemtraceChatMessageHistory(key, client=client, agent_id=agent)
    history.add_messages([HumanMessage("My cat is called Miso"), AIMessage("Nice name!")])
    MemtraceChatMessageHistory("another", client=client, agent_id=agent).add_user_message("My cat is grey")

    docs = MemtraceRetriever(client=client, agent_id=agent, session_id=key).invoke("cat")
    assert [d.page_content for d in docs] == ["My cat is called Miso"]
    assert docs[0].metadata["event_type"] == "human_message"


def test_a_retriever_tool_gives_the_model_memory_text(client: Memtrace, unique) -> None:
    agent = unique("agent")
    seed(client, agent)
    tool = create_retriever_tool(
        MemtraceRetriever(client=client, agent_id=agent, k=2), "memory", "Search the user's memories."
    )
    out = tool.invoke({"query": "tea"})
    assert out == "User likes green tea"


async def test_ainvoke_with_a_sync_client(client: Memtrace, unique) -> None:
    agent = unique("agent")
    ids = seed(client, agent)
    docs = await MemtraceRetriever(client=client, agent_id=agent).ainvoke("green tea")
    assert [d.id for d in docs] == [ids["tea"]]


async def test_ainvoke_with_an_async_client(open_async_client: Callable[[], AsyncMemtrace], unique) -> None:
    agent = unique("agent")
    aclient = open_async_client()
    memory = await aclient.add_memory(
        AddMemoryRequest(agent_id=agent, content="The build uses uv workspaces")
    )
    docs = await MemtraceRetriever(client=aclient, agent_id=agent).ainvoke("uv workspaces")
    assert docs == [
        Document(id=memory.id, page_content="The build uses uv workspaces", metadata=docs[0].metadata)
    ]
    # The bridge serves sync callers with an async client too (from a thread without an event loop here).
    synced = await asyncio.to_thread(
        MemtraceRetriever(client=aclient, agent_id=agent).invoke, "uv workspaces"
    )
    assert [d.id for d in synced] == [memory.id]


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        MemtraceRetriever(client="not a client")
    with pytest.raises(ValueError):
        MemtraceRetriever(client=Memtrace.__new__(Memtrace), k=0)
