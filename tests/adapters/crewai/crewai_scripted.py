"""A scripted offline CrewAI LLM and a deterministic embedder, for real Agent/Task/Crew runs in tests."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction
from crewai.llms.base_llm import BaseLLM
from crewai.rag.embeddings.providers.custom.embedding_callable import CustomEmbeddingFunction
from crewai.utilities.i18n import I18N_DEFAULT
from pydantic import Field

from memtrace import Memtrace

ClientFactory = Callable[[], Memtrace]
"""Makes a fresh memtrace client on the test's data (embedded directory or live server)."""

_CURRENT_TASK = re.compile(r"Current Task: (?P<task>.*?)(?:\n|$)")

MEMORY_PROMPTS = ("extract_memories_system", "save_system", "query_system", "consolidation_system")
"""CrewAI's memory-analysis system prompts: a call with one of these is the memory asking an LLM."""

Reply = str | Callable[[str], str]


def memory_prompt_kind(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return None
    system = messages[0].get("content") if isinstance(messages[0], dict) else None
    for kind in MEMORY_PROMPTS:
        if system == I18N_DEFAULT.memory(kind):
            return kind
    return None


class ScriptedLLM(BaseLLM):
    """Answers each agent turn from a script keyed by the task description.

    `turns[task]` is a list of replies, one per LLM call of that task (a reply may be a function of the
    prompt). Every call is logged in `calls` as ``(kind, prompt)``: ``kind`` is ``"agent"`` or the memory
    prompt's name. Memory-analysis prompts are answered from `memory_replies` when given, else recorded and
    answered with an error, so a test can assert they never happen.
    """

    turns: dict[str, list[Reply]] = Field(default_factory=dict)
    memory_replies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    calls: list[tuple[str, str]] = Field(default_factory=list)
    positions: dict[str, int] = Field(default_factory=dict)

    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> str:
        prompt = (
            messages if isinstance(messages, str) else "\n".join(str(m.get("content", "")) for m in messages)
        )
        kind = memory_prompt_kind(messages)
        if kind is not None:
            self.calls.append((kind, prompt))
            if kind in self.memory_replies:
                return json.dumps(self.memory_replies[kind])
            raise RuntimeError(f"unexpected memory LLM call: {kind}")
        self.calls.append(("agent", prompt))
        found = _CURRENT_TASK.search(prompt)
        task = found["task"].strip() if found else ""
        script = self.turns.get(task)
        if script is None:
            raise AssertionError(f"no script for task {task!r}")
        position = self.positions.get(task, 0)
        self.positions[task] = position + 1
        reply = script[min(position, len(script) - 1)]
        return reply(prompt) if callable(reply) else reply

    def agent_prompts(self) -> list[str]:
        return [prompt for kind, prompt in self.calls if kind == "agent"]

    def memory_calls(self) -> list[str]:
        return [kind for kind, _ in self.calls if kind != "agent"]


def final(answer: str) -> str:
    return f"Thought: I now know the final answer\nFinal Answer: {answer}"


def action(tool: str, args: dict[str, Any]) -> str:
    return f"Thought: I should use a tool.\nAction: {tool}\nAction Input: {json.dumps(args)}"


def hash_embed(texts: list[str], dims: int = 64) -> list[list[float]]:
    """Bag of hashed words, L2-normalised: same text, same vector; shared words, higher cosine."""
    vectors = []
    for text in texts:
        v = [0.0] * dims
        for token in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(token.encode()).hexdigest(), 16) % dims] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        vectors.append([x / norm for x in v])
    return vectors


class HashEmbedding(CustomEmbeddingFunction, EmbeddingFunction[Documents]):
    """`hash_embed` as a CrewAI custom embedding provider (``{"provider": "custom", ...}``). Both bases are
    needed: `Crew` validates against chromadb's protocol, the custom provider against CrewAI's."""

    # chromadb's protocol says numpy arrays; it accepts (and converts) plain lists of floats, which is all we need.
    def __call__(self, input: list[str]) -> list[list[float]]:  # type: ignore[override]
        return hash_embed(list(input))
