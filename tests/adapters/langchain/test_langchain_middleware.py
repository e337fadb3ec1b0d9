"""MemtraceHistoryMiddleware: LangChain 1.x agents (`create_agent`) remember the conversation per thread_id,
across agents, clients and processes, with every message stored as memtrace stores chat history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolCall
from langchain_helpers import EchoChatModel, scripted

from memtrace import AsyncMemtrace, Memtrace
from memtrace_langchain import MemtraceChatMessageHistory, MemtraceHistoryMiddleware, memtrace_tools


def ask(agent: object, text: str, thread: str) -> str:
    result = agent.invoke({"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread}})  # type: ignore[attr-defined]
    return str(result["messages"][-1].content)


def test_the_conversation_continues_across_agents_and_clients(
    data_dir: Path, unique: Callable[[str], str]
) -> None:
    thread = unique("ada") + "@example.com"
    with Memtrace.open(data_dir) as client:
        agent = create_agent(EchoChatModel(), middleware=[MemtraceHistoryMiddleware(client)])
        assert ask(agent, "Hi, I'm Ada", thread) == "saw 1 messages; last: Hi, I'm Ada"
        assert ask(agent, "What is my name?", thread) == "saw 3 messages; last: What is my name?"
        assert ask(agent, "Hello", unique("other")) == "saw 1 messages; last: Hello"  # threads are separate
    with Memtrace.open(data_dir) as fresh:  # a new process, in effect
        again = create_agent(EchoChatModel(), middleware=[MemtraceHistoryMiddleware(fresh)])
        assert ask(again, "Still there?", thread) == "saw 5 messages; last: Still there?"
        stored = MemtraceChatMessageHistory(thread, client=fresh, agent_id="langchain").messages
    assert [m.type for m in stored] == ["human", "ai", "human", "ai", "human", "ai"]
    assert stored[0].content == "Hi, I'm Ada"


def test_tool_calls_and_results_are_remembered(data_dir: Path) -> None:
    with Memtrace.open(data_dir) as client:
        model = scripted(
            AIMessage(
                "",
                tool_calls=[ToolCall(name="memtrace_remember", args={"content": "Ada likes tea"}, id="c1")],
            ),
            AIMessage("Noted."),
        )
        tools = memtrace_tools(client, agent_id="bot")
        agent = create_agent(
            model, tools=tools, middleware=[MemtraceHistoryMiddleware(client, agent_id="bot")]
        )
        assert ask(agent, "I like tea", "t-1") == "Noted."
        kinds = [m.type for m in MemtraceChatMessageHistory("t-1", client=client, agent_id="bot").messages]
    assert kinds == ["human", "ai", "tool", "ai"]


def test_without_a_thread_id_nothing_is_kept(data_dir: Path) -> None:
    with Memtrace.open(data_dir) as client:
        agent = create_agent(EchoChatModel(), middleware=[MemtraceHistoryMiddleware(client)])
        agent.invoke({"messages": [HumanMessage("hi")]})
        assert client.list_memories().memories == []


async def test_async_agents_with_an_async_client(
    open_async_client: Callable[[], AsyncMemtrace], unique
) -> None:
    thread = unique("thread")
    agent = create_agent(EchoChatModel(), middleware=[MemtraceHistoryMiddleware(open_async_client())])
    config = {"configurable": {"thread_id": thread}}
    await agent.ainvoke({"messages": [HumanMessage("one")]}, config)
    result = await agent.ainvoke({"messages": [HumanMessage("two")]}, config)
    assert result["messages"][-1].content == "saw 3 messages; last: two"
