"""memtrace tools used by real CrewAI agents (scripted ReAct turns), sharing the crew's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from crewai import Agent, Crew, CrewOutput, Process, Task
from crewai.tools import BaseTool
from crewai_scripted import ClientFactory, ScriptedLLM, action, final
from support.tool_probe import PROBE, add_probe_argument, core_arguments

from memtrace import ListOptions, Memtrace
from memtrace.tools import ToolScope
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
        "memtrace_recall_facts",
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
    remember, recall, *_ = memory.tools(agent_role="Analyst")
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
    remember, _, search, decide, _ = memtrace_tools(client, agent_id="ops-bot")
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
    remember, _, search, *_ = memtrace_tools(client, agent_id="async-agent")

    async def use() -> str:
        await remember.arun(content="Async agents can remember too.")
        return str(await search.arun(query="async agents"))

    assert "Async agents can remember too." in asyncio.run(use())


HIDDEN = {"memtrace_remember": {"session_id"}, "memtrace_recall": {"session_id"}}
"""Core arguments the CrewAI tools leave out on purpose: the session is the crew run's."""
EXTRA = {
    "memtrace_recall": {"only_mine"},
    "memtrace_search": {"only_mine"},
    "memtrace_recall_facts": {"only_mine"},
}
"""CrewAI's own: reads cover the whole crew unless the agent asks for its own memories."""


def test_schemas_are_core_definitions_for_one_agent_of_the_crew(client: Memtrace) -> None:
    for tool in memtrace_tools(client, agent_id="planner"):
        properties = set(tool.args_schema.model_json_schema()["properties"])
        core = core_arguments(tool.name, ToolScope(agent_id="planner"))
        assert properties == (core - HIDDEN.get(tool.name, set())) | EXTRA.get(tool.name, set()), tool.name
    remember = memtrace_tools(client, agent_id="planner")[0]
    importance = remember.args_schema.model_json_schema()["properties"]["importance"]
    assert (importance["minimum"], importance["maximum"]) == (0, 1)


def test_an_argument_core_adds_reaches_the_schema_and_the_call(
    monkeypatch: pytest.MonkeyPatch, client: Memtrace
) -> None:
    seen = add_probe_argument(monkeypatch)
    remember, recall, search, decide, facts = memtrace_tools(client, agent_id="ops-bot")
    for tool in (remember, recall, search, decide, facts):
        assert PROBE in tool.args_schema.model_json_schema()["properties"], tool.name
    assert remember.run(content="Probe the crew", probe_label="r") == "Remembered: Probe the crew"
    assert "Probe the crew" in recall.run(since="1h", probe_label="l")
    assert "Probe the crew" in search.run(query="probe crew", probe_label="s")
    decide.run(decision="Probe often", reasoning="it works", probe_label="d")
    facts.run(probe_label="f")
    names = (
        "memtrace_remember",
        "memtrace_recall",
        "memtrace_search",
        "memtrace_decide",
        "memtrace_recall_facts",
    )
    assert [seen[n] for n in names] == [["r"], ["l"], ["s"], ["d"], ["f"]]


def test_tags_are_categories_and_mistakes_come_back_to_the_agent(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    remember, recall, search, *_ = memory.tools(agent_role="Analyst")
    remember.run(content="Prices rise 5% in March.", tags=["pricing"], memory_type="entity")
    [match] = memory.recall("prices March")
    assert match.record.categories == ["pricing"] and match.record.scope == "/agent/analyst"
    assert "Prices rise" in search.run(query="prices", tags=["pricing"])
    assert search.run(query="prices", tags=["hiring"]) == "No memories match 'prices'."
    assert remember.run(content="Prices rise 5% in March.") == "Already remembered: Prices rise 5% in March."
    assert recall.run(since="last tuesday").startswith("Invalid arguments: since: 'last tuesday'")


def test_a_ttl_from_core_reaches_the_crew_memory(client: Memtrace) -> None:
    """`ttl` was added to core's remember after these tools were written: it works here unchanged."""
    remember, recall, *_ = memtrace_tools(client, agent_id="ops-bot")
    assert "ttl" in remember.args_schema.model_json_schema()["properties"]
    remember.run(content="The staging password rotates tonight.", ttl="12h")
    [memory] = client.list_memories(ListOptions(agent_id="ops-bot")).memories
    assert memory.expires_at is not None and memory.expires_at > memory.time
    assert "staging password" in recall.run(since="1h")


def test_recall_facts_gives_the_crews_current_facts(client: Memtrace) -> None:
    """Issue #17: the facts tool MCP and the other adapters have. A fact remembered again with its key replaces
    the old value; facts outside the crew (another crew's, written without it) and private ones stay hidden."""
    memory = MemtraceMemory(client, crew_id="billing")
    remember, *_, facts = memory.tools(agent_role="Analyst")
    assert facts.name == "memtrace_recall_facts"
    assert facts.run() == "No facts remembered."
    remember.run(content="Acme is on the Basic plan.", key="customer:acme/plan")
    remember.run(content="Globex is on the Pro plan.", key="customer:globex/plan")
    remember.run(content="Acme moved to the Enterprise plan.", key="customer:acme/plan")
    other_crew = MemtraceMemory(client, crew_id="hiring").tools(agent_role="Recruiter")
    other_crew[0].run(content="Ada is hired.", key="candidate:ada/status")

    lines = facts.run().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "analyst: customer:acme/plan = Acme moved to the Enterprise plan.",
        "analyst: customer:globex/plan = Globex is on the Pro plan.",
    ]
    assert facts.run(prefix="customer:globex/").count("\n") == 0
    assert "Enterprise" in facts.run(limit=1) and "Globex" not in facts.run(limit=1)
    assert "Ada is hired" in other_crew[-1].run()
