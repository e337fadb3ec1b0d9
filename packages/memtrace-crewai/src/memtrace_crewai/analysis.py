"""What CrewAI asks an LLM about memories, answered cheaply and deterministically by default.

CrewAI's `Memory` calls an LLM to split task output into facts (`extract_memories`), to choose a scope,
categories and importance for each new memory, and to distill long recall queries. `MemtraceMemory` asks a
`MemoryAnalyzer` instead:

- `HeuristicAnalyzer` (the default) answers from the text alone: no network, no key, same answer every time;
- `LLMAnalyzer(llm)` asks your CrewAI LLM with CrewAI's own prompts, for the same results CrewAI would get.

Write your own by implementing the three methods of `MemoryAnalyzer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from crewai.llms.base_llm import BaseLLM


@dataclass(frozen=True)
class SaveAnalysis:
    """Where and how to file one memory. `scope` is relative to the memory's root scope."""

    scope: str = "/"
    categories: list[str] = field(default_factory=list)
    importance: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreView:
    """What an analyzer may look at while filing a memory; computed only if asked for (each is a scan)."""

    existing_scopes: Callable[[], list[str]]
    existing_categories: Callable[[], list[str]]


@runtime_checkable
class MemoryAnalyzer(Protocol):
    """Decides what to remember from raw output, how to file it, and how to search for a query."""

    def extract_memories(self, content: str) -> list[str]:
        """Split raw content (e.g. CrewAI's "Task: ... Result: ..." dump) into memories worth keeping."""
        ...

    def analyze(self, content: str, store: StoreView) -> SaveAnalysis:
        """Scope, categories, importance and extra metadata for one memory."""
        ...

    def recall_queries(self, query: str) -> list[str]:
        """The searches to run for a recall query (one or more)."""
        ...


# CrewAI's executor saves each finished task as this dump (agents/agent_builder/base_agent_executor.py).
_TASK_DUMP = re.compile(
    r"\ATask:\s*(?P<task>.*?)\nAgent:\s*(?P<agent>.*?)\nExpected result:\s*(?P<expected>.*?)\nResult:\s*(?P<result>.*)\Z",
    re.DOTALL,
)

# A ReAct turn ends in "Final Answer: ..."; what precedes it is the model's scratchpad, not a result.
_FINAL_ANSWER = re.compile(r"(?:^|\n)\s*Final Answer:\s*", re.IGNORECASE)

_IMPORTANT = re.compile(
    r"\b(decided|decision|must|never|always|important|critical|deadline|required|requirement|prefers?|"
    r"agreed|policy|constraint)\b",
    re.IGNORECASE,
)


class HeuristicAnalyzer:
    """The default analyzer: deterministic rules, no LLM.

    - A finished task becomes one memory, ``Task: <description>`` + ``Result: <final answer>``, so a later
      task on the same subject finds it by keywords; other content is kept whole (whitespace trimmed).
    - Importance is `default_importance`, or `important_importance` when the text states a decision,
      requirement, preference or constraint (words such as "decided", "must", "never", "prefers").
    - Scope is the memory's root (CrewAI still files crew agents under ``<root>/agent/<role>``); categories
      are only what the caller gives.
    - A recall query is searched as written: memtrace's keyword search already weighs every word.
    """

    def __init__(self, default_importance: float = 0.5, important_importance: float = 0.8) -> None:
        for name, value in (
            ("default_importance", default_importance),
            ("important_importance", important_importance),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        self.default_importance = default_importance
        self.important_importance = important_importance

    def extract_memories(self, content: str) -> list[str]:
        text = (content or "").strip()
        if not text:
            return []
        dump = _TASK_DUMP.match(text)
        if dump is None:
            return [text]
        task = " ".join(dump["task"].split())
        result = _FINAL_ANSWER.split(dump["result"])[-1].strip()
        if not result:
            return []
        return [f"Task: {task}\nResult: {result}" if task else result]

    def analyze(self, content: str, store: StoreView) -> SaveAnalysis:
        important = _IMPORTANT.search(content) is not None
        return SaveAnalysis(importance=self.important_importance if important else self.default_importance)

    def recall_queries(self, query: str) -> list[str]:
        return [query] if query.strip() else []


class LLMAnalyzer:
    """Analysis by an LLM, with CrewAI's own prompts (`crewai.memory.analyze`).

    Args:
        llm: a CrewAI `BaseLLM`, or a model name for `crewai.LLM` (built on first use).
        query_analysis_threshold: queries shorter than this are searched as written, as in CrewAI.

    CrewAI's helpers fall back to safe defaults when the LLM fails, so a flaky model never loses a memory.
    """

    def __init__(self, llm: BaseLLM | str, *, query_analysis_threshold: int = 200) -> None:
        self._llm_spec = llm
        self._llm: BaseLLM | None = llm if isinstance(llm, BaseLLM) else None
        self.query_analysis_threshold = query_analysis_threshold

    @property
    def llm(self) -> BaseLLM:
        if self._llm is None:
            from crewai.llm import LLM

            self._llm = LLM(model=str(self._llm_spec))
        return self._llm

    def extract_memories(self, content: str) -> list[str]:
        from crewai.memory.analyze import extract_memories_from_content

        return extract_memories_from_content(content, self.llm)

    def analyze(self, content: str, store: StoreView) -> SaveAnalysis:
        from crewai.memory.analyze import analyze_for_save

        analysis = analyze_for_save(content, store.existing_scopes(), store.existing_categories(), self.llm)
        extracted = analysis.extracted_metadata.model_dump() if analysis.extracted_metadata else {}
        return SaveAnalysis(
            scope=analysis.suggested_scope or "/",
            categories=list(analysis.categories),
            importance=analysis.importance,
            metadata={k: v for k, v in extracted.items() if v},
        )

    def recall_queries(self, query: str) -> list[str]:
        if not query.strip():
            return []
        if len(query) < self.query_analysis_threshold:
            return [query]
        from crewai.memory.analyze import analyze_query

        analysis = analyze_query(query, [], None, self.llm)
        return [q for q in analysis.recall_queries if q.strip()] or [query]
