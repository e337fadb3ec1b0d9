"""memtrace_tools driven by the real Agent and Runner with a scripted offline model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from agents import Agent, FunctionTool, Runner
from openai_agents_scripted import ModelCall, ScriptedModel, message, tool_call
from support.tool_probe import PROBE, add_probe_argument, core_arguments

from memtrace import AsyncMemtrace, ListOptions, Memtrace, NotFoundError, id_for_key
from memtrace.tools import ToolScope
from memtrace_openai_agents import MemtraceSession, memtrace_tools


def answer_from_last_tool_output(call: ModelCall) -> list[Any]:
    """A model turn that reads the tool result it was given and reports the memories' contents."""
    payload = json.loads(call.tool_outputs()[-1])
    memories = payload.get("results", payload.get("memories", []))
    return [message(" | ".join(m["content"] for m in memories) or "nothing found")]


async def run(
    agent_tools: list[FunctionTool], turns: list[Any], prompt: str = "go"
) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(turns)
    agent = Agent(name="memory-agent", instructions="Use your memory tools.", model=model, tools=agent_tools)
    result = await Runner.run(agent, prompt)
    return result, model


def outputs(model: ScriptedModel) -> list[dict[str, Any]]:
    """Every tool result the model was shown, parsed."""
    return [json.loads(o) for o in model.calls[-1].tool_outputs()]


def test_tool_names_and_schemas_match_the_original_integration(sync_client: Memtrace) -> None:
    tools = memtrace_tools(sync_client, "bot")
    assert [t.name for t in tools] == [
        "memtrace_remember",
        "memtrace_recall",
        "memtrace_search",
        "memtrace_decide",
        "memtrace_forget",
        "memtrace_recall_facts",
    ]
    schemas = {t.name: t.params_json_schema for t in tools}
    assert all(not t.strict_json_schema for t in tools)
    assert all(s["type"] == "object" and s["additionalProperties"] is False for s in schemas.values())
    assert schemas["memtrace_remember"]["required"] == ["content"]
    assert set(schemas["memtrace_remember"]["properties"]) == {
        "content", "memory_type", "event_type", "session_id", "tags", "importance", "metadata", "agent_id", "ttl",
        "key",
    }  # fmt: skip
    assert schemas["memtrace_remember"]["properties"]["memory_type"]["enum"] == [
        "episodic", "decision", "entity", "session",
    ]  # fmt: skip
    assert schemas["memtrace_recall"]["required"] == []
    assert set(schemas["memtrace_recall"]["properties"]) == {
        "since",
        "session_id",
        "memory_type",
        "limit",
        "agent_id",
    }
    assert set(schemas["memtrace_search"]["properties"]) == {
        "query", "content_contains", "memory_types", "tags", "since", "min_importance", "limit", "agent_id",
    }  # fmt: skip
    assert schemas["memtrace_decide"]["required"] == ["decision", "reasoning"]
    assert schemas["memtrace_forget"]["required"] == ["memory_id"]


async def test_remember_then_search_from_a_fresh_client(
    open_client: Callable[[], AsyncMemtrace], unique: Callable[[str], str]
) -> None:
    agent_id = unique("agent")
    first_client = open_client()
    result, model = await run(
        memtrace_tools(first_client, agent_id),
        [
            [
                tool_call(
                    "memtrace_remember", {"content": "User prefers dark mode in every editor", "tags": ["ui"]}
                )
            ],
            [message("I'll remember that.")],
        ],
        "I like dark mode everywhere.",
    )
    [stored] = outputs(model)
    assert stored["id"].startswith("mem_") and stored["agent_id"] == agent_id
    await first_client.close()

    # A second run, a new client on the same data: the memory is found by ranked search.
    second_client = open_client()
    await second_client.remember(agent_id, "User's cat is called Miso")
    result, model = await run(
        memtrace_tools(second_client, agent_id),
        [[tool_call("memtrace_search", {"query": "dark mode"})], answer_from_last_tool_output],
        "Which theme do I like?",
    )
    assert result.final_output == "User prefers dark mode in every editor"
    [found] = outputs(model)
    assert found["results"][0]["id"] == stored["id"]
    assert found["results"][0]["score"] is not None


async def test_recall_is_newest_first_and_scoped_to_the_default_session(
    open_client: Callable[[], AsyncMemtrace], unique: Callable[[str], str]
) -> None:
    client = open_client()
    agent_id, key = unique("agent"), "thread/42"  # not a valid id as it is: mapped like MemtraceSession's
    tools = memtrace_tools(client, agent_id, session_id=key)
    await run(
        tools,
        [
            [tool_call("memtrace_remember", {"content": "Opened ticket 1"})],
            [tool_call("memtrace_remember", {"content": "Closed ticket 1", "event_type": "action"})],
            [message("done")],
        ],
    )
    await client.remember(agent_id, "Outside the session")
    result, model = await run(tools, [[tool_call("memtrace_recall", {})], answer_from_last_tool_output])
    assert result.final_output == "Closed ticket 1 | Opened ticket 1"
    [recalled] = outputs(model)
    assert {m["session_id"] for m in recalled["memories"]} == {id_for_key(key)}
    assert recalled["count"] == 2 and recalled["has_more"] is False
    # The default session became a listable session row.
    session = await client.get_session(id_for_key(key))
    assert session.metadata is not None and session.metadata["key"] == key


async def test_conversation_turns_stay_out_of_recall_and_search_unless_asked_for(
    open_client: Callable[[], AsyncMemtrace], unique: Callable[[str], str]
) -> None:
    """A MemtraceSession stores every turn as a `session` memory; the tools must find the facts, not the chat
    (nor earlier tool results, which quote memories and would snowball)."""
    client = open_client()
    agent_id, key = unique("agent"), unique("conv")
    session = MemtraceSession(key, client=client, agent_id=agent_id)
    tools = memtrace_tools(client, agent_id, session_id=key)
    model = ScriptedModel(
        [
            [tool_call("memtrace_remember", {"content": "User prefers dark mode"})],
            [message("Noted, dark mode.")],
            [tool_call("memtrace_search", {"query": "dark mode"})],
            answer_from_last_tool_output,
            [tool_call("memtrace_recall", {})],
            answer_from_last_tool_output,
            [tool_call("memtrace_search", {"query": "dark mode", "memory_types": ["session"]})],
            answer_from_last_tool_output,
        ]
    )
    agent = Agent(name="a", model=model, tools=tools)
    await Runner.run(agent, "I like dark mode", session=session)
    searched = await Runner.run(agent, "What theme do I like? Dark mode?", session=session)
    assert searched.final_output == "User prefers dark mode"
    recalled = await Runner.run(agent, "What happened?", session=session)
    assert recalled.final_output == "User prefers dark mode"
    for call in model.calls:  # every default recall/search saw the one fact only
        for output in call.tool_outputs()[1:]:
            found = json.loads(output).get("results", json.loads(output).get("memories"))
            assert [m["memory_type"] for m in found] == ["episodic"]
    turns = await Runner.run(agent, "What did I say?", session=session)
    assert "I like dark mode" in turns.final_output.split(" | ")
    asked = json.loads(model.calls[-1].tool_outputs()[-1])["results"]
    assert {m["memory_type"] for m in asked} == {"session"}


async def test_search_filters_without_a_query(open_client: Callable[[], AsyncMemtrace], unique) -> None:
    client = open_client()
    agent_id = unique("agent")
    tools = memtrace_tools(client, agent_id)
    await run(
        tools,
        [
            [
                tool_call(
                    "memtrace_remember",
                    {"content": "Deploy failed on node 3", "tags": ["ops"], "importance": 0.9},
                )
            ],
            [
                tool_call(
                    "memtrace_remember", {"content": "Deploy succeeded", "tags": ["ops"], "importance": 0.2}
                )
            ],
            [message("ok")],
        ],
    )
    result, _ = await run(
        tools,
        [
            [
                tool_call(
                    "memtrace_search", {"tags": ["ops"], "min_importance": 0.5, "content_contains": "DEPLOY"}
                )
            ],
            answer_from_last_tool_output,
        ],
    )
    assert result.final_output == "Deploy failed on node 3"


async def test_decide_records_reasoning_in_the_session(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    client = open_client()
    agent_id, key = unique("agent"), unique("conv")
    await run(
        memtrace_tools(client, agent_id, session_id=key),
        [
            [tool_call("memtrace_decide", {"decision": "Use PostgreSQL", "reasoning": "Needs HA"})],
            [message("decided")],
        ],
    )
    [decision] = (await client.list_memories(ListOptions(session_id=key))).memories
    assert (decision.memory_type, decision.event_type, decision.content) == (
        "decision",
        "decision",
        "Use PostgreSQL",
    )
    assert decision.metadata == {"reasoning": "Needs HA"}
    # Without a default session it is the client's plain `decide`.
    _, model = await run(
        memtrace_tools(client, agent_id),
        [
            [tool_call("memtrace_decide", {"decision": "Ship on Friday", "reasoning": "Low risk"})],
            [message("ok")],
        ],
    )
    [plain] = outputs(model)
    assert plain["session_id"] is None and plain["metadata"] == {"reasoning": "Low risk"}


async def test_forget_deletes_only_this_agents_memory(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    client = open_client()
    agent_id = unique("agent")
    mine = await client.remember(agent_id, "Wrong fact")
    theirs = await client.remember(unique("other"), "Someone else's fact")
    result, model = await run(
        memtrace_tools(client, agent_id),
        [
            [tool_call("memtrace_forget", {"memory_id": mine.id})],
            [tool_call("memtrace_forget", {"memory_id": theirs.id})],
            [tool_call("memtrace_forget", {"memory_id": "mem_00000000000000000000000000"})],
            [message("done")],
        ],
    )
    assert result.final_output == "done"  # errors went to the model; the run did not fail
    deleted, refused, missing = outputs(model)
    assert deleted == {"deleted": mine.id}
    assert "belongs to agent" in refused["error"]
    assert "error" in missing
    with pytest.raises(NotFoundError):
        await client.get_memory(mine.id)
    assert (await client.get_memory(theirs.id)).content == "Someone else's fact"


async def test_bad_arguments_and_duplicates_come_back_to_the_model(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    client = open_client()
    result, model = await run(
        memtrace_tools(client, unique("agent")),
        [
            [tool_call("memtrace_remember", {"content": "Tagged", "tags": ["not a tag!"]})],
            [tool_call("memtrace_remember", {"content": ""})],
            [tool_call("memtrace_remember", {"content": "Said twice"})],
            [tool_call("memtrace_remember", {"content": "Said twice"})],
            [tool_call("memtrace_recall", {"limit": "ten"})],
            [message("handled")],
        ],
    )
    assert result.final_output == "handled"
    bad_tag, empty, first, duplicate, bad_limit = outputs(model)
    assert bad_tag["field"] == "tags[0]"
    assert empty["field"] == "content"
    assert first["content"] == "Said twice"
    assert duplicate["duplicate"] is True
    assert bad_limit["field"] == "limit"


async def test_tools_work_with_a_sync_client(sync_client: Memtrace, unique) -> None:
    agent_id = unique("agent")
    result, _ = await run(
        memtrace_tools(sync_client, agent_id),
        [
            [tool_call("memtrace_remember", {"content": "Prefers tea over coffee"})],
            [tool_call("memtrace_search", {"query": "tea"})],
            answer_from_last_tool_output,
        ],
    )
    assert result.final_output == "Prefers tea over coffee"
    assert sync_client.recall(agent_id).memories[0].content == "Prefers tea over coffee"


def test_schemas_are_core_definitions_with_the_defaults_overridable(sync_client: Memtrace) -> None:
    scope = ToolScope(agent_id="bot", session_id="s", overridable=True)
    for tool in memtrace_tools(sync_client, "bot", session_id="s"):
        assert set(tool.params_json_schema["properties"]) == core_arguments(tool.name, scope), tool.name
    importance = memtrace_tools(sync_client, "bot")[0].params_json_schema["properties"]["importance"]
    assert (importance["minimum"], importance["maximum"]) == (0, 1) and "ge" not in importance


async def test_an_argument_core_adds_reaches_the_schema_and_the_write(
    monkeypatch: pytest.MonkeyPatch, open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    seen = add_probe_argument(monkeypatch)
    tools = memtrace_tools(open_client(), unique("agent"), session_id="chat")
    assert all(PROBE in t.params_json_schema["properties"] for t in tools)
    _, model = await run(
        tools,
        [
            [tool_call("memtrace_remember", {"content": "Probe me", PROBE: "r"})],
            [tool_call("memtrace_decide", {"decision": "Probe", "reasoning": "why not", PROBE: "d"})],
            [message("done")],
        ],
    )
    remembered, decided = outputs(model)
    assert remembered["content"] == "Probe me" and decided["memory_type"] == "decision"
    # The writes run core's plans; recall, search and forget keep this adapter's own (see `_HANDLERS`).
    assert (seen["memtrace_remember"], seen["memtrace_decide"]) == (["r"], ["d"])
