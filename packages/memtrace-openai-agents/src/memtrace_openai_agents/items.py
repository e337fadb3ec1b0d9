"""How one Responses-API input item becomes one memtrace memory, and back.

The item itself is kept verbatim in ``metadata["item"]`` (metadata round-trips exactly), so reading it back
gives the same dict the Runner wrote. ``content`` holds the item's plain text, because that is what keyword
search ranks and what session context renders. A tag marks the memory as a session item, so memories that
tools write into the same memtrace session never leak into the conversation history (and are never cleared
with it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from agents.items import TResponseInputItem

from memtrace import AddMemoryRequest, Memory

SESSION_ITEM_TAG = "openai-agents.item"
"""Tag on every memory that holds a session item; get_items/pop_item/clear_session filter by it."""

ITEM_METADATA_KEY = "item"
"""Key in ``Memory.metadata`` under which the verbatim item is stored."""

MAX_CONTENT_CHARS = 8_000
"""Searchable text is cut here; the full item is always in metadata. A huge tool output would otherwise be
stored twice and swamp keyword ranking."""

_EVENT_TYPE_RE = re.compile(r"[^a-zA-Z0-9_]+")


def event_type_for(item: Mapping[str, Any]) -> str:
    """A readable event type: ``user_message``, ``assistant_message``, ``function_call``, ``reasoning``…"""
    item_type = item.get("type")
    role = item.get("role")
    if (item_type in (None, "message")) and isinstance(role, str):
        raw = f"{role}_message"
    elif isinstance(item_type, str):
        raw = item_type
    else:
        raw = "item"
    cleaned = _EVENT_TYPE_RE.sub("_", raw).strip("_")[:64]
    # Event types must start with a letter (spec §1.4); anything odd still gets a valid, honest name.
    return cleaned if cleaned[:1].isalpha() else "item"


def _parts_text(parts: Any) -> str:
    """Text of a content list: input_text/output_text/refusal parts, and a marker for non-text parts."""
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return ""
    texts: list[str] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping):
            for key in ("text", "refusal", "transcript"):
                value = part.get(key)
                if isinstance(value, str) and value:
                    texts.append(value)
                    break
            else:
                part_type = part.get("type")
                if isinstance(part_type, str):
                    texts.append(f"[{part_type}]")
    return "\n".join(texts)


def text_of(item: Mapping[str, Any]) -> str:
    """The plain text a person would read for this item; never empty, never containing NUL."""
    item_type = item.get("type")
    text = ""
    if "content" in item and (item_type in (None, "message") or "role" in item):
        text = _parts_text(item.get("content"))
    elif item_type == "function_call":
        text = f"{item.get('name', '')}({item.get('arguments', '')})"
    elif isinstance(item_type, str) and item_type.endswith("_output"):
        text = _parts_text(item.get("output"))
    elif item_type == "reasoning":
        text = _parts_text(item.get("summary")) or _parts_text(item.get("content"))
    if not text.strip():
        # Tool calls of other kinds (computer, MCP, shell, …): their JSON is the most honest text there is.
        text = f"[{item_type or 'item'}] " + json.dumps(item, ensure_ascii=False, default=str)
    text = text.replace("\x00", "")
    if len(text) > MAX_CONTENT_CHARS:
        text = text[: MAX_CONTENT_CHARS - 1] + "…"
    return text


def memory_request_for(
    item: TResponseInputItem, *, index: int, agent_id: str, session_id: str
) -> AddMemoryRequest:
    """The memory that stores ``item``. Raises TypeError for an item that cannot round-trip as JSON."""
    if not isinstance(item, Mapping):
        raise TypeError(
            f"session item {index} must be a dict (a Responses-API input item), got {type(item).__name__}"
        )
    try:
        # Checked here, before anything is written, so a bad item in a batch leaves the session untouched.
        json.dumps(item, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"session item {index} is not JSON-serialisable: {exc}") from None
    return AddMemoryRequest(
        agent_id=agent_id,
        session_id=session_id,
        content=text_of(item),
        memory_type="session",
        event_type=event_type_for(item),
        metadata={ITEM_METADATA_KEY: dict(item)},
        tags=[SESSION_ITEM_TAG],
        # Conversation turns repeat legitimately ("ok", "thanks"); a fresh key per item keeps every one.
        dedup_key=os.urandom(16).hex(),
    )


def item_from_memory(memory: Memory) -> TResponseInputItem | None:
    """The verbatim item a memory holds, or None when the memory is not a well-formed session item."""
    metadata = memory.metadata
    if not isinstance(metadata, dict):
        return None
    item = metadata.get(ITEM_METADATA_KEY)
    return item if isinstance(item, dict) else None  # type: ignore[return-value]
