"""memtrace tools used by real CrewAI agents (scripted ReAct turns), sharing the crew's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from crewai import Agent, Crew, CrewOutput, Process, Task
from crewai.tools import BaseTool
from crewai_scripted import ClientFactory, ScriptedLLM, action, final

from memtrace import ListOptions, Memtrace
from memtrace_crewai import MemtraceMemory, memtrace_tools

NOTE = "Plan the rollout of the new billing API"
CHECK = "Check what was decided about the billing API rollout"


def test_tools_are_crewai_base_tools_with_memtrace_names(client: Memtrace) -> None:
    tools = memtrace_tools(client, agent_id="planner")
    assert all(isinstance(t, BaseTool) for t in tools)
    assert [t.name for t in tools] == [
        "memtrace_remember",
        "memtrace_recall",
        "memtrace_search",
        "memtrace_decide",
    ]


def test_agents_remember_decide_and_search_through_tools(
    open_client: ClientFactory, unique: Callable[[str], str]
) -> None:
    client = open_client()
    memory = MemtraceMemory(client, crew_id=unique("rollout"))
    planner_llm = ScriptedLLM(
        model="scripted",
        turns={
            NOTE: [
                action(
                    "memtrace_remember", {"content": "The billing API rollout starts with 5% of traffic."}
                ),
                action(
                    "memtrace_decide",
                    {
                        "decision": "Roll out the billing API region by region.",
                        "reasoning": "Limits blast radius.",
                    },
                ),
                final("Planned."),
            ]
        },
    )
    checker_llm = ScriptedLLM(
        model="scripted",
        turns={
            CHECK: [action("memtrace_search", {"query": "billing API rollout region"}), final("Checked.")]
        },
    )
    planner = Agent(
        role="Planner", goal="Plan", backstory="b", llm=planner_llm, tools=memory.tools(agent_role="Planner")
    )
    checker = Agent(
        role="Checker", goal="Check", backstory="b", llm=checker_llm, tools=memory.tools(agent_role="Checker")
    )
    crew = Crew(
        agents=[planner, checker],
        tasks=[
            Task(description=NOTE, expected_output="A plan", agent=planner),
            Task(description=CHECK, expected_output="A check", agent=checker),
        ],
        process=Process.sequential,
    )

    checked = crew.kickoff()
    assert isinstance(checked, CrewOutput) and checked.raw == "Checked."

    # The checker's search observation (the prompt of its second turn) shows the decision and its reasoning.
    observation = checker_llm.agent_prompts()[1]
    assert "Roll out the billing API region by region." in observation
    assert "reasoning: Limits blast radius." in observation
    decisions = client.list_memories(ListOptions(agent_id="planner", memory_type="decision")).memories
    assert [(d.content, d.event_type) for d in decisions] == [
        ("Roll out the billing API region by region.", "decision")
    ]
    assert decisions[0].metadata is not None and decisions[0].metadata["reasoning"] == "Limits blast radius."
    # What the tools wrote is crew memory too.
    contents = {m.record.content for m in memory.recall("billing API rollout")}
    assert "The billing API rollout starts with 5% of traffic." in contents


def test_recall_tool_lists_recent_memories_newest_first(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    memory.remember("First note.")
    memory.remember("Second note.", agent_role="Analyst")
    memory.remember("Hidden note.", source="someone", private=True)
    remember, recall, _, _ = memory.tools(agent_role="Analyst")
    remember.run(content="Third note.")

    text = recall.run(since="1h")
    lines = text.splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "analyst: Third note.",
        "analyst: Second note.",
        "crewai: First note.",
    ]
    mine = recall.run(since="1h", only_mine=True)
    assert "First note." not in mine and "Third note." in mine
    assert recall.run(since="1s", limit=1).count("\n") == 0


def test_tools_on_a_plain_client_share_the_default_crew_pool(client: Memtrace) -> None:
    remember, _, search, decide = memtrace_tools(client, agent_id="ops-bot")
    assert remember.run(content="The VPN certificate expires on 1 March.") == (
        "Remembered: The VPN certificate expires on 1 March."
    )
    assert decide.run(decision="Renew the certificate early.", reasoning="Avoid an outage.").startswith(
        "Decision recorded"
    )
    assert "VPN certificate" in search.run(query="VPN certificate")
    assert search.run(query="unrelated kubernetes words") == "No memories match 'unrelated kubernetes words'."
    crew_memory = MemtraceMemory(client)
    found = {m.record.content for m in crew_memory.recall("certificate")}
    assert found == {"The VPN certificate expires on 1 March.", "Renew the certificate early."}


def test_tools_run_asynchronously(client: Memtrace) -> None:
    remember, _, search, _ = memtrace_tools(client, agent_id="async-agent")

    async def use() -> str:
        await remember.arun(content="Async agents can remember too.")
        return str(await search.arun(query="async agents"))

    assert "Async agents can remember too." in asyncio.run(use())
