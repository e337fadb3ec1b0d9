"""Sample chat messages that exercise everything a `ChatMessage` can carry."""

from __future__ import annotations

from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock, ToolCallBlock


def conversation() -> list[ChatMessage]:
    """A short conversation: repeated text, unicode, tool calls, a tool result, an image, no-text turns."""
    return [
        ChatMessage(role=MessageRole.SYSTEM, content="You are terse."),
        ChatMessage(role=MessageRole.USER, content="ok"),
        ChatMessage(role=MessageRole.ASSISTANT, content="ok"),  # chat repeats itself; nothing may be deduped
        ChatMessage(role=MessageRole.USER, content="Wie spät ist es in 東京? 🕰️"),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[
                ToolCallBlock(tool_call_id="call_1", tool_name="clock", tool_kwargs={"tz": "Asia/Tokyo"})
            ],
            additional_kwargs={"tool_calls": [{"id": "call_1", "type": "function"}], "latency_ms": 12.5},
        ),
        ChatMessage(
            role=MessageRole.TOOL,
            content="21:04",
            additional_kwargs={"tool_call_id": "call_1", "name": "clock"},
        ),
        ChatMessage(
            role=MessageRole.USER,
            blocks=[
                TextBlock(text="and this?"),
                ImageBlock(image=b"\x89PNG\r\n fake", image_mimetype="image/png"),
            ],
        ),
        ChatMessage(role=MessageRole.ASSISTANT, content=""),
        ChatMessage(role=MessageRole.USER, content="ok"),
    ]
