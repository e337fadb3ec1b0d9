"""A real `FunctionAgent` with tools keeps its memory in memtrace: tool calls and tool results are stored and
come back exactly, so the next run continues the same conversation. Checked against LlamaIndex's own stores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms import MockFunctionCallingLLM
from llama_index.core.memory import ChatMemoryBuffer, Memory
from llama_index.core.storage.chat_store import SimpleChatStore
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore
from llamaindex_helpers import dump

from memtrace import AsyncMemtrace, Memtrace
from memtrace_llamaindex import MemtraceChatStore, MemtraceDBChatStore


def lookup_order(order_id: int) -> str:
    """Look up the shipping status of an order."""
    return f"order {order_id}: shipped"


def scripted_agent_model() -> MockFunctionCallingLLM:
    """Calls `lookup_order` for a new question, then answers from the tool result."""
    calls = 0

    def respond(messages: Sequence[ChatMessage], **_: Any) -> ChatMessage:
        nonlocal calls
        last = messages[-1]
        if last.role == MessageRole.TOOL:
            return ChatMessage(role=MessageRole.ASSISTANT, content=f"Done: {last.content}.")
        calls += 1
        order_id = int("".join(ch for ch in (last.content or "") if ch.isdigit()) or 0)
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[
                ToolCallBlock(
                    tool_call_id=f"call_{calls}", tool_name="lookup_order", tool_kwargs={"order_id": order_id}
                )
            ],
        )

    return MockFunctionCallingLLM(response_generator=respond, is_chat_model=True)


async def two_runs(memory: Any) -> tuple[list[str], Any]:
    agent = FunctionAgent(tools=[lookup_order], llm=scripted_agent_model(), system_prompt="You track orders.")
    answers = [str(await agent.run("Where is order 7?", memory=memory))]
    answers.append(str(await agent.run("And order 12?", memory=memory)))
    return answers, dump(await memory.aget_all())


async def test_chat_memory_buffer_agent_history_matches_simple_chat_store(
    client: Memtrace, data_dir: Path
) -> None:
    expected = await two_runs(
        ChatMemoryBuffer.from_defaults(chat_store=SimpleChatStore(), chat_store_key="u1")
    )
    got = await two_runs(
        ChatMemoryBuffer.from_defaults(chat_store=MemtraceChatStore(client), chat_store_key="u1")
    )
    assert got == expected
    answers, history = got
    assert answers == ["Done: order 7: shipped.", "Done: order 12: shipped."]
    roles = [m["role"] for m in history]
    assert roles == ["user", "assistant", "tool", "assistant"] * 2
    with Memtrace.open(data_dir) as fresh:  # the tool call survives as a tool call
        (call,) = MemtraceChatStore(fresh).get_messages("u1")[1].blocks
        assert isinstance(call, ToolCallBlock) and call.tool_kwargs == {"order_id": 7}


async def test_memory_agent_history_matches_sqlalchemy_chat_store(
    aclient: AsyncMemtrace, tmp_path: Path
) -> None:
    peer = SQLAlchemyChatStore(
        table_name="llama_index_memory", async_database_uri=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    )
    try:
        expected = await two_runs(Memory.from_defaults(session_id="u1", chat_store=peer))
    finally:
        if peer._async_engine is not None:
            await peer._async_engine.dispose()
    got = await two_runs(Memory.from_defaults(session_id="u1", chat_store=MemtraceDBChatStore(aclient)))
    assert got == expected
    assert got[0] == ["Done: order 7: shipped.", "Done: order 12: shipped."]
