"""How a LangChain message becomes a memtrace memory and back.

The whole message, serialised by LangChain's own `message_to_dict`, goes into ``metadata["message"]``, so it
round-trips exactly (type, content blocks, tool calls, tool_call_id, ids, additional_kwargs, usage...). The
plain text goes into ``content``, which is what keyword search ranks and what session context shows.

memtrace bounds metadata (`memtrace.limits.MAX_METADATA_BYTES`). A message whose text alone makes it
larger keeps that text in ``content``, whole, and the metadata copy leaves it out (``"content_in": "content"``);
reading puts it back. Only a message that is too large even without its text is refused.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from memtrace import AddMemoryRequest, Memory, ValidationError
from memtrace.limits import MAX_METADATA_BYTES

MESSAGE_KEY = "message"
"""The metadata key that holds the serialised message."""

MEMORY_TYPE = "session"

CONTENT_IN = "content_in"
"""Metadata key saying the message's text is the memory's ``content`` (a message too large for metadata)."""

_METADATA_ROOM = MAX_METADATA_BYTES - 1024  # the wrapper keys and JSON spacing, with room to spare

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
        encoded = json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"messages[{index}] ({message.type}) cannot be stored exactly as JSON: {exc}",
            f"messages[{index}]",
        ) from None
    content = content_for(message)
    metadata: dict[str, Any] = {MESSAGE_KEY: data}
    if len(encoded.encode("utf-8")) > _METADATA_ROOM:
        text = message.content
        without_text = {**data, "data": {**data["data"], "content": ""}}
        small = json.dumps(without_text, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if not isinstance(text, str) or "\x00" in text or len(small) > _METADATA_ROOM:
            raise ValidationError(
                f"messages[{index}] ({message.type}) is too large to store: {len(small)} bytes of JSON besides its "
                f"text, at most {_METADATA_ROOM} are allowed",
                f"messages[{index}]",
            )
        content, metadata = text, {MESSAGE_KEY: without_text, CONTENT_IN: "content"}
    return AddMemoryRequest(
        agent_id=agent_id,
        session_id=session_id,
        memory_type=MEMORY_TYPE,
        event_type=event_type_for(message),
        content=content,
        metadata=metadata,
        dedup_key=os.urandom(16).hex(),
    )


def message_from_memory(memory: Memory) -> BaseMessage | None:
    """The message a memory stores, or None for a memory that is not a stored message (other writers may use
    the same session)."""
    metadata = memory.metadata or {}
    data: Any = metadata.get(MESSAGE_KEY)
    if not isinstance(data, dict) or "type" not in data or not isinstance(data.get("data"), dict):
        return None
    if metadata.get(CONTENT_IN) == "content":
        data = {**data, "data": {**data["data"], "content": memory.content}}
    return messages_from_dict([data])[0]
