"""memtrace_instructions: each run starts with the session's memory context in the system prompt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents import Agent, RunContextWrapper, Runner
from openai_agents_scripted import ScriptedModel, message, tool_call

from memtrace import AddMemoryRequest, AsyncMemtrace, Memtrace, estimate_tokens, id_for_key
from memtrace_openai_agents import MemtraceSession, memtrace_instructions, memtrace_tools


async def test_a_new_run_knows_what_happened(open_client: Callable[[], AsyncMemtrace], unique) -> None:
    client = open_client()
    agent_id, key = unique("agent"), unique("user") + "@example.com"
    instructions = memtrace_instructions("You are a support agent.", client, key)
    tools = memtrace_tools(client, agent_id, session_id=key)

    model = ScriptedModel(
        [
            [tool_call("memtrace_remember", {"content": "Customer reported login failures on Android"})],
            [
                tool_call(
                    "memtrace_decide", {"decision": "Escalate to the mobile team", "reasoning": "Crash logs"}
                )
            ],
            [message("Escalated.")],
            [message("Welcome back.")],
        ]
    )
    agent = Agent(name="support", instructions=instructions, model=model, tools=tools)
    await Runner.run(agent, "Login keeps failing on my phone")
    # Nothing was in the session before the first run: the prompt is exactly the base instructions.
    assert model.calls[0].system_instructions == "You are a support agent."

    # A later run (no session history replayed) starts knowing both the action and the decision.
    await Runner.run(agent, "Any news?")
    prompt = model.calls[-1].system_instructions
    assert prompt.startswith("You are a support agent.\n\n")
    assert f"Session Context ({id_for_key(key)})" in prompt
    assert "Customer reported login failures on Android" in prompt
    assert "Escalate to the mobile team" in prompt


async def test_context_respects_the_token_budget(open_client: Callable[[], AsyncMemtrace], unique) -> None:
    client = open_client()
    agent_id, key = unique("agent"), unique("conv")
    await client.add_memories(
        [
            AddMemoryRequest(
                agent_id=agent_id, session_id=key, content=f"Step {i}: checked shard {i} " + "ok " * 20
            )
            for i in range(60)
        ]
    )
    instructions = memtrace_instructions("Base.", client, key, max_tokens=120)
    prompt = await instructions(RunContextWrapper(context=None), Agent(name="a"))
    block = prompt.removeprefix("Base.\n\n")
    assert estimate_tokens(block) <= 120
    assert "Step 59:" in block  # the newest memory is kept
    assert "Step 0:" not in block


async def test_conversation_turns_are_left_out_unless_asked_for(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    client = open_client()
    key = unique("conv")
    session = MemtraceSession(key, client=client, agent_id="bot")
    await session.add_items([{"role": "user", "content": "Hello there"}])
    await client.add_memory(
        AddMemoryRequest(agent_id="bot", session_id=key, content="User is on the Pro plan")
    )

    async def base(ctx: RunContextWrapper[Any], agent: Agent[Any]) -> str:
        return f"You are {agent.name}."

    facts_only = memtrace_instructions(base, client, key)  # the default: the session replays the turns
    everything = memtrace_instructions(base, client, key, include_types=None)
    ctx, agent = RunContextWrapper(context=None), Agent(name="Ada")
    facts = await facts_only(ctx, agent)
    assert facts.startswith("You are Ada.\n\n") and "Pro plan" in facts and "Hello there" not in facts
    full = await everything(ctx, agent)
    assert "Hello there" in full and "Pro plan" in full


async def test_unknown_session_gives_the_base_instructions(sync_client: Memtrace) -> None:
    instructions = memtrace_instructions("Base.", sync_client, "never-used")
    assert await instructions(RunContextWrapper(context=None), Agent(name="a")) == "Base."
