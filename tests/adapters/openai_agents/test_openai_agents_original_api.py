"""Code written for the original Memtrace OpenAI Agents integration (``openai-agents-memtrace``, spec
memtrace-api §10) runs unchanged against memtrace_openai_agents, and now persists its conversation."""

from __future__ import annotations

import json
from collections.abc import Callable

from agents import Agent, Runner
from openai_agents_scripted import ScriptedModel, message, tool_call

from memtrace import AsyncMemtrace, RegisterAgentRequest
from memtrace_openai_agents import MemtraceSession, create_memtrace_tools


async def test_the_original_usage_runs_unchanged_and_persists(
    open_client: Callable[[], AsyncMemtrace],
) -> None:
    client = open_client()
    # The original needed a registered agent's id; such code keeps working.
    agent_id = (await client.register_agent(RegisterAgentRequest(name="support-bot"))).id

    # --- as written for the original integration ---
    tools = create_memtrace_tools(client, agent_id)
    session = await MemtraceSession.create(client, agent_id, metadata={"user": "u-42"})
    model = ScriptedModel(
        [
            [tool_call("memtrace_remember", {"content": "User prefers dark mode", "memory_type": "entity"})],
            [message("Noted: dark mode.")],
        ]
    )
    agent = Agent(name="support", instructions="Be helpful.", model=model, tools=tools)
    result = await Runner.run(agent, "I like dark mode", session=session)
    assert result.final_output == "Noted: dark mode."
    items = await session.get_items()
    await session.close()
    # --------------------------------------------------

    assert [t.name for t in tools] == [
        "memtrace_remember",
        "memtrace_recall",
        "memtrace_search",
        "memtrace_decide",
    ]
    remembered = json.loads(model.calls[1].input[-1]["output"])
    assert remembered["content"] == "User prefers dark mode" and remembered["agent_id"] == agent_id
    assert [i.get("type", "message") for i in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]

    stored = await client.get_session(session.session_id)
    assert stored.agent_id == agent_id and stored.status == "closed"
    assert stored.metadata is not None and stored.metadata["user"] == "u-42"
    # Unlike the original (items in RAM), a later process continues the conversation.
    again = MemtraceSession(session.session_id, client=open_client(), agent_id=agent_id)
    assert await again.get_items() == items


async def test_create_injects_the_session_context_when_there_is_some(
    open_client: Callable[[], AsyncMemtrace],
) -> None:
    client = open_client()
    session = await MemtraceSession.create(client, "support-bot", inject_context=True)
    assert await session.get_items() == []  # a brand-new session has no context to inject
    quiet = await MemtraceSession.create(
        client, "support-bot", inject_context=False, persist_assistant_messages=True
    )
    assert quiet.session_id != session.session_id
