"""MemtraceMemory through CrewAI's Memory API: what a user calls directly, and CrewAI's documented
semantics for scopes, privacy, read-only memories, forget and reset."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from crewai_scripted import ClientFactory

from memtrace import AsyncMemtrace, ListOptions, Memtrace, ValidationError
from memtrace_crewai import MemtraceMemory
from memtrace_crewai.memory import no_embedding


def contents(memory: MemtraceMemory, scope: str | None = None) -> list[str]:
    return sorted(r.content for r in memory.list_records(scope))


def test_recall_ranks_by_keywords_with_no_embedder_or_llm(
    open_client: ClientFactory, unique: Callable[[str], str]
) -> None:
    memory = MemtraceMemory(open_client(), crew_id=unique("ranking"))
    memory.remember("The API rate limit is 1000 requests per minute.")
    memory.remember("Our staging environment uses port 8080.")
    memory.remember("The user prefers dark mode in every editor.")

    matches = memory.recall("Which mode does the user prefer?")

    assert matches[0].record.content == "The user prefers dark mode in every editor."
    assert 0 < matches[0].score <= 1
    assert "keywords" in matches[0].match_reasons
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    # Nothing ever built CrewAI's OpenAI embedder or LLM.
    assert memory._embedder is no_embedding
    assert memory._llm_instance is None


def test_recall_respects_limit_and_finds_nothing_for_unrelated_or_blank_queries(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    memory.remember_many([f"Invoice {n} was paid late." for n in range(8)])
    assert len(memory.recall("invoice paid late", limit=3)) == 3
    assert memory.recall("kubernetes autoscaling") == []
    assert memory.recall("   ") == []


def test_explicit_fields_round_trip_and_are_plain_memtrace_memories(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    record = memory.remember(
        "Use PostgreSQL for billing.",
        scope="/project/billing",
        categories=["database", "architecture decisions"],
        metadata={"ticket": "BILL-7"},
        importance=0.9,
        source="user-42",
    )
    assert record is not None
    assert (record.scope, record.categories, record.importance) == (
        "/project/billing",
        ["database", "architecture decisions"],
        0.9,
    )
    stored = memory.memtrace_storage.get_record(record.id)
    assert stored is not None
    assert stored.model_dump(exclude={"last_accessed"}) == record.model_dump(exclude={"last_accessed"})

    (raw,) = client.list_memories(ListOptions(tags=["crewai"])).memories
    assert raw.content == "Use PostgreSQL for billing."
    assert raw.importance == 0.9
    assert raw.metadata is not None and raw.metadata["ticket"] == "BILL-7"  # user metadata stays top-level
    assert "s.project.billing" in (raw.tags or []) and "c.database" in (raw.tags or [])


def test_default_analysis_is_deterministic(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    decided = memory.remember("We decided to ship on Fridays only.")
    plain = memory.remember("The office has a blue door.")
    assert decided is not None and plain is not None
    assert (decided.importance, plain.importance) == (0.8, 0.5)
    assert decided.scope == plain.scope == "/"
    assert decided.categories == plain.categories == []


def test_same_text_in_same_scope_is_stored_once(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    first = memory.remember("The deploy window is 9-11 UTC.", scope="/ops")
    second = memory.remember("The deploy window is 9-11 UTC.", scope="/ops")
    elsewhere = memory.remember("The deploy window is 9-11 UTC.", scope="/release")
    assert first is not None and second is not None and elsewhere is not None
    assert second.id == first.id
    assert elsewhere.id != first.id
    assert len(memory.list_records()) == 2

    # Forgotten text can be remembered again at once.
    assert memory.forget(scope="/ops") == 1
    back = memory.remember("The deploy window is 9-11 UTC.", scope="/ops")
    assert back is not None and back.id != first.id
    assert len(memory.list_records("/ops")) == 1


def test_the_same_text_twice_in_one_batch_returns_the_stored_record(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    stored = memory.remember_many(["same fact", "same fact", "other fact"], scope="/ops")
    assert [r.content for r in stored] == ["same fact", "same fact", "other fact"]
    assert stored[1].id == stored[0].id  # the duplicate stands for the memory actually stored
    listed = memory.list_records("/ops")
    assert len(listed) == 2 and {r.id for r in stored} == {
        r.id for r in listed
    }  # every id returned is stored


def test_remember_many_is_one_synchronous_batch(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    stored = memory.remember_many(
        ["Alpha ships in May.", "Beta ships in June.", "  "], categories=["releases"]
    )
    assert [r.content for r in stored] == ["Alpha ships in May.", "Beta ships in June."]
    # Visible at once, in any other client of the same data.
    assert memory.recall("when does beta ship")[0].record.content == "Beta ships in June."


def test_root_scope_nests_saves_and_bounds_recall(client: Memtrace) -> None:
    research = MemtraceMemory(client, root_scope="/crew/research")
    sales = MemtraceMemory(client, root_scope="/crew/sales")
    record = research.remember("Competitor X lowered prices.", scope="/market")
    sales.remember("Competitor X called our biggest customer.")
    assert record is not None and record.scope == "/crew/research/market"

    assert [m.record.content for m in research.recall("competitor X")] == ["Competitor X lowered prices."]
    assert [m.record.content for m in research.recall("competitor X", scope="/market")] == [
        "Competitor X lowered prices."
    ]
    assert research.recall("competitor X", scope="/elsewhere") == []


def test_scope_paths_match_whole_segments(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    memory.remember("Project notes", scope="/project")
    memory.remember("Projects overview", scope="/projects")
    memory.remember("Alpha project detail", scope="/project/alpha")

    assert contents(memory, "/project") == ["Alpha project detail", "Project notes"]
    assert memory.forget(scope="/project") == 2
    assert contents(memory) == ["Projects overview"]


def test_scope_and_slice_views(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    alpha = memory.scope("/team/alpha")
    beta = memory.scope("/team/beta")
    alpha.remember("Alpha uses Go for the API.")
    beta.remember("Beta uses Rust for the API.")

    assert [m.record.content for m in alpha.recall("API language")] == ["Alpha uses Go for the API."]
    both = memory.slice(["/team/alpha", "/team/beta"])
    assert sorted(m.record.content for m in both.recall("API")) == [
        "Alpha uses Go for the API.",
        "Beta uses Rust for the API.",
    ]
    assert both.remember("ignored", scope="/team/alpha") is None  # slices are read-only by default
    assert memory.list_scopes("/team") == ["/team/alpha", "/team/beta"]
    assert memory.info("/team").record_count == 2
    assert "/team/alpha (1 records)" in memory.tree("/team")


def test_private_records_are_visible_only_to_their_source(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    memory.remember("Alice's salary is confidential.", source="alice", private=True)
    memory.remember("The salary review is in March.")

    default = [m.record.content for m in memory.recall("salary")]
    assert default == ["The salary review is in March."]
    assert len(memory.recall("salary", source="alice")) == 2
    assert len(memory.recall("salary", source="bob")) == 1
    assert len(memory.recall("salary", include_private=True)) == 2


def test_read_only_memory_stores_nothing_but_can_forget(client: Memtrace) -> None:
    writer = MemtraceMemory(client)
    writer.remember("Rollbacks need two approvals.")
    reader = MemtraceMemory(client, read_only=True)

    assert reader.remember("should not be stored") is None
    assert reader.remember_many(["nor this"]) == []
    assert [m.record.content for m in reader.recall("rollback approvals")] == [
        "Rollbacks need two approvals."
    ]
    assert reader.forget() == 1  # explicit deletion is unaffected by read_only
    assert writer.list_records() == []


def test_forget_filters_combine(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    old = memory.remember("Old pricing note", categories=["pricing"], metadata={"region": "eu"})
    memory.remember("EU pricing", categories=["pricing"], metadata={"region": "eu"})
    memory.remember("US pricing", categories=["pricing", "us"], metadata={"region": "us"})
    memory.remember("Hiring plan", categories=["people"])
    assert old is not None

    assert memory.forget(categories=["nothing-here"]) == 0
    assert memory.forget(older_than=datetime(2000, 1, 1, tzinfo=UTC)) == 0
    assert memory.forget(record_ids=[]) == 0
    assert memory.forget(record_ids=[old.id]) == 1
    assert memory.forget(categories=["pricing"], metadata_filter={"region": "us"}) == 1
    assert memory.forget(categories=["people", "pricing"]) == 2
    assert memory.list_records() == []


def test_forget_older_than(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    memory.remember("first")
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    assert memory.forget(older_than=cutoff) == 1
    memory.remember("second")
    assert memory.forget(older_than=datetime.now(UTC) - timedelta(hours=1)) == 0
    assert contents(memory) == ["second"]


def test_forget_and_reset_stay_inside_root_scope(client: Memtrace) -> None:
    crew_a = MemtraceMemory(client, root_scope="/crew/a")
    crew_b = MemtraceMemory(client, root_scope="/crew/b")
    crew_a.remember("A fact", scope="/x")
    crew_a.remember("A other", scope="/y")
    crew_b.remember("B fact")

    crew_a.reset(scope="/x")
    assert contents(crew_a) == ["A other"]
    assert crew_a.forget() == 1
    assert contents(crew_b) == ["B fact"]

    crew_a.remember("A again")
    crew_a.reset()
    assert crew_a.list_records() == [] and contents(crew_b) == ["B fact"]

    # reset_all ignores root_scope: the whole store of this memory (its namespace and crew id) goes.
    crew_a.reset_all()
    assert crew_b.list_records() == []


def test_reset_all_never_touches_other_partitions_or_other_memtrace_data(client: Memtrace) -> None:
    mine = MemtraceMemory(client, crew_id="mine")
    theirs = MemtraceMemory(client, crew_id="theirs")
    other_namespace = MemtraceMemory(client, namespace="flows")
    mine.remember("mine")
    theirs.remember("theirs")
    other_namespace.remember("flow memory")
    client.remember("plain-agent", "plain memtrace memory")

    mine.reset_all()

    assert mine.list_records() == []
    assert contents(theirs) == ["theirs"]
    assert contents(other_namespace) == ["flow memory"]
    assert client.list_memories(ListOptions(agent_id="plain-agent")).count == 1


def test_update_replaces_content_keeping_id_and_creation_time(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    record = memory.remember("The launch is on Monday.", categories=["launch"])
    assert record is not None

    updated = memory.update(record.id, content="The launch moved to Thursday.", importance=0.9)

    assert updated.id == record.id
    (stored,) = memory.list_records()
    assert (stored.id, stored.content, stored.importance, stored.categories) == (
        record.id,
        "The launch moved to Thursday.",
        0.9,
        ["launch"],
    )
    assert abs((stored.created_at - record.created_at).total_seconds()) < 0.001
    assert [m.record.content for m in memory.recall("launch Thursday")] == ["The launch moved to Thursday."]
    with pytest.raises(ValueError, match="Record not found"):
        memory.update("no-such-id", content="x")


def test_categories_and_counts(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    memory.remember("Backups run nightly.", categories=["db", "ops"])
    memory.remember("Backups are kept for 30 days.", categories=["db"])
    assert memory.list_categories() == {"db": 2, "ops": 1}
    assert memory.memtrace_storage.count() == 2
    assert [m.record.content for m in memory.recall("backups", categories=["ops"])] == [
        "Backups run nightly."
    ]
    assert len(memory.recall("backups", categories=["ops", "db"])) == 2


def test_list_records_is_newest_first_and_pages(client: Memtrace) -> None:
    memory = MemtraceMemory(client)
    memory.remember_many([f"note {n}" for n in range(5)])
    assert [r.content for r in memory.list_records(limit=2)] == ["note 4", "note 3"]
    assert [r.content for r in memory.list_records(limit=2, offset=2)] == ["note 2", "note 1"]


def test_bad_configuration_fails_at_construction(client: Memtrace, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        MemtraceMemory(client, namespace="has.dots")
    assert err.value.field == "namespace"
    with pytest.raises(ValidationError) as err:
        MemtraceMemory(client, agent_id="1-starts-with-digit")
    assert err.value.field == "agent_id"
    async_client = AsyncMemtrace.open(tmp_path / "async-data")
    try:
        with pytest.raises(TypeError, match=r"sync memtrace\.Memtrace"):
            MemtraceMemory(async_client)  # type: ignore[arg-type]
    finally:
        asyncio.run(async_client.aclose())
    with pytest.raises(ValueError, match="reserved"):
        MemtraceMemory(client).remember("x", metadata={"_crewai": 1})


def test_crew_id_is_any_string_and_agent_ids_follow_roles(client: Memtrace) -> None:
    memory = MemtraceMemory(client, crew_id="Research Crew #1")
    memory.remember("standalone fact")
    memory.remember("role fact", agent_role="Chief Data Officer")
    agents = sorted(m.agent_id for m in client.list_memories(ListOptions(tags=["crewai"])).memories)
    assert agents[0] == "chief-data-officer"
    assert agents[1].startswith("k_Research-Crew-1_")  # the crew id, mapped onto memtrace's id rules
    assert MemtraceMemory(client, crew_id="Research Crew #1").recall("fact")
    assert MemtraceMemory(client, crew_id="Research Crew #2").recall("fact") == []


def test_client_may_be_passed_by_keyword(client: Memtrace) -> None:
    MemtraceMemory(client=client, crew_id="kw").remember("Passed by keyword.")
    assert [m.content for m in client.list_memories(ListOptions(tags=["crew.kw"])).memories] == [
        "Passed by keyword."
    ]
