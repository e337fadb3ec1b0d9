"""Helpers shared by the LlamaIndex adapter tests (a plain module, importable from every test file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms import MockFunctionCallingLLM


class ScriptedLLM(MockFunctionCallingLLM):
    """An offline chat model that answers "reply <n>" and keeps every prompt it was given, so a test can
    assert what the model saw (history and memory blocks included)."""

    _prompts: list[list[ChatMessage]] = PrivateAttr(default_factory=list)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.response_generator = self._respond

    def _respond(self, messages: Sequence[ChatMessage], **_: Any) -> ChatMessage:
        self._prompts.append([m.model_copy(deep=True) for m in messages])
        return ChatMessage(role=MessageRole.ASSISTANT, content=f"reply {len(self._prompts)}")

    @property
    def prompts(self) -> list[list[ChatMessage]]:
        """Every prompt, oldest first; each the list of messages sent to the model."""
        return self._prompts


def dump(messages: Sequence[ChatMessage] | ChatMessage | None) -> Any:
    """A message or a list of them in plain JSON form, so results of different stores compare with ==."""
    if messages is None:
        return None
    if isinstance(messages, ChatMessage):
        return messages.model_dump(mode="json")
    return [m.model_dump(mode="json") for m in messages]


def prompt_text(messages: Sequence[ChatMessage]) -> str:
    """All text the model was shown, for asserting what reached its context."""
    return "\n".join(m.content or "" for m in messages)
