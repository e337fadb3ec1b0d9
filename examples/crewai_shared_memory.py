"""CrewAI with memtrace memory: agents share what they learn, and a later crew recalls it. No embedder, no key.

    uv run python examples/crewai_shared_memory.py                  # offline, scripted model, embedded memtrace
    uv run python examples/crewai_shared_memory.py --data-dir /tmp/mt
    OPENAI_API_KEY=sk-... uv run python examples/crewai_shared_memory.py    # a real model (gpt-4.1-mini)
    MEMTRACE_URL=http://127.0.0.1:9100 MEMTRACE_API_KEY=mtk_... uv run python examples/crewai_shared_memory.py

Part 1 runs a researcher and a writer with ``Crew(memory=MemtraceMemory(...))``: the researcher's result is
remembered, and the writer's task prompt receives it through memtrace's ranked keyword search. Part 2 opens a
fresh client, as a new process would, and a reviewer crew recalls the first crew's work. Part 3 gives an agent
memtrace's tools and records a decision. Finally, memtrace renders the first run as plain-text context.
Memory itself never calls an LLM or an embedder, so only the agents' own turns use the model.
"""

from __future__ import annotations

import argparse
import os
import re
import uuid
from typing import Any

# CrewAI reports telemetry and traces unless told not to; this example keeps to itself.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from crewai import LLM, Agent, Crew, Process, Task
from crewai.llms.base_llm import BaseLLM

from memtrace import ContextOptions, Memtrace
from memtrace_crewai import MemtraceMemory

RESEARCH = "Research which launch date works best for the Aurora mobile app"
WRITE = "Write a two-sentence launch announcement for the Aurora mobile app"
REVIEW = "Review the Aurora mobile app launch plan for risks"
DECIDE = "Decide the Aurora mobile app launch date"


class OfflineLLM(BaseLLM):
    """A scripted model: it answers each task from its prompt, so you can see what memory gave it."""

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
        recalled = (
            re.findall(r"Result: (.+)", prompt.split("Relevant memories:", 1)[-1])
            if "Relevant memories:" in prompt
            else []
        )
        if f"Current Task: {RESEARCH}" in prompt:
            answer = "Tuesday 14 May: no competing launches that week and the app-store review takes 5 days."
        elif f"Current Task: {WRITE}" in prompt:
            basis = recalled[0] if recalled else "(nothing recalled)"
            answer = f"Aurora arrives on Tuesday 14 May. Based on research: {basis}"
        elif f"Current Task: {REVIEW}" in prompt:
            answer = "Risk check done. Recalled from the earlier crew: " + (" | ".join(recalled) or "nothing")
        elif f"Current Task: {DECIDE}" in prompt and "Decision recorded" not in prompt:
            return (
                "Thought: I should record this decision.\nAction: memtrace_decide\nAction Input: "
                '{"decision": "Launch Aurora on Tuesday 14 May.", '
                '"reasoning": "No competing launches; app-store review fits."}'
            )
        elif f"Current Task: {DECIDE}" in prompt:
            answer = "Decision recorded: launch on Tuesday 14 May."
        else:
            answer = "Done."
        return f"Thought: I now know the final answer\nFinal Answer: {answer}"

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        # A scripted model has no tokenizer; CrewAI's fallback estimate would log a warning on every turn.
        text = messages if isinstance(messages, str) else "".join(str(m.get("content", "")) for m in messages)
        return (len(text) + 3) // 4


def pick_model() -> BaseLLM:
    if os.environ.get("OPENAI_API_KEY"):
        print("Using OpenAI gpt-4.1-mini for the agents (memory still needs no model).\n")
        return LLM(model="gpt-4.1-mini")
    return OfflineLLM(model="offline-scripted")


def open_client(data_dir: str | None) -> Memtrace:
    """A server when MEMTRACE_URL and MEMTRACE_API_KEY are set; else embedded in `data_dir`
    (default $MEMTRACE_DATA_DIR, else ./data)."""
    if data_dir is not None and not os.environ.get("MEMTRACE_URL"):
        return Memtrace.open(data_dir)
    return Memtrace.from_env()


def research_and_write(data_dir: str | None, llm: BaseLLM, crew_id: str) -> str | None:
    print("== 1. Two agents share crew memory (Crew(memory=MemtraceMemory(...))) ==")
    with open_client(data_dir) as client:
        memory = MemtraceMemory(client, crew_id=crew_id)
        researcher = Agent(role="Market Researcher", goal="Find facts", backstory="Knows the market", llm=llm)
        writer = Agent(role="Writer", goal="Write clearly", backstory="Writes announcements", llm=llm)
        crew = Crew(
            agents=[researcher, writer],
            tasks=[
                Task(description=RESEARCH, expected_output="A date and why", agent=researcher),
                Task(description=WRITE, expected_output="Two sentences", agent=writer),
            ],
            process=Process.sequential,
            memory=memory,
        )
        output = crew.kickoff()
        for task_output in output.tasks_output:
            print(f"  {task_output.agent}: {task_output.raw}")
        records = memory.list_records()
        print(f"  memtrace now holds {len(records)} crew memories, e.g.:")
        for record in records[-1:]:
            print("    " + record.content.replace("\n", "\n    "))
        sessions = {
            s.id for s in client.list_sessions().sessions if (s.metadata or {}).get("crew_id") == crew_id
        }
        print()
        return next(iter(sessions), None)


def later_crew_recalls(data_dir: str | None, llm: BaseLLM, crew_id: str) -> None:
    print("== 2. A new crew, a fresh client (as a new process would), the same memory ==")
    with open_client(data_dir) as client:
        memory = MemtraceMemory(client, crew_id=crew_id)
        for match in memory.recall("Aurora launch date", limit=2):
            print(f"  recall -> (score {match.score:.2f}) {match.record.content.splitlines()[-1]}")
        reviewer = Agent(role="Reviewer", goal="Find risks", backstory="Careful", llm=llm)
        crew = Crew(
            agents=[reviewer],
            tasks=[Task(description=REVIEW, expected_output="Risks", agent=reviewer)],
            memory=memory,
        )
        print(f"  Reviewer: {crew.kickoff().raw}\n")


def agent_with_tools(data_dir: str | None, llm: BaseLLM, crew_id: str) -> None:
    print("== 3. memtrace tools for an agent (memtrace_tools) ==")
    with open_client(data_dir) as client:
        memory = MemtraceMemory(client, crew_id=crew_id)
        lead = Agent(
            role="Product Lead",
            goal="Decide",
            backstory="Owns the launch",
            llm=llm,
            tools=memory.tools(agent_role="Product Lead"),
        )
        crew = Crew(agents=[lead], tasks=[Task(description=DECIDE, expected_output="A decision", agent=lead)])
        print(f"  Product Lead: {crew.kickoff().raw}")
        for match in memory.recall("launch decision Aurora", limit=5):
            if match.record.metadata.get("reasoning"):
                print(
                    f"  stored decision: {match.record.content} (reasoning: {match.record.metadata['reasoning']})"
                )
    print()


def show_context(data_dir: str | None, session_id: str | None) -> None:
    if session_id is None:
        return
    print(f"== What memtrace gives any model: run {session_id} as plain-text context ==")
    with open_client(data_dir) as client:
        print(client.get_session_context(session_id, ContextOptions(max_tokens=400)).context)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", help="embedded memtrace data directory (default $MEMTRACE_DATA_DIR or ./data)"
    )
    args = parser.parse_args()
    llm = pick_model()
    crew_id = f"aurora-{uuid.uuid4().hex[:6]}"  # fresh per run, so reruns on one data directory start clean
    session_id = research_and_write(args.data_dir, llm, crew_id)
    later_crew_recalls(args.data_dir, llm, crew_id)
    agent_with_tools(args.data_dir, llm, crew_id)
    show_context(args.data_dir, session_id)


if __name__ == "__main__":
    main()
