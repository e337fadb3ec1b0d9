"""Scripted offline chat models for driving real LangChain/LangGraph machinery in tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class ToolCallingFake(GenericFakeChatModel):
    """Plays back scripted AI messages (tool calls included). `create_agent` binds tools to its model, which
    `BaseChatModel` does not implement, so binding is a no-op here."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:
        return self


class EchoChatModel(BaseChatModel):
    """Answers with what it was given: the number of messages and the text of the last one. A reply thus
    proves which history the model saw."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = f"saw {len(messages)} messages; last: {messages[-1].text}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


def scripted(*messages: AIMessage) -> ToolCallingFake:
    return ToolCallingFake(messages=iter(messages))
