"""How a LlamaIndex `ChatMessage` becomes a memtrace memory and back.

The whole message (role, content blocks, additional_kwargs) is kept in ``metadata["message"]`` as
``ChatMessage.model_dump(mode="json")``, the same encoding LlamaIndex's own `SQLAlchemyChatStore` uses, so it
round-trips exactly. The plain text goes into ``content`` because that is what memtrace's keyword search ranks.
"""

from __future__ import annotations

import uuid
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock

from memtrace import AddMemoryRequest, Memory

MESSAGE_FIELD = "message"
"""The metadata field holding the serialised `ChatMessage`."""


def message_text(message: ChatMessage) -> str:
    """The message's text blocks joined, or "" when it has none (e.g. an assistant turn that only calls tools)."""
    return message.content or ""


def searchable_content(message: ChatMessage) -> str:
    """What goes into a memory's ``content``. memtrace requires non-empty content, so a message without text
    (tool calls only, an image) is described by its role and blocks instead, tool names included so that a
    search for the tool finds the call."""
    text = message_text(message)
    if text.strip():
        return text
    parts = []
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            parts.append(f"tool_call {block.tool_name}")
        elif not isinstance(block, TextBlock):
            parts.append(block.block_type)
    return f"[{message.role.value} message: {', '.join(parts) or 'empty'}]"


def message_request(
    message: ChatMessage,
    *,
    agent_id: str,
    session_id: str,
    event_type: str,
    tags: list[str] | None = None,
    time: Any = None,
) -> AddMemoryRequest:
    """One chat message as a session memory.

    Chat messages legitimately repeat ("ok", "thanks"), so each gets its own random dedup key: memtrace's
    content-based dedup must never drop a turn of a conversation.
    """
    return AddMemoryRequest(
        agent_id=agent_id,
        session_id=session_id,
        content=searchable_content(message),
        memory_type="session",
        event_type=event_type,
        metadata={MESSAGE_FIELD: message.model_dump(mode="json")},
        tags=tags,
        dedup_key=uuid.uuid4().hex,
        time=time,
    )


def memory_message(memory: Memory) -> ChatMessage:
    """The `ChatMessage` a memory holds. A memory written by someone else without the serialised message
    (same session and event type, but not by this adapter) is read as a user message with its content."""
    data = (memory.metadata or {}).get(MESSAGE_FIELD)
    if isinstance(data, dict):
        return ChatMessage.model_validate(data)
    return ChatMessage(role=MessageRole.USER, content=memory.content)
