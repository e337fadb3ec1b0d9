"""A scripted, offline `Model` for driving the real Agents SDK Runner in tests (spec frameworks §2.2.3).

Each turn is either a fixed list of output items or a function of the call (so a turn can answer from the
tool output it was just given). Every call is recorded: the system instructions and the exact input items
the Runner sent, which is how tests see what a session replayed.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.items import ModelResponse, TResponseInputItem, TResponseOutputItem
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
)
from openai.types.responses.response_reasoning_item import Summary

_ids = itertools.count(1000)  # ids are unique unless a test pins them (to compare two runs)


@dataclass
class ModelCall:
    system_instructions: str | None
    input: list[TResponseInputItem]
    tool_names: list[str] = field(default_factory=list)

    def tool_outputs(self) -> list[str]:
        """The outputs of function calls in this call's input, oldest first."""
        return [str(i["output"]) for i in self.input if i.get("type") == "function_call_output"]


Turn = list[TResponseOutputItem] | Callable[[ModelCall], list[TResponseOutputItem]]


class ScriptedModel(Model):
    def __init__(self, turns: list[Turn]) -> None:
        self.turns = list(turns)
        self.calls: list[ModelCall] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: Any,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
        **kwargs: Any,
    ) -> ModelResponse:
        items = [{"role": "user", "content": input}] if isinstance(input, str) else copy.deepcopy(list(input))
        call = ModelCall(system_instructions, items, [getattr(t, "name", "") for t in tools])
        self.calls.append(call)
        if not self.turns:
            raise AssertionError("the model was called more often than scripted")
        turn = self.turns.pop(0)
        output = turn(call) if callable(turn) else turn
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # pragma: no cover
        raise NotImplementedError("scripted model does not stream")
        yield


def tool_call(name: str, args: dict[str, Any], n: int | None = None) -> ResponseFunctionToolCall:
    n = next(_ids) if n is None else n
    return ResponseFunctionToolCall(
        type="function_call",
        id=f"fc_{n}",
        call_id=f"call_{n}",
        name=name,
        arguments=json.dumps(args),
        status="completed",
    )


def message(text: str, n: int | None = None) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        type="message",
        id=f"msg_{next(_ids) if n is None else n}",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def reasoning(summary: str, n: int | None = None) -> ResponseReasoningItem:
    return ResponseReasoningItem(
        type="reasoning",
        id=f"rs_{next(_ids) if n is None else n}",
        summary=[Summary(type="summary_text", text=summary)],
    )
