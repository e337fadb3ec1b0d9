"""How a LangChain message becomes a memtrace memory and back.

The whole message, serialised by LangChain's own `message_to_dict`, goes into ``metadata["message"]``, so it
round-trips exactly (type, content blocks, tool calls, tool_call_id, ids, additional_kwargs, usage...). The
plain text goes into ``content``, which is what keyword search ranks and what session context shows.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from memtrace import AddMemoryRequest, Memory, ValidationError

MESSAGE_KEY = "message"
"""The metadata key that holds the serialised message."""

MEMORY_TYPE = "session"

MAX_CONTENT_CHARS = 32_000
"""Content is only the searchable copy (the message itself is in metadata), so very long text is cut here."""

_EVENT_TYPES = {
    "human": "human_message",
    "ai": "ai_message",
    "tool": "tool_message",
    "system": "system_message",
    "chat": "chat_message",
    "function": "function_message",
    "remove": "remove_message",
    "AIMessageChunk": "ai_message_chunk",
    "HumanMessageChunk": "human_message_chunk",
    "ToolMessageChunk": "tool_message_chunk",
    "SystemMessageChunk": "system_message_chunk",
    "ChatMessageChunk": "chat_message_chunk",
    "FunctionMessageChunk": "function_message_chunk",
}
_NOT_TYPE_CHARS = re.compile(r"[^a-zA-Z0-9_]+")


def event_type_for(message: BaseMessage) -> str:
    """``human_message``, ``ai_message``, ``tool_message``, ``system_message``...; a custom message type is
    turned into a valid event type (letters, digits, ``_``)."""
    known = _EVENT_TYPES.get(message.type)
    if known is not None:
        return known
    name = _NOT_TYPE_CHARS.sub("_", message.type).strip("_").lower() or "other"
    if not name[0].isalpha():
        name = "m_" + name
    return (name if name.endswith("message") else name + "_message")[:64]


def content_for(message: BaseMessage) -> str:
    """The searchable text of a message: its text, plus its tool calls (an AI turn that only calls tools has
    no text). Never empty, because memtrace requires content."""
    parts: list[str] = [message.text]
    for tool_call in getattr(message, "tool_calls", None) or []:
        args = json.dumps(tool_call.get("args", {}), ensure_ascii=False, sort_keys=True)
        parts.append(f"tool call {tool_call.get('name')}({args})")
    text = "\n".join(p for p in parts if p).replace("\x00", "")
    if not text.strip():
        text = f"({message.type} message without text)"
    return text[:MAX_CONTENT_CHARS]


def memory_request(
    message: BaseMessage, *, agent_id: str, session_id: str, index: int = 0
) -> AddMemoryRequest:
    """The memory that stores `message` (`index`: its position in the call, for error messages).

    A message that JSON cannot carry exactly (NaN, an arbitrary object in additional_kwargs) is refused here,
    with a `ValidationError`, the same way embedded and remote: a round trip must give back what was added.
    Chat messages legitimately repeat ("ok"), so each gets its own dedup key and memtrace's duplicate check
    never drops one.
    """
    if not isinstance(message, BaseMessage):
        raise ValidationError(
            f"messages[{index}]: expected a LangChain BaseMessage, got {type(message).__name__}",
            f"messages[{index}]",
        )
    data = message_to_dict(message)
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"messages[{index}] ({message.type}) cannot be stored exactly as JSON: {exc}",
            f"messages[{index}]",
        ) from None
    return AddMemoryRequest(
        agent_id=agent_id,
        session_id=session_id,
        memory_type=MEMORY_TYPE,
        event_type=event_type_for(message),
        content=content_for(message),
        metadata={MESSAGE_KEY: data},
        dedup_key=os.urandom(16).hex(),
    )


def message_from_memory(memory: Memory) -> BaseMessage | None:
    """The message a memory stores, or None for a memory that is not a stored message (other writers may use
    the same session)."""
    data: Any = (memory.metadata or {}).get(MESSAGE_KEY)
    if not isinstance(data, dict) or "type" not in data or "data" not in data:
        return None
    return messages_from_dict([data])[0]
