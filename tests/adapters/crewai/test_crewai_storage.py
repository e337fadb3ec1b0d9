"""MemtraceStorage as CrewAI's own StorageBackend (vector recall, embeddings kept in memtrace), and as the
process-wide default storage of `Crew(memory=True)`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from crewai import Agent, Crew, Memory, Process, Task
from crewai.memory.storage.backend import EmbeddingDimensionMismatchError, StorageBackend
from crewai.memory.storage.factory import resolve_memory_storage
from crewai.memory.types import MemoryRecord
from crewai_scripted import ClientFactory, HashEmbedding, ScriptedLLM, final, hash_embed

from memtrace import ListOptions, Memtrace
from memtrace_crewai import MemtraceStorage, restore_default_storage, use_memtrace_storage


def record(content: str, scope: str = "/", categories: list[str] | None = None) -> MemoryRecord:
    return MemoryRecord(
        content=content, scope=scope, categories=categories or [], embedding=hash_embed([content])[0]
    )


def test_it_is_a_storage_backend(client: Memtrace) -> None:
    assert isinstance(MemtraceStorage(client), StorageBackend)


def test_vector_search_over_stored_embeddings(client: Memtrace) -> None:
    storage = MemtraceStorage(client)
    storage.save(
        [
            record("postgres replication lag alert", "/ops"),
            record("quarterly sales grew strongly", "/sales"),
            record("postgres vacuum settings tuned", "/ops", ["db"]),
        ]
    )
    query = hash_embed(["postgres replication"])[0]

    hits = storage.search(query, limit=2)
    assert hits[0][0].content == "postgres replication lag alert"
    assert hits[0][1] >= hits[1][1] > 0
    assert hits[0][0].embedding == pytest.approx(hash_embed(["postgres replication lag alert"])[0])
    assert [r.content for r, _ in storage.search(query, scope_prefix="/sales")] == [
        "quarterly sales grew strongly"
    ]
    assert [r.content for r, _ in storage.search(query, categories=["db"])] == [
        "postgres vacuum settings tuned"
    ]
    assert storage.search(query, min_score=0.99) == []
    with pytest.raises(EmbeddingDimensionMismatchError):
        storage.search([1.0, 0.0, 0.0])


def test_crewai_memory_over_memtrace_storage(client: Memtrace) -> None:
    """CrewAI's own Memory (embedder + LLM analysis) with memtrace as the store; all fields given, so the
    save needs no LLM, and shallow recall needs none either."""
    memory = Memory(storage=MemtraceStorage(client), embedder=hash_embed, llm=ScriptedLLM(model="scripted"))
    memory.remember("postgres failover takes ninety seconds", scope="/ops", categories=["db"], importance=0.7)
    memory.remember("the sales kickoff is in Lisbon", scope="/sales", categories=["events"], importance=0.4)

    matches = memory.recall("postgres failover", depth="shallow")
    assert matches[0].record.content == "postgres failover takes ninety seconds"
    assert memory.list_scopes() == ["/ops", "/sales"]
    assert memory.forget(scope="/sales") == 1
    (remaining,) = memory.list_records()
    memory.update(remaining.id, content="postgres failover takes thirty seconds")
    assert memory.recall("failover thirty", depth="shallow")[0].record.content.endswith("thirty seconds")
    memory.reset()
    assert memory.list_records() == []


async def test_async_members(client: Memtrace) -> None:
    storage = MemtraceStorage(client)
    await storage.asave([record("async saved fact")])
    hits = await storage.asearch(hash_embed(["async saved fact"])[0])
    assert hits[0][0].content == "async saved fact"
    assert await storage.adelete(record_ids=[hits[0][0].id]) == 1
    assert storage.count() == 0


def test_partitions_are_isolated(open_client: ClientFactory, unique: Callable[[str], str]) -> None:
    client = open_client()
    one = MemtraceStorage(client, crew_id=unique("one"))
    two = MemtraceStorage(client, crew_id=unique("two"))
    one.save([record("only in one")])
    two.save([record("only in two")])

    one.reset()

    assert one.count() == 0
    assert [r.content for r in two.list_records()] == ["only in two"]
    assert two.get_record(two.list_records()[0].id) is not None
    assert one.get_record(two.list_records()[0].id) is None


def test_save_stores_distinct_records_with_the_same_text_and_scope(
    open_client: ClientFactory, unique: Callable[[str], str]
) -> None:
    """StorageBackend.save stores what it is given, keyed by id (LanceDB keeps both rows too)."""
    storage = MemtraceStorage(open_client(), crew_id=unique("crew"))
    first = record("deploys happen on tuesdays", "/ops", ["schedule"])
    second = record("deploys happen on tuesdays", "/ops", ["policy"])
    storage.save([first])
    storage.save([second])

    assert storage.count() == 2
    got = storage.get_record(second.id)
    assert got is not None and got.categories == ["policy"]
    assert storage.delete(record_ids=[second.id]) == 1
    assert [r.id for r in storage.list_records()] == [first.id]


def test_saving_the_same_record_twice_keeps_one(client: Memtrace) -> None:
    storage = MemtraceStorage(client)
    same = record("one record, saved twice")
    storage.save([same, same])
    storage.save([same])
    assert [r.id for r in storage.list_records()] == [same.id]


def test_mixed_embedding_dimensions_are_refused_at_save_and_update(
    open_client: ClientFactory, unique: Callable[[str], str]
) -> None:
    """As LanceDB and Qdrant-edge: the error comes at write time, and nothing is written."""
    client = open_client()
    crew = unique("crew")
    storage = MemtraceStorage(client, crew_id=crew)
    storage.save([record("sixty-four dimensions")])
    small = MemoryRecord(content="three dimensions", embedding=[1.0, 0.0, 0.0])

    with pytest.raises(EmbeddingDimensionMismatchError) as raised:
        storage.save([small])
    assert (raised.value.stored_dim, raised.value.new_dim) == (64, 3)
    with pytest.raises(EmbeddingDimensionMismatchError):
        MemtraceStorage(client, crew_id=crew).save([small])  # a fresh handle learns the size from the store
    with pytest.raises(EmbeddingDimensionMismatchError):
        storage.save(
            [MemoryRecord(content="a", embedding=[1.0, 0.0]), MemoryRecord(content="b", embedding=[1.0])]
        )
    (stored,) = storage.list_records()
    with pytest.raises(EmbeddingDimensionMismatchError):
        storage.update(stored.model_copy(update={"embedding": [1.0, 0.0, 0.0]}))

    assert [r.content for r in storage.list_records()] == ["sixty-four dimensions"]
    assert storage.search(hash_embed(["sixty-four dimensions"])[0])[0][0].content == "sixty-four dimensions"
    # After a reset the partition takes any size again, as a fresh LanceDB table does.
    storage.reset()
    storage.save([small])
    assert storage.count() == 1


def test_vector_dim_fixes_the_size_before_anything_is_stored(client: Memtrace) -> None:
    """As ``LanceDBStorage(vector_dim=4)``: CrewAI's migration message, before the first save."""
    storage = MemtraceStorage(client, vector_dim=4)
    with pytest.raises(EmbeddingDimensionMismatchError) as raised:
        storage.save([MemoryRecord(content="eight", embedding=[0.1] * 8)])
    assert "4-dimensional" in str(raised.value) and "crewai reset-memories" in str(raised.value)
    storage.save([MemoryRecord(content="four", embedding=[0.1] * 4)])
    assert len(storage.search([0.1] * 4)) == 1
    with pytest.raises(ValueError, match="vector_dim"):
        MemtraceStorage(client, vector_dim=0)


# ---------------------------------------------------------------------------- process-wide default

TASK = "Summarise what we know about the failover drill"
MEMORY_REPLIES = {
    "extract_memories_system": {"memories": ["The failover drill took ninety seconds."]},
    "save_system": {"suggested_scope": "/drills", "categories": ["ops"], "importance": 0.7},
    "consolidation_system": {"actions": [], "insert_new": True, "insert_reason": ""},
    "query_system": {"recall_queries": ["failover drill"], "complexity": "simple"},
}


@pytest.fixture
def default_storage(client: Memtrace) -> Iterator[Memtrace]:
    use_memtrace_storage(client)
    yield client
    restore_default_storage()


def test_crew_memory_true_stores_in_memtrace_when_made_the_default(default_storage: Memtrace) -> None:
    client = default_storage
    llm = ScriptedLLM(
        model="scripted", turns={TASK: [final("Ninety seconds.")]}, memory_replies=MEMORY_REPLIES
    )
    agent = Agent(role="SRE", goal="Keep it up", backstory="On call", llm=llm)
    crew = Crew(
        agents=[agent],
        tasks=[Task(description=TASK, expected_output="A summary", agent=agent)],
        process=Process.sequential,
        memory=True,
        embedder={"provider": "custom", "config": {"embedding_callable": HashEmbedding}},
    )
    assert isinstance(crew._memory._storage, MemtraceStorage)

    crew.kickoff()

    (stored,) = client.list_memories(ListOptions(tags=["crewai"])).memories
    assert stored.content == "The failover drill took ninety seconds."
    assert stored.agent_id == "sre"  # CrewAI filed it under /crew/crew/agent/sre
    assert stored.metadata is not None and len(stored.metadata["_crewai"]["embedding"]) == 64
    # A later Memory() anywhere in the process recalls it from memtrace.
    later = Memory(embedder=hash_embed, llm=llm)
    assert later.recall("failover drill", depth="shallow")[0].record.content == stored.content


def test_restore_default_storage_brings_back_crewai_stores(client: Memtrace) -> None:
    factory = use_memtrace_storage(client)
    assert factory("qdrant-edge") is None and factory("/some/path") is None  # only the default spec
    assert isinstance(resolve_memory_storage("lancedb"), MemtraceStorage)
    restore_default_storage()
    # None: Memory() falls back to its built-in LanceDB store again (not built here: lancedb imports slowly).
    assert resolve_memory_storage("lancedb") is None
