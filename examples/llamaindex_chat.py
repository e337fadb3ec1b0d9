"""LlamaIndex with memtrace memory: a chat that survives restarts, and a long-term memory block.

    uv run python examples/llamaindex_chat.py                  # offline, scripted model, embedded memtrace
    uv run python examples/llamaindex_chat.py --data-dir /tmp/mt
    OPENAI_API_KEY=sk-... uv run python examples/llamaindex_chat.py   # a real model (needs llama-index-llms-openai)
    MEMTRACE_URL=http://127.0.0.1:9100 MEMTRACE_API_KEY=mtk_... uv run python examples/llamaindex_chat.py   # a server

Part 1 keeps a `ChatMemoryBuffer` conversation in memtrace (`MemtraceChatStore`) and reads it back through a
fresh client, as a restarted process would. Part 2 gives LlamaIndex's new `Memory` a memtrace short-term store
(`MemtraceDBChatStore`) and a long-term block (`MemtraceMemoryBlock`): a fact from the first turn has left the
short-term window by the last turn, and memtrace's ranked search brings it back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import LLM, MockFunctionCallingLLM
from llama_index.core.memory import ChatMemoryBuffer, Memory

from memtrace import Memtrace
from memtrace_llamaindex import MemtraceChatStore, MemtraceDBChatStore, MemtraceMemoryBlock


def offline_reply(messages: Sequence[ChatMessage], **_: Any) -> ChatMessage:
    """A scripted model: it says what it was shown, so you can see what memory put into its context."""
    history = [m for m in messages if m.role != MessageRole.SYSTEM]
    recalled = [
        line.strip()
        for m in messages
        if m.role == MessageRole.SYSTEM
        for line in (m.content or "").splitlines()
        if line.strip().startswith("- [")
    ]
    text = f"(offline model) I see {len(history)} message(s) of history"
    if recalled:
        text += "; memtrace recalled: " + " | ".join(recalled)
    return ChatMessage(role=MessageRole.ASSISTANT, content=text)


def choose_llm() -> LLM:
    """A real OpenAI model when OPENAI_API_KEY is set and its integration is installed; else the scripted one."""
    if os.environ.get("OPENAI_API_KEY"):
        try:
            from llama_index.llms.openai import OpenAI  # type: ignore[import-not-found]
        except ImportError:
            print(
                "OPENAI_API_KEY is set, but llama-index-llms-openai is not installed "
                "(`uv pip install llama-index-llms-openai`); running with the offline model.\n"
            )
        else:
            print("Using OpenAI gpt-4.1-mini.\n")
            return OpenAI(model="gpt-4.1-mini")
    return MockFunctionCallingLLM(response_generator=offline_reply)


def open_client(data_dir: str | None) -> Memtrace:
    """A server when MEMTRACE_URL and MEMTRACE_API_KEY are set; else embedded in `data_dir`
    (default $MEMTRACE_DATA_DIR, else ./data)."""
    if data_dir is not None and not os.environ.get("MEMTRACE_URL"):
        return Memtrace.open(data_dir)
    return Memtrace.from_env()


def chat_that_survives_restarts(data_dir: str | None, llm: LLM, run_id: str) -> None:
    print("== Part 1: ChatMemoryBuffer on MemtraceChatStore ==")
    key = f"ann-{run_id}@example.com"  # any key works: e-mails, UUIDs
    with open_client(data_dir) as client:
        memory = ChatMemoryBuffer.from_defaults(
            chat_store=MemtraceChatStore(client), chat_store_key=key, token_limit=3000
        )
        engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
        for turn in ["Hi, I am Ann.", "I live in Lisbon.", "Where do I live?"]:
            print(f"user: {turn}\nassistant: {engine.chat(turn)}")

    with open_client(data_dir) as fresh:  # as a restarted process would
        history = MemtraceChatStore(fresh).get_messages(key)
        print(f"\nA fresh client reads {len(history)} messages back for {key}:")
        for m in history:
            print(f"  {m.role.value}: {m.content}")


async def long_term_memory(data_dir: str | None, llm: LLM, run_id: str) -> None:
    print("\n== Part 2: Memory with MemtraceDBChatStore and MemtraceMemoryBlock ==")
    agent = f"example_{run_id}"
    with open_client(data_dir) as client:
        memory = Memory.from_defaults(
            session_id=f"ann-{run_id}",
            chat_store=MemtraceDBChatStore(client, agent_id=agent),
            memory_blocks=[MemtraceMemoryBlock(client, agent_id=agent, k=3)],
            token_limit=60,  # tiny on purpose: early turns leave the short-term window quickly
            token_flush_size=20,
        )
        engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
        turns = [
            "My favourite colour is teal.",
            "Please book a table for two on Friday evening.",
            "Also check the train times to Porto for Saturday morning.",
            "Remind me to water the plants before we leave.",
            "Which museums are open late on Sundays?",
            "What is my favourite colour again?",
        ]
        for turn in turns:
            print(f"user: {turn}\nassistant: {await engine.achat(turn)}")
        total = await memory.sql_store.count_messages(memory.session_id, status=None)
        active = await memory.sql_store.count_messages(memory.session_id)
        print(
            f"\nShort-term queue: {active} of {total} messages active; the rest were archived into memtrace."
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", help="embedded memtrace data directory (default: $MEMTRACE_DATA_DIR or ./data)"
    )
    args = parser.parse_args()
    llm = choose_llm()
    run_id = uuid.uuid4().hex[:8]  # each run its own conversation, so reruns on one directory stay readable
    chat_that_survives_restarts(args.data_dir, llm, run_id)
    asyncio.run(long_term_memory(args.data_dir, llm, run_id))


if __name__ == "__main__":
    main()
