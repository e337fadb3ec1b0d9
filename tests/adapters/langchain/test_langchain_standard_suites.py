"""LangChain's own standard suites (the `langchain-tests` package), configured as an integration author would:
`RetrieversIntegrationTests` for `MemtraceRetriever`, `ToolsUnitTests` and `ToolsIntegrationTests` for each of
`memtrace_tools`. Every test runs on a fresh embedded memtrace data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from memtrace import AddMemoryRequest, Memtrace
from memtrace_langchain import MemtraceRetriever, memtrace_tools

AGENT = "standard-suite"


class _OnAFreshDataDirectory:
    """Opens the client every test's retriever or tool uses (the suites build those from class properties)."""

    client: Memtrace

    @pytest.fixture(autouse=True)
    def _client(self, tmp_path: Path) -> Iterator[None]:
        with Memtrace.open(tmp_path / "memtrace-data") as client:
            self.client = client
            client.add_memories(
                [
                    AddMemoryRequest(
                        agent_id=AGENT, content=f"dark mode note {i}: the user prefers dark mode"
                    )
                    for i in range(5)
                ]
            )
            yield


class TestMemtraceRetrieverStandard(_OnAFreshDataDirectory, RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return MemtraceRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"client": self.client, "agent_id": AGENT}

    @property
    def retriever_query_example(self) -> str:
        return "dark mode"


def _tool(client: Memtrace, name: str) -> BaseTool:
    (tool,) = [t for t in memtrace_tools(client, AGENT, session_id="standard-suite") if t.name == name]
    return tool


TOOL_EXAMPLES: dict[str, dict[str, Any]] = {
    "memtrace_remember": {
        "content": "The user's favourite editor is Helix",
        "tags": ["prefs"],
        "importance": 0.8,
    },
    "memtrace_recall": {"since": "1h", "limit": 5},
    "memtrace_search": {"query": "dark mode", "limit": 3},
    "memtrace_decide": {"decision": "Use dark mode by default", "reasoning": "every note asks for it"},
    "memtrace_forget": {"memory_id": "mem_00000000000000000000000000"},
    "memtrace_recall_facts": {"prefix": "user:ada/", "limit": 5},
}


class _MemtraceToolStandard(_OnAFreshDataDirectory):
    tool_name: str

    @property
    def tool_constructor(self) -> BaseTool:
        return _tool(self.client, self.tool_name)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return TOOL_EXAMPLES[self.tool_name]


def _suites(name: str) -> tuple[type, type]:
    unit = type(f"TestUnit_{name}", (_MemtraceToolStandard, ToolsUnitTests), {"tool_name": name})
    integration = type(
        f"TestIntegration_{name}", (_MemtraceToolStandard, ToolsIntegrationTests), {"tool_name": name}
    )
    return unit, integration


TestRememberUnit, TestRememberIntegration = _suites("memtrace_remember")
TestRecallUnit, TestRecallIntegration = _suites("memtrace_recall")
TestSearchUnit, TestSearchIntegration = _suites("memtrace_search")
TestDecideUnit, TestDecideIntegration = _suites("memtrace_decide")
TestForgetUnit, TestForgetIntegration = _suites("memtrace_forget")
TestRecallFactsUnit, TestRecallFactsIntegration = _suites("memtrace_recall_facts")


def test_every_tool_is_covered_by_the_standard_suites(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "d") as client:
        assert {t.name for t in memtrace_tools(client, AGENT)} == set(TOOL_EXAMPLES)
