"""A scripted multi-turn agent (real Agent and Runner, offline model) that learns where the user lives, then
that they moved: its facts and its session context give only the new city as current, and the fact's history
gives both, in order."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agents import Agent, Runner
from openai_agents_scripted import ModelCall, ScriptedModel, message, tool_call

from memtrace import AsyncMemtrace, ContextOptions, id_for_key
from memtrace_openai_agents import memtrace_tools


def answer_from_facts(call: ModelCall) -> list[Any]:
    payload = json.loads(call.tool_outputs()[-1])
    return [message(" | ".join(m["content"] for m in payload["memories"]) or "I don't know")]


async def test_an_agent_learns_a_move_and_answers_with_the_current_city(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    client = open_client()
    agent_id, user = unique("assistant"), unique("ada")
    key = f"user:{user}/city"
    tools = memtrace_tools(client, agent_id, session_id="chat")
    turns: list[tuple[str, list[Any]]] = [
        (
            "I live in Paris.",
            [
                [tool_call("memtrace_remember", {"content": "The user lives in Paris", "key": key})],
                [message("Noted.")],
            ],
        ),
        (
            "I just moved to Berlin!",
            [
                [tool_call("memtrace_remember", {"content": "The user lives in Berlin", "key": key})],
                [message("Noted.")],
            ],
        ),
        (
            "Where do I live?",
            [[tool_call("memtrace_recall_facts", {"prefix": f"user:{user}/"})], answer_from_facts],
        ),
    ]
    answers = []
    for prompt, script in turns:
        agent = Agent(
            name="assistant",
            instructions="Remember facts with a key.",
            model=ScriptedModel(script),
            tools=tools,
        )
        answers.append((await Runner.run(agent, prompt)).final_output)
    assert answers == ["Noted.", "Noted.", "The user lives in Berlin"]

    context = (await client.get_session_context(id_for_key("chat"), ContextOptions(since="1h"))).context
    assert f"- {key}: The user lives in Berlin" in context and "Paris" not in context
    history = (await client.fact_history(key)).memories
    assert [m.content for m in history] == ["The user lives in Paris", "The user lives in Berlin"]
    assert history[0].superseded_by == history[1].id and history[1].valid_until is None
    await client.close()
