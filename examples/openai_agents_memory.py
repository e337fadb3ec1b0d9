"""OpenAI Agents SDK + memtrace: a conversation that survives a restart, and an agent with memory tools.

    uv run python examples/openai_agents_memory.py

Offline by default: a small rule-based model stands in for the LLM, so this runs with no key and no network.
With OPENAI_API_KEY set it uses a real model instead (OPENAI_MODEL, default gpt-4.1-mini).

Where the memories go is memtrace's usual choice: a server when MEMTRACE_URL and MEMTRACE_API_KEY are set,
otherwise the embedded store in MEMTRACE_DATA_DIR (default ./data). Run it twice and the second run continues
the same conversation.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, Runner, set_tracing_disabled
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from memtrace import AsyncMemtrace
from memtrace_openai_agents import MemtraceSession, memtrace_instructions, memtrace_tools

AGENT_ID = "example-assistant"
SESSION_KEY = os.environ.get("EXAMPLE_SESSION", "example-user-42")
INSTRUCTIONS = (
    "You are a helpful assistant with long-term memory. Store preferences and facts the user tells you "
    "with memtrace_remember; look things up with memtrace_search before saying you don't know."
)


class OfflineModel(Model):
    """A stand-in LLM with two habits: it remembers what the user says they prefer, and answers questions by
    searching memory. It reads only what the Runner sends it, so everything it says came through memtrace."""

    def __init__(self) -> None:
        self._calls = 0

    async def get_response(
        self, system_instructions: str | None, input: str | list[Any], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        items = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        last = items[-1]
        if last.get("type") == "function_call_output":
            output = [self._message(self._summarise(json.loads(last["output"])))]
        elif "?" in str(last.get("content")):
            output = [self._call("memtrace_search", {"query": "prefer"})]
        else:
            output = [self._call("memtrace_remember", {"content": f"User said: {last['content']}"})]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the offline model does not stream")
        yield

    @staticmethod
    def _summarise(result: dict[str, Any]) -> str:
        if "results" in result:
            found = [m["content"] for m in result["results"]]
            return "From memory: " + "; ".join(found) if found else "I have nothing about that yet."
        if result.get("duplicate"):
            return "I already knew that."
        return "Got it, I'll remember that." if "id" in result else f"Memory error: {result.get('error')}"

    def _call(self, name: str, args: dict[str, Any]) -> ResponseFunctionToolCall:
        self._calls += 1
        return ResponseFunctionToolCall(
            type="function_call",
            id=f"fc_{self._calls}",
            call_id=f"call_{os.getpid()}_{self._calls}",
            name=name,
            arguments=json.dumps(args),
            status="completed",
        )

    def _message(self, text: str) -> ResponseOutputMessage:
        self._calls += 1
        return ResponseOutputMessage(
            type="message",
            id=f"msg_{self._calls}",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )


def make_agent(client: AsyncMemtrace) -> Agent[Any]:
    if os.environ.get("OPENAI_API_KEY"):
        model: Model | str = os.environ.get("OPENAI_MODEL", "gpt-4.1-mini")
    else:
        set_tracing_disabled(True)  # no key: nothing to export traces to
        model = OfflineModel()
    return Agent(
        name="assistant",
        # Each turn starts with what memtrace knows about this session: facts and decisions (the session
        # itself replays the conversation turns).
        instructions=memtrace_instructions(INSTRUCTIONS, client, SESSION_KEY),
        tools=memtrace_tools(client, AGENT_ID, session_id=SESSION_KEY),
        model=model,
    )


async def main() -> None:
    # First "process": the user states a preference; the agent stores it.
    async with AsyncMemtrace.from_env() as client:
        session = MemtraceSession(SESSION_KEY, client=client, agent_id=AGENT_ID)
        result = await Runner.run(
            make_agent(client), "I prefer dark mode and short answers.", session=session
        )
        print(f"run 1 > {result.final_output}")

    # A restart: a brand-new client and session object with the same key continue the conversation.
    async with AsyncMemtrace.from_env() as client:
        session = MemtraceSession(SESSION_KEY, client=client, agent_id=AGENT_ID)
        result = await Runner.run(
            make_agent(client), "What do you know about my preferences?", session=session
        )
        print(f"run 2 > {result.final_output}")

        items = await session.get_items()
        kinds = [item.get("type") or f"{item.get('role')} message" for item in items]
        print(f"session {SESSION_KEY!r} holds {len(items)} items: {', '.join(kinds)}")


if __name__ == "__main__":
    asyncio.run(main())
