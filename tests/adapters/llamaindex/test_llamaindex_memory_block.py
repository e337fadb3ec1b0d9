"""`MemtraceMemoryBlock` gives LlamaIndex's `Memory` a long-term memory: a fact that has left the short-term
queue comes back into the model's context when a later turn needs it, in the same session or a new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import BaseMemoryBlock, Memory
from llamaindex_helpers import ScriptedLLM, prompt_text

from memtrace import AsyncMemtrace, Memtrace, SearchQuery
from memtrace_llamaindex import MemtraceDBChatStore, MemtraceMemoryBlock

AGENT = "travel_assistant"
FACT = "My favourite colour is teal."
FILLER = [
    "Please book a table for two on Friday evening.",
    "Also check the train times to Porto for Saturday morning.",
    "Remind me to water the plants before we leave.",
    "Which museums are open late on Sundays?",
]
QUESTION = "What is my favourite colour again?"


def short_term_memory(
    chat_store: MemtraceDBChatStore, blocks: list[BaseMemoryBlock[Any]], session_id: str = "user-7"
) -> Memory:
    # A small budget, so the first turns are flushed out of the queue (and into the blocks) after a few more.
    return Memory.from_defaults(
        session_id=session_id,
        chat_store=chat_store,
        memory_blocks=blocks,
        token_limit=60,
        token_flush_size=20,
    )


async def chat(memory: Memory, llm: ScriptedLLM, turns: list[str]) -> list[ChatMessage]:
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    for turn in turns:
        await engine.achat(turn)
    return llm.prompts[-1]


def history_and_system(prompt: list[ChatMessage]) -> tuple[str, str]:
    system = [m for m in prompt if m.role == MessageRole.SYSTEM]
    rest = [m for m in prompt if m.role != MessageRole.SYSTEM]
    return prompt_text(rest), prompt_text(system)


async def test_an_earlier_fact_reaches_the_context_of_a_later_turn(
    aclient: AsyncMemtrace, scripted_llm: ScriptedLLM
) -> None:
    block = MemtraceMemoryBlock(aclient, agent_id=AGENT, k=3)
    memory = short_term_memory(MemtraceDBChatStore(aclient, agent_id=AGENT), [block])
    prompt = await chat(memory, scripted_llm, [FACT, *FILLER, QUESTION])

    history, system = history_and_system(prompt)
    assert "teal" not in history  # the turn itself has left the short-term queue...
    assert "teal" in system  # ...and memtrace brought it back for this question
    assert "<memtrace>" in system
    assert QUESTION in history
    # The fact was stored once, as the user said it, in the memory's session.
    (stored,) = (
        await aclient.search_memories(
            SearchQuery(query="favourite colour", agent_id=AGENT, memory_types=["episodic"])
        )
    ).results
    assert (stored.content, stored.metadata, stored.session_id) == (
        FACT,
        {"role": "user", "llamaindex_session_id": "user-7"},
        "user-7",
    )


async def test_without_the_block_the_fact_is_gone(aclient: AsyncMemtrace, scripted_llm: ScriptedLLM) -> None:
    # The control: the same conversation, the same store, no long-term block.
    memory = short_term_memory(MemtraceDBChatStore(aclient, agent_id=AGENT), [])
    prompt = await chat(memory, scripted_llm, [FACT, *FILLER, QUESTION])
    assert "teal" not in prompt_text(prompt)


async def test_a_new_session_and_a_fresh_client_recall_it(
    aclient: AsyncMemtrace, data_dir: Path, scripted_llm: ScriptedLLM
) -> None:
    first = short_term_memory(
        MemtraceDBChatStore(aclient, agent_id=AGENT), [MemtraceMemoryBlock(aclient, agent_id=AGENT)]
    )
    await chat(first, scripted_llm, [FACT, *FILLER])

    with Memtrace.open(data_dir) as fresh:  # a sync client works too (calls run in worker threads)
        block = MemtraceMemoryBlock(fresh, agent_id=AGENT, k=2)
        next_day = short_term_memory(
            MemtraceDBChatStore(fresh, agent_id=AGENT), [block], session_id="user-7-day-2"
        )
        prompt = await chat(next_day, ScriptedLLM(), [QUESTION])
    _, system = history_and_system(prompt)
    assert "teal" in system


async def test_facts_other_tools_stored_are_recalled_too(aclient: AsyncMemtrace) -> None:
    await aclient.remember("crm_agent", "Customer Ann is allergic to peanuts")
    await aclient.remember("crm_agent", "Customer Ann prefers aisle seats")
    block = MemtraceMemoryBlock(aclient, k=1)  # agent_id=None: search every agent of the organisation
    memory = Memory.from_defaults(
        session_id="s", chat_store=MemtraceDBChatStore(aclient), memory_blocks=[block]
    )
    await memory.aput(
        ChatMessage(role=MessageRole.USER, content="Any allergies I should know about for Ann?")
    )
    (system, *_) = await memory.aget()
    assert system.role == MessageRole.SYSTEM
    assert system.content is not None
    assert "allergic to peanuts" in system.content
    assert "aisle" not in system.content  # k=1: only the best match


async def test_session_scoped_recall_stays_in_its_session(aclient: AsyncMemtrace) -> None:
    writer = MemtraceMemoryBlock(aclient, agent_id=AGENT)
    await writer.aput(
        [ChatMessage(role=MessageRole.USER, content="The door code is 4711")], session_id="house-a"
    )
    scoped = MemtraceMemoryBlock(aclient, agent_id=AGENT, session_scoped=True)
    question = [ChatMessage(role=MessageRole.USER, content="What is the door code?")]
    assert "4711" in await scoped.aget(question, session_id="house-a")
    assert await scoped.aget(question, session_id="house-b") == ""
    assert "4711" in await writer.aget(question, session_id="house-b")  # unscoped: long-term across sessions


async def test_nothing_to_search_and_nothing_found(aclient: AsyncMemtrace) -> None:
    block = MemtraceMemoryBlock(aclient, agent_id=AGENT)
    assert await block.aget([]) == ""
    assert await block.aget([ChatMessage(role=MessageRole.USER, content="?!")]) == ""
    assert await block.aget([ChatMessage(role=MessageRole.USER, content="quantum chromodynamics")]) == ""


async def test_only_text_turns_are_stored(aclient: AsyncMemtrace) -> None:
    block = MemtraceMemoryBlock(aclient, agent_id=AGENT)
    await block.aput(
        [
            ChatMessage(role=MessageRole.SYSTEM, content="You are a helpful assistant."),
            ChatMessage(role=MessageRole.ASSISTANT, content=""),
            ChatMessage(role=MessageRole.USER, content="ok"),
            ChatMessage(role=MessageRole.USER, content="ok"),  # said twice, stored twice
        ]
    )
    stored = (await aclient.search_memories(SearchQuery(agent_id=AGENT))).results
    assert sorted(m.content for m in stored) == ["ok", "ok"]


async def test_truncation_drops_the_least_relevant_lines_first(aclient: AsyncMemtrace) -> None:
    block = MemtraceMemoryBlock(aclient, agent_id=AGENT)
    content = "- best match\n- second\n- third"
    assert await block.atruncate(content, 2) == "- best match\n- second"
    assert await block.atruncate(content, 100) is None


def test_remote_block_recalls_from_a_live_server(remote_client: Memtrace, unique_agent: str) -> None:
    import asyncio

    block = MemtraceMemoryBlock(remote_client, agent_id=unique_agent)

    async def run() -> str:
        await block.aput([ChatMessage(role=MessageRole.USER, content=FACT)], session_id="user-7")
        return await block.aget([ChatMessage(role=MessageRole.USER, content=QUESTION)])

    assert "teal" in asyncio.run(run())


@pytest.mark.parametrize("k", [0, 1001])
def test_k_is_validated(client: Memtrace, k: int) -> None:
    with pytest.raises(ValueError, match="k"):
        MemtraceMemoryBlock(client, k=k)
