"""memtrace_tools: memory tools an agent can call, checked through their schemas and a real create_agent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_helpers import scripted
from support.tool_probe import PROBE, add_probe_argument, core_arguments

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ListOptions,
    Memory,
    MemoryList,
    Memtrace,
    SearchResult,
    ValidationError,
    id_for_key,
)
from memtrace.tools import MEMORY_TOOLS, ToolScope
from memtrace_langchain import memtrace_tools

NAMES = [
    "memtrace_remember",
    "memtrace_recall",
    "memtrace_search",
    "memtrace_decide",
    "memtrace_forget",
    "memtrace_recall_facts",
]


def by_name(tools: list[BaseTool]) -> dict[str, BaseTool]:
    return {t.name: t for t in tools}


def call(tool: BaseTool, args: dict[str, Any], call_id: str = "c1") -> ToolMessage:
    """Invoke a tool the way an agent does (with a tool call), so errors come back as a ToolMessage."""
    out = tool.invoke(ToolCall(name=tool.name, args=args, id=call_id, type="tool_call"))
    assert isinstance(out, ToolMessage)
    return out


def test_schemas_an_llm_can_fill(embedded_client: Memtrace) -> None:
    tools = memtrace_tools(embedded_client, "agent-1")
    assert [t.name for t in tools] == NAMES
    schemas = {t.name: convert_to_openai_tool(t)["function"] for t in tools}
    for name, schema in schemas.items():
        assert schema["description"], name
        for prop, spec in schema["parameters"]["properties"].items():
            assert spec.get("description"), f"{name}.{prop} has no description"
    assert schemas["memtrace_remember"]["parameters"]["required"] == ["content"]
    assert schemas["memtrace_remember"]["parameters"]["properties"]["memory_type"]["enum"] == [
        "episodic",
        "decision",
        "entity",
        "session",
    ]
    assert schemas["memtrace_search"]["parameters"]["required"] == ["query"]
    assert sorted(schemas["memtrace_decide"]["parameters"]["required"]) == ["decision", "reasoning"]
    assert schemas["memtrace_forget"]["parameters"]["required"] == ["memory_id"]
    assert "required" not in schemas["memtrace_recall"]["parameters"]


def test_remember_recall_search_decide_forget(client: Memtrace, unique) -> None:
    agent = unique("agent")
    tools = by_name(memtrace_tools(client, agent, session_id="chat-0f@example.com"))

    remembered = call(
        tools["memtrace_remember"],
        {"content": "User prefers dark mode", "memory_type": "entity", "tags": ["ui"], "importance": 0.8},
    )
    assert remembered.status == "success" and remembered.text.startswith("Remembered as mem_")
    memory_id = remembered.text.removeprefix("Remembered as ").rstrip(".")
    stored = client.get_memory(memory_id)
    assert (stored.agent_id, stored.memory_type, stored.tags, stored.importance) == (
        agent,
        "entity",
        ["ui"],
        0.8,
    )
    assert stored.session_id == id_for_key("chat-0f@example.com")

    decided = call(
        tools["memtrace_decide"], {"decision": "Use dark theme by default", "reasoning": "user asked"}
    )
    assert decided.text.startswith("Decision recorded as mem_")

    recalled = call(tools["memtrace_recall"], {}).text
    assert "User prefers dark mode" in recalled and memory_id in recalled
    assert "Use dark theme by default (reasoning: user asked)" in recalled

    found = call(tools["memtrace_search"], {"query": "dark mode"}).text
    assert found.splitlines()[0].startswith(f"- {memory_id} ")
    assert "(score " in found

    assert call(tools["memtrace_forget"], {"memory_id": memory_id}).text == f"Forgot {memory_id}."
    assert "User prefers dark mode" not in call(tools["memtrace_search"], {"query": "dark mode"}).text
    assert (
        call(tools["memtrace_forget"], {"memory_id": memory_id}).text == f"No memory {memory_id} to forget."
    )


def test_recall_is_scoped_to_the_session_and_search_is_not(client: Memtrace, unique) -> None:
    agent = unique("agent")
    client.add_memory(AddMemoryRequest(agent_id=agent, content="Invoice 17 was paid", session_id="earlier"))
    tools = by_name(memtrace_tools(client, agent, session_id="now"))
    assert call(tools["memtrace_recall"], {"since": "1h"}).text == "No memories since 1h."
    assert "Invoice 17 was paid" in call(tools["memtrace_search"], {"query": "invoice"}).text


def test_forget_refuses_another_agents_memory(client: Memtrace, unique) -> None:
    theirs = client.add_memory(AddMemoryRequest(agent_id=unique("other"), content="Not yours"))
    tools = by_name(memtrace_tools(client, unique("agent")))
    assert (
        call(tools["memtrace_forget"], {"memory_id": theirs.id}).text == f"No memory {theirs.id} to forget."
    )
    assert client.get_memory(theirs.id).content == "Not yours"


def test_mistakes_come_back_to_the_model_as_tool_errors(client: Memtrace, unique) -> None:
    agent = unique("agent")
    tools = by_name(memtrace_tools(client, agent))
    bad_tag = call(tools["memtrace_remember"], {"content": "x", "tags": ["not a tag!"]})
    assert bad_tag.status == "error" and "tags[0]" in bad_tag.text
    bad_since = call(tools["memtrace_recall"], {"since": "last tuesday"})
    assert bad_since.status == "error" and "since" in bad_since.text
    bad_id = call(tools["memtrace_forget"], {"memory_id": "42"})
    assert bad_id.status == "error" and "memory_id" in bad_id.text
    bad_limit = call(tools["memtrace_recall"], {"limit": "ten"})  # refused by LangChain's own validation
    assert bad_limit.status == "error" and bad_limit.text.startswith("Invalid arguments: limit:")

    first = call(tools["memtrace_remember"], {"content": "Standup is at 9:30"})
    again = call(tools["memtrace_remember"], {"content": "Standup is at 9:30"})
    assert first.text.startswith("Remembered as") and again.text.startswith("Already remembered")
    assert client.list_memories(ListOptions(agent_id=agent)).count == 1


def test_bad_setup_is_rejected(embedded_client: Memtrace) -> None:
    with pytest.raises(ValidationError) as err:
        memtrace_tools(embedded_client, "not an id")
    assert err.value.field == "agent_id"
    with pytest.raises(TypeError):
        memtrace_tools(object(), "agent-1")  # type: ignore[arg-type]


def test_an_agent_remembers_then_later_finds_the_memory(open_client: Callable[[], Memtrace], unique) -> None:
    agent_id = unique("agent")
    first_run = create_agent(
        scripted(
            AIMessage(
                content="",
                tool_calls=[
                    ToolCall(
                        name="memtrace_remember",
                        args={"content": "The user's favourite colour is teal", "memory_type": "entity"},
                        id="call_1",
                    )
                ],
            ),
            AIMessage(content="Noted: teal."),
        ),
        tools=memtrace_tools(open_client(), agent_id, session_id="thread-1"),
    )
    out = first_run.invoke({"messages": [{"role": "user", "content": "My favourite colour is teal."}]})
    assert out["messages"][-1].text == "Noted: teal."

    # A later conversation, another process's client: the agent searches and finds it.
    later_run = create_agent(
        scripted(
            AIMessage(
                content="",
                tool_calls=[
                    ToolCall(name="memtrace_search", args={"query": "favourite colour"}, id="call_2")
                ],
            ),
            AIMessage(content="Your favourite colour is teal."),
        ),
        tools=memtrace_tools(open_client(), agent_id, session_id="thread-2"),
    )
    out = later_run.invoke({"messages": [{"role": "user", "content": "What is my favourite colour?"}]})
    [tool_message] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert tool_message.name == "memtrace_search" and tool_message.status == "success"
    assert "The user's favourite colour is teal" in tool_message.text
    assert out["messages"][-1].text == "Your favourite colour is teal."


async def test_async_agent_with_an_async_client(
    open_async_client: Callable[[], AsyncMemtrace], unique
) -> None:
    agent_id = unique("agent")
    client = open_async_client()
    agent = create_agent(
        scripted(
            AIMessage(
                content="",
                tool_calls=[
                    ToolCall(name="memtrace_remember", args={"content": "Ship on Friday"}, id="a1"),
                    ToolCall(
                        name="memtrace_decide",
                        args={"decision": "Freeze on Thursday", "reasoning": "one day of testing"},
                        id="a2",
                    ),
                ],
            ),
            AIMessage(
                content="", tool_calls=[ToolCall(name="memtrace_recall", args={"since": "1h"}, id="a3")]
            ),
            AIMessage(content="Done."),
        ),
        tools=memtrace_tools(client, agent_id),
    )
    out = await agent.ainvoke({"messages": [{"role": "user", "content": "Plan the release."}]})
    [recall] = [m for m in out["messages"] if isinstance(m, ToolMessage) and m.name == "memtrace_recall"]
    assert (
        "Ship on Friday" in recall.text
        and "Freeze on Thursday (reasoning: one day of testing)" in recall.text
    )
    memories = (await client.list_memories(ListOptions(agent_id=agent_id))).memories
    assert sorted(m.memory_type for m in memories) == ["decision", "episodic"]


def test_schemas_are_core_definitions_with_the_agent_and_session_bound(embedded_client: Memtrace) -> None:
    bound = ToolScope(agent_id="agent-1", session_id="chat")
    for tool in memtrace_tools(embedded_client, "agent-1", session_id="chat"):
        properties = convert_to_openai_tool(tool)["function"]["parameters"]["properties"]
        assert set(properties) == core_arguments(tool.name, bound), tool.name
        assert tool.description == MEMORY_TOOLS[tool.name].description
    remember = by_name(memtrace_tools(embedded_client, "agent-1"))["memtrace_remember"]
    importance = convert_to_openai_tool(remember)["function"]["parameters"]["properties"]["importance"]
    assert (importance["minimum"], importance["maximum"]) == (0, 1) and "ge" not in importance


def test_an_argument_core_adds_reaches_the_schema_and_the_call(
    monkeypatch: pytest.MonkeyPatch, embedded_client: Memtrace
) -> None:
    seen = add_probe_argument(monkeypatch)
    tools = by_name(memtrace_tools(embedded_client, "agent-1"))
    for tool in tools.values():
        assert PROBE in convert_to_openai_tool(tool)["function"]["parameters"]["properties"], tool.name
    memory = Memory.model_validate(
        call(tools["memtrace_remember"], {"content": "Probe me", PROBE: "r"}).artifact
    )
    call(tools["memtrace_recall"], {PROBE: "l"})
    call(tools["memtrace_search"], {"query": "probe", PROBE: "s"})
    call(tools["memtrace_decide"], {"decision": "d", "reasoning": "r", PROBE: "d"})
    call(tools["memtrace_forget"], {"memory_id": memory.id, PROBE: "f"})
    assert seen == {
        **{name: [] for name in MEMORY_TOOLS},
        "memtrace_remember": ["r"],
        "memtrace_recall": ["l"],
        "memtrace_search": ["s"],
        "memtrace_decide": ["d"],
        "memtrace_forget": ["f"],
    }


def test_the_application_gets_the_result_as_json_data_in_the_artifact(embedded_client: Memtrace) -> None:
    tools = by_name(memtrace_tools(embedded_client, "agent-1"))
    remembered = call(tools["memtrace_remember"], {"content": "User prefers dark mode"}).artifact
    memory = Memory.model_validate(remembered)
    assert memory.content == "User prefers dark mode" and json.loads(json.dumps(remembered)) == remembered
    recalled = MemoryList.model_validate(call(tools["memtrace_recall"], {}).artifact)
    assert [m.id for m in recalled.memories] == [memory.id]
    found = SearchResult.model_validate(call(tools["memtrace_search"], {"query": "dark mode"}).artifact)
    assert found.results[0].id == memory.id and found.results[0].score is not None
    forgotten = call(tools["memtrace_forget"], {"memory_id": memory.id})
    assert forgotten.artifact == {"deleted": True, "id": memory.id}


def test_remember_with_a_key_supersedes_and_recall_facts_gives_the_current_value(
    embedded_client: Memtrace,
) -> None:
    tools = by_name(memtrace_tools(embedded_client, "agent-1"))
    assert call(tools["memtrace_recall_facts"], {}).content == "No facts known."
    call(tools["memtrace_remember"], {"content": "Ada lives in Paris", "key": "user:ada/city"})
    call(tools["memtrace_remember"], {"content": "Ada lives in Berlin", "key": "user:ada/city"})
    again = call(tools["memtrace_remember"], {"content": "Ada lives in Berlin", "key": "user:ada/city"})
    assert again.content == "Already known: user:ada/city has this value."
    facts = call(tools["memtrace_recall_facts"], {"prefix": "user:ada/"})
    assert "Ada lives in Berlin" in str(facts.content) and "Paris" not in str(facts.content)
    history = embedded_client.fact_history("user:ada/city").memories
    assert [m.content for m in history] == ["Ada lives in Paris", "Ada lives in Berlin"]
