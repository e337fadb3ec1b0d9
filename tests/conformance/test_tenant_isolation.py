"""Tenant isolation as a property: whatever org B does, it never reads, counts or deletes org A's data."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memtrace import AddMemoryRequest, CreateSessionRequest, ListOptions, NotFoundError, SearchQuery
from memtrace.engine import Engine

from .conftest import StoreFactory, make_engine

words = st.sampled_from(["alpha", "beta", "gamma", "deploy", "secret", "billing", "mode", "dark"])
contents = st.lists(words, min_size=1, max_size=6).map(" ".join)
agents = st.sampled_from(["agent_1", "agent_2", "shared_agent"])
sessions = st.sampled_from([None, "sess_1", "shared_session"])
memory = st.builds(
    lambda c, a, s, i: AddMemoryRequest(content=c, agent_id=a, session_id=s, importance=i, dedup_key=None),
    contents,
    agents,
    sessions,
    st.one_of(st.none(), st.floats(0, 1)),
)


def _fingerprint(engine: Engine, org: str) -> list[tuple[str, str]]:
    listed = engine.list_memories(org, ListOptions(limit=1000, order="asc")).memories
    return [(m.id, m.content) for m in listed]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a_memories=st.lists(memory, min_size=1, max_size=8),
    b_memories=st.lists(memory, max_size=8),
    query=contents,
    agent=agents,
    session=sessions,
)
def test_org_b_never_sees_or_touches_org_a(
    store_factory: StoreFactory, tmp_path_factory, a_memories, b_memories, query, agent, session
) -> None:
    directory: Path = tmp_path_factory.mktemp("iso")
    with store_factory(directory) as stores:
        engine = make_engine(stores, dedup_enabled=False)
        written_a = engine.add_memories("org_a", a_memories)
        if b_memories:
            engine.add_memories("org_b", b_memories)
        engine.create_session("org_a", CreateSessionRequest(agent_id="agent_1", id="shared_session"))
        before = _fingerprint(engine, "org_a")
        a_ids = {m.id for m in written_a}

        # Reads and counts from B see only B.
        for result in (
            engine.list_memories("org_b", ListOptions(agent_id=agent, limit=1000)).memories,
            engine.search_memories("org_b", SearchQuery(query=query, limit=1000)).results,
            engine.search_memories(
                "org_b", SearchQuery(content_contains=query.split()[0], limit=1000)
            ).results,
        ):
            assert all(m.org_id == "org_b" and m.id not in a_ids for m in result)
        stats = engine.get_agent_stats("org_b", agent)
        assert stats.memory_count == sum(1 for m in b_memories if m.agent_id == agent)
        for memory_id in a_ids:
            try:
                engine.get_memory("org_b", memory_id)
                raise AssertionError("org B read org A's memory by id")
            except NotFoundError:
                pass
            try:
                engine.delete_memory("org_b", memory_id)
                raise AssertionError("org B deleted org A's memory by id")
            except NotFoundError:
                pass
        try:
            engine.get_session("org_b", "shared_session")
            raise AssertionError("org B read org A's session")
        except NotFoundError:
            pass

        # Deletes from B, by any filter, leave A exactly as it was.
        engine.delete_memories("org_b", agent_id=agent)
        if session:
            engine.delete_memories("org_b", session_id=session)
        engine.delete_memories("org_b", since="3650d")
        assert _fingerprint(engine, "org_a") == before
        engine.close()


def _ranking(engine: Engine, org: str, query: str) -> list[tuple[str, float | None]]:
    found = engine.search_memories(org, SearchQuery(query=query, limit=1000)).results
    return [(m.id, m.score) for m in found]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a_memories=st.lists(memory, min_size=1, max_size=8),
    b_memories=st.lists(memory, min_size=1, max_size=12),
    query=contents,
)
def test_another_orgs_writes_never_change_my_results_or_scores(
    store_factory: StoreFactory, tmp_path_factory, a_memories, b_memories, query
) -> None:
    """Search statistics are per organisation (invariant 2): what org B stores or deletes never moves org A's
    ranking or scores, so a score cannot tell A whether B stored a word."""
    directory: Path = tmp_path_factory.mktemp("iso-scores")
    with store_factory(directory) as stores:
        engine = make_engine(stores, dedup_enabled=False)
        engine.add_memories("org_a", a_memories)
        alone = _ranking(engine, "org_a", query)
        engine.add_memories("org_b", b_memories)
        engine.add_memories("org_b", [AddMemoryRequest(agent_id="agent_1", content=query)] * 3)
        assert _ranking(engine, "org_a", query) == alone
        engine.delete_memories("org_b", since="3650d")
        assert _ranking(engine, "org_a", query) == alone
        engine.close()
