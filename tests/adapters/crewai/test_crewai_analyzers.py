"""Where CrewAI asks an LLM about memories: the deterministic default, and the user's own LLM plugged in."""

from __future__ import annotations

from crewai import Agent, Crew, Task
from crewai_scripted import ScriptedLLM, final

from memtrace import Memtrace
from memtrace_crewai import HeuristicAnalyzer, LLMAnalyzer, MemtraceMemory, SaveAnalysis, StoreView

DUMP = (
    "Task: Find the cheapest region\n  for the batch jobs\n"
    "Agent: Cost Analyst\n"
    "Expected result: A region\n"
    "Result: Thought: compare prices first.\nFinal Answer: eu-north-1 is 18% cheaper than us-east-1."
)


def test_heuristic_extraction_keeps_the_task_and_its_final_answer() -> None:
    analyzer = HeuristicAnalyzer()
    assert analyzer.extract_memories(DUMP) == [
        "Task: Find the cheapest region for the batch jobs\nResult: eu-north-1 is 18% cheaper than us-east-1."
    ]
    assert analyzer.extract_memories("  A plain observation.  ") == ["A plain observation."]
    assert analyzer.extract_memories("") == []
    assert analyzer.extract_memories("Task: t\nAgent: a\nExpected result: e\nResult:   ") == []


def test_heuristic_importance_reads_the_text() -> None:
    analyzer = HeuristicAnalyzer(default_importance=0.4, important_importance=0.9)
    view = StoreView(existing_scopes=lambda: ["/"], existing_categories=lambda: [])
    assert analyzer.analyze("The customer prefers invoices in EUR.", view).importance == 0.9
    assert analyzer.analyze("Deploys MUST be approved.", view).importance == 0.9
    assert analyzer.analyze("It rained on Tuesday.", view) == SaveAnalysis(importance=0.4)


def test_llm_analyzer_files_memories_with_crewais_prompts(client: Memtrace) -> None:
    llm = ScriptedLLM(
        model="scripted",
        memory_replies={
            "save_system": {
                "suggested_scope": "/finance/costs",
                "categories": ["costs", "cloud"],
                "importance": 0.9,
                "extracted_metadata": {"entities": ["eu-north-1"], "dates": [], "topics": ["pricing"]},
            },
            "extract_memories_system": {"memories": ["eu-north-1 is 18% cheaper.", "Batch jobs can move."]},
        },
    )
    memory = MemtraceMemory(client, analyzer=LLMAnalyzer(llm), root_scope="/crew/ops")

    record = memory.remember("eu-north-1 is 18% cheaper than us-east-1.")
    assert record is not None
    assert (record.scope, record.categories, record.importance) == (
        "/crew/ops/finance/costs",
        ["costs", "cloud"],
        0.9,
    )
    assert record.metadata == {"entities": ["eu-north-1"], "topics": ["pricing"]}
    assert memory.extract_memories(DUMP) == ["eu-north-1 is 18% cheaper.", "Batch jobs can move."]
    # Fields the caller gives are not asked for.
    llm.calls.clear()
    memory.remember("Fixed fact.", scope="/x", categories=[], importance=0.5)
    assert llm.memory_calls() == []


def test_llm_analyzer_distills_long_queries_for_deep_recall(client: Memtrace) -> None:
    llm = ScriptedLLM(
        model="scripted",
        memory_replies={"query_system": {"recall_queries": ["retention period"], "complexity": "simple"}},
    )
    memory = MemtraceMemory(client, analyzer=LLMAnalyzer(llm, query_analysis_threshold=50))
    memory.remember("Logs have a retention period of 90 days.", scope="/", categories=[], importance=0.5)
    long_query = "Considering everything we discussed about compliance, how long are logs kept around for?"

    deep = memory.recall(long_query)
    assert [m.record.content for m in deep] == ["Logs have a retention period of 90 days."]
    assert llm.memory_calls() == ["query_system"]
    llm.calls.clear()
    memory.recall(long_query, depth="shallow")
    assert llm.memory_calls() == []


def test_a_crew_with_an_llm_analyzer_extracts_facts_with_that_llm(client: Memtrace) -> None:
    task = "Estimate the cost of the batch jobs"
    llm = ScriptedLLM(
        model="scripted",
        turns={task: [final("About 420 EUR per month.")]},
        memory_replies={
            "extract_memories_system": {"memories": ["Batch jobs cost about 420 EUR per month."]},
            "save_system": {"suggested_scope": "/costs", "categories": ["costs"], "importance": 0.7},
        },
    )
    agent = Agent(role="Cost Analyst", goal="Estimate", backstory="Frugal", llm=llm)
    memory = MemtraceMemory(client, analyzer=LLMAnalyzer(llm))
    Crew(
        agents=[agent], tasks=[Task(description=task, expected_output="A cost", agent=agent)], memory=memory
    ).kickoff()

    (stored,) = memory.list_records()
    assert (stored.content, stored.scope, stored.categories) == (
        "Batch jobs cost about 420 EUR per month.",
        "/costs",
        ["costs"],
    )
    assert llm.memory_calls() == ["extract_memories_system", "save_system"]


def test_any_object_with_the_three_methods_is_an_analyzer(client: Memtrace) -> None:
    class Shouty:
        def extract_memories(self, content: str) -> list[str]:
            return [content.upper()]

        def analyze(self, content: str, store: StoreView) -> SaveAnalysis:
            return SaveAnalysis(scope="/loud", categories=["loud"], importance=1.0)

        def recall_queries(self, query: str) -> list[str]:
            return [query.upper()]

    memory = MemtraceMemory(client, analyzer=Shouty())
    memory.remember(memory.extract_memories("hello world")[0])
    (match,) = memory.recall("hello")
    assert (match.record.content, match.record.scope, match.record.importance) == (
        "HELLO WORLD",
        "/loud",
        1.0,
    )


def test_a_non_analyzer_is_rejected(client: Memtrace) -> None:
    import pytest

    with pytest.raises(TypeError, match="analyzer must have"):
        MemtraceMemory(client, analyzer=object())
