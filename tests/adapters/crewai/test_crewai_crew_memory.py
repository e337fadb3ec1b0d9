"""A real Crew with MemtraceMemory: shared memory across agents and across crews, with no key and no LLM
call for memory. Runs embedded and against a live server."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from crewai import Agent, Crew, CrewOutput, Process, Task
from crewai_scripted import ClientFactory, ScriptedLLM, final

from memtrace import ListOptions, Memtrace
from memtrace_crewai import MemtraceMemory

RESEARCH = "Research which database the billing service should use"
WRITE = "Write the migration plan for the billing service database"
REVIEW = "Review the plan for the billing service database migration"
FINDING = "PostgreSQL 17 with logical replication fits the billing service best."


def two_agent_crew(llm: ScriptedLLM, memory: MemtraceMemory) -> Crew:
    researcher = Agent(role="Senior Researcher", goal="Find facts", backstory="Careful analyst", llm=llm)
    writer = Agent(role="Writer", goal="Write plans", backstory="Clear writer", llm=llm)
    return Crew(
        agents=[researcher, writer],
        tasks=[
            Task(description=RESEARCH, expected_output="A database choice", agent=researcher),
            Task(description=WRITE, expected_output="A plan", agent=writer),
        ],
        process=Process.sequential,
        memory=memory,
    )


def memory_block(prompt: str) -> str:
    """The part of a task prompt CrewAI fills from memory ("" when recall found nothing)."""
    marker = "Relevant memories:"
    return prompt.split(marker, 1)[1] if marker in prompt else ""


def test_two_agent_crew_shares_memory_without_key_or_llm_analysis(
    open_client: ClientFactory, unique: Callable[[str], str]
) -> None:
    assert "OPENAI_API_KEY" not in os.environ
    client = open_client()
    crew_id = unique("billing")
    llm = ScriptedLLM(
        model="scripted", turns={RESEARCH: [final(FINDING)], WRITE: [final("Plan: migrate in May.")]}
    )
    memory = MemtraceMemory(client, crew_id=crew_id)

    out = two_agent_crew(llm, memory).kickoff()

    assert isinstance(out, CrewOutput)  # not streaming
    assert out.raw == "Plan: migrate in May."
    research_prompt, write_prompt = llm.agent_prompts()
    assert memory_block(research_prompt) == ""  # nothing remembered yet
    assert FINDING in memory_block(write_prompt)  # the writer recalled the researcher's result
    assert llm.memory_calls() == []  # no LLM call for extraction, analysis or recall

    # Stored in memtrace as each agent, in one session for the run.
    stored = client.list_memories(ListOptions(tags=["crewai", f"crew.{crew_id}"], limit=10, order="asc"))
    assert [m.agent_id for m in stored.memories] == ["senior-researcher", "writer"]
    assert stored.memories[0].content == f"Task: {RESEARCH}\nResult: {FINDING}"
    sessions = {m.session_id for m in stored.memories}
    assert len(sessions) == 1 and next(iter(sessions)).startswith("run-")
    session = client.get_session(next(iter(sessions)))
    assert session.metadata is not None and session.metadata["crew_id"] == crew_id


def test_a_new_crew_on_the_same_data_recalls_the_first_crews_memory(
    open_client: ClientFactory, unique: Callable[[str], str]
) -> None:
    crew_id = unique("billing")
    first_client = open_client()
    llm = ScriptedLLM(model="scripted", turns={RESEARCH: [final(FINDING)], WRITE: [final("Plan v1.")]})
    two_agent_crew(llm, MemtraceMemory(first_client, crew_id=crew_id)).kickoff()
    first_client.close()

    # Another process would open its own client: nothing is shared but the data directory or server.
    second_client = open_client()
    reviewer_llm = ScriptedLLM(model="scripted", turns={REVIEW: [final("Approved.")]})
    reviewer = Agent(role="Reviewer", goal="Review", backstory="Strict", llm=reviewer_llm)
    crew = Crew(
        agents=[reviewer],
        tasks=[Task(description=REVIEW, expected_output="A verdict", agent=reviewer)],
        memory=MemtraceMemory(second_client, crew_id=crew_id),
    )

    approved = crew.kickoff()
    assert isinstance(approved, CrewOutput) and approved.raw == "Approved."
    recalled = memory_block(reviewer_llm.agent_prompts()[0])
    assert FINDING in recalled and "Plan v1." in recalled
    assert reviewer_llm.memory_calls() == []


def test_crews_with_different_ids_do_not_see_each_other(client: Memtrace) -> None:
    llm = ScriptedLLM(model="scripted", turns={RESEARCH: [final(FINDING)], WRITE: [final("Plan.")]})
    two_agent_crew(llm, MemtraceMemory(client, crew_id="billing")).kickoff()

    other = MemtraceMemory(client, crew_id="marketing")
    assert other.recall("billing service database") == []
    shared = MemtraceMemory(client)  # no crew id: the whole CrewAI namespace
    assert any(FINDING in m.record.content for m in shared.recall("billing service database"))


def test_second_run_of_the_same_crew_does_not_duplicate_memories(client: Memtrace) -> None:
    for _ in range(2):
        llm = ScriptedLLM(model="scripted", turns={RESEARCH: [final(FINDING)], WRITE: [final("Plan.")]})
        two_agent_crew(llm, MemtraceMemory(client, crew_id="billing")).kickoff()

    records = MemtraceMemory(client, crew_id="billing").list_records()
    assert sorted(r.content for r in records) == sorted(
        [f"Task: {RESEARCH}\nResult: {FINDING}", f"Task: {WRITE}\nResult: Plan."]
    )
    # Each run is its own session, though.
    assert len(client.list_sessions().sessions) == 2


def test_agents_with_their_own_scope_still_share_the_crew_pool(client: Memtrace) -> None:
    """CrewAI files each agent's memories under <root>/agent/<role>; recall from the crew root sees all."""
    llm = ScriptedLLM(model="scripted", turns={RESEARCH: [final(FINDING)], WRITE: [final("Plan.")]})
    memory = MemtraceMemory(client, crew_id="billing", root_scope="/crew/billing")
    two_agent_crew(llm, memory).kickoff()

    assert memory.list_scopes() == ["/crew/billing/agent"]
    assert memory.list_scopes("/agent") == [
        "/crew/billing/agent/senior-researcher",
        "/crew/billing/agent/writer",
    ]
    assert FINDING in memory_block(llm.agent_prompts()[1])
    mine = memory.recall("billing database", scope="/agent/writer")
    assert [m.record.scope for m in mine] == ["/crew/billing/agent/writer"]


@pytest.mark.parametrize("legacy_name", ["memory", "short", "long", "entity", "external"])
def test_crew_reset_memories_wipes_the_crews_memory_only(client: Memtrace, legacy_name: str) -> None:
    llm = ScriptedLLM(model="scripted", turns={RESEARCH: [final(FINDING)], WRITE: [final("Plan.")]})
    memory = MemtraceMemory(client, crew_id="billing")
    crew = two_agent_crew(llm, memory)
    crew.kickoff()
    other_crew = MemtraceMemory(client, crew_id="marketing")
    other_crew.remember("The launch is in June.")
    client.remember("someone-else", "Not a CrewAI memory")

    crew.reset_memories(legacy_name)

    assert memory.list_records() == []
    assert [r.content for r in other_crew.list_records()] == ["The launch is in June."]
    assert client.list_memories(ListOptions(agent_id="someone-else")).count == 1


def test_crew_reset_memories_rejects_unknown_kinds(client: Memtrace) -> None:
    llm = ScriptedLLM(model="scripted")
    agent = Agent(role="A", goal="g", backstory="b", llm=llm)
    crew = Crew(
        agents=[agent],
        tasks=[Task(description="t", expected_output="o", agent=agent)],
        memory=MemtraceMemory(client),
    )
    with pytest.raises(ValueError, match="Invalid command type"):
        crew.reset_memories("everything")


def test_kickoff_for_each_runs_share_the_memory(client: Memtrace) -> None:
    task = "Note the favourite colour of {person}"
    llm = ScriptedLLM(
        model="scripted",
        turns={
            "Note the favourite colour of Ada": [final("Ada likes green.")],
            "Note the favourite colour of Bob": [final("Bob likes orange.")],
        },
    )
    agent = Agent(role="Note Taker", goal="Take notes", backstory="b", llm=llm)
    memory = MemtraceMemory(client, crew_id="notes")
    crew = Crew(
        agents=[agent], tasks=[Task(description=task, expected_output="A colour", agent=agent)], memory=memory
    )

    crew.kickoff_for_each(inputs=[{"person": "Ada"}, {"person": "Bob"}])

    assert sorted(m.record.content.splitlines()[-1] for m in memory.recall("favourite colour")) == [
        "Result: Ada likes green.",
        "Result: Bob likes orange.",
    ]
    assert len({m.session_id for m in client.list_memories(ListOptions(tags=["crew.notes"])).memories}) == 2
