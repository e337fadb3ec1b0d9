"""Expiry and retention on every store: an expired memory is gone for every read from the moment it expires, a
sweep deletes it for good, retention rules apply per memory type, and a sweep never touches another org.

Time moves through `Engine.wall_clock` (the time reads and sweeps go by), never by sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memtrace import AddMemoryRequest, ListOptions, NotFoundError, SearchQuery
from memtrace.engine import Engine
from memtrace.models import ContextOptions, CreateSessionRequest, Memory
from memtrace.timeparse import now_us, to_us

from .conftest import StoreFactory, make_engine

ORG = "org_a"
OTHER = "org_b"
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def add(engine: Engine, content: str, org: str = ORG, **fields: object) -> Memory:
    fields.setdefault("agent_id", "agent_1")
    return engine.add_memory(org, AddMemoryRequest(content=content, **fields))


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def everything_visible(engine: Engine, memory: Memory) -> dict[str, bool]:
    """Whether `memory` shows through each read route (it is in session s1 of agent_1, content has 'walrus')."""
    session = engine.get_session_context(ORG, "s1", ContextOptions(since="7d"))
    try:
        engine.get_memory(ORG, memory.id)
        got = True
    except NotFoundError:
        got = False
    histogram = engine.memory_histogram(
        ORG, start_us=to_us(memory.time) - HOUR_US, bucket_us=2 * HOUR_US, buckets=1, agent_id="agent_1"
    )
    return {
        "list": memory.id in {m.id for m in engine.list_memories(ORG).memories},
        "search ranked": memory.id
        in {m.id for m in engine.search_memories(ORG, SearchQuery(query="walrus")).results},
        "search filtered": memory.id
        in {m.id for m in engine.search_memories(ORG, SearchQuery(content_contains="walrus")).results},
        "get": got,
        "session memories": memory.id
        in {m.id for m in engine.get_session_memories(ORG, "s1", ListOptions(since="7d")).memories},
        "context": "walrus" in session.context,
        "count": engine.count_memories(ORG, agent_id="agent_1") == 2,
        "count by type": engine.count_memories_by_type(ORG).get("decision", 0) == 1,
        "agent stats": engine.get_agent_stats(ORG, "agent_1").memory_count == 2,
        "histogram": histogram == [2],
    }


def test_an_expired_memory_is_not_returned_by_any_read_from_the_moment_it_expires(engine: Engine) -> None:
    engine.create_session(ORG, CreateSessionRequest(agent_id="agent_1", id="s1"))
    doomed = add(engine, "the walrus ate the plan", session_id="s1", memory_type="decision", ttl="1h")
    add(engine, "a memory that stays", session_id="s1")
    assert doomed.expires_at is not None
    expires = to_us(doomed.expires_at)
    assert abs(expires - (to_us(doomed.time) + HOUR_US)) < 5_000_000

    engine.wall_clock = lambda: expires - 1
    assert all(everything_visible(engine, doomed).values()), everything_visible(engine, doomed)
    assert engine.get_memory(ORG, doomed.id).expires_at == doomed.expires_at

    engine.wall_clock = lambda: expires
    seen = everything_visible(engine, doomed)
    assert not any(seen.values()), seen
    assert engine.count_memories(ORG, agent_id="agent_1") == 1


def test_a_sweep_deletes_what_expired_for_good_in_batches(engine: Engine) -> None:
    engine.ensure_org(ORG, "A")
    doomed = [add(engine, f"short lived {i}", ttl="2h") for i in range(5)]
    kept = add(engine, "kept for later", ttl="30d")
    forever = add(engine, "never expires")
    expires = max(to_us(m.expires_at) for m in doomed if m.expires_at)

    dry = engine.sweep(now=expires, dry_run=True)
    assert dry.dry_run and dry.by_org() == {ORG: {"expired": {"episodic": 5}}}
    report = engine.sweep(now=expires, batch=2)
    assert report.by_org() == {ORG: {"expired": {"episodic": 5}}}
    assert report.complete and report.batches == 3
    (entry,) = engine.audit.list(org_id=ORG, action="retention.run").entries
    assert entry.counts == {"expired.episodic": 5, "memories": 5}
    # Deleted, not hidden: even as of before they expired they are not there any more.
    engine.wall_clock = lambda: expires - 3 * HOUR_US
    assert {m.id for m in engine.list_memories(ORG).memories} == {kept.id, forever.id}
    assert engine.sweep(now=expires).total == 0


def test_a_sweep_stops_when_told_and_the_next_one_takes_the_rest(engine: Engine) -> None:
    engine.ensure_org(ORG, "A")
    for i in range(5):
        add(engine, f"short lived {i}", ttl="1h")
    later = now_us() + 2 * HOUR_US
    first = engine.sweep(now=later, batch=2, max_batches=1)
    assert not first.complete and first.total == 2
    assert engine.sweep(now=later, batch=2).total == 3


def test_retention_applies_per_memory_type(engine: Engine) -> None:
    engine.ensure_org(ORG, "A")
    old_episode = add(engine, "an old episode", time=ago(40))
    old_decision = add(engine, "an old decision", time=ago(40), memory_type="decision")
    old_entity = add(engine, "an old entity", time=ago(40), memory_type="entity")
    recent = add(engine, "a recent episode", time=ago(10))
    engine.set_retention(ORG, "*", "30d")
    engine.set_retention(ORG, "decision", "forever")
    engine.set_retention(ORG, "entity", "60d")
    assert {(r.memory_type, r.keep) for r in engine.get_retention(ORG)} == {
        ("*", "30d"),
        ("decision", "forever"),
        ("entity", "60d"),
    }

    dry = engine.sweep(dry_run=True)
    assert dry.by_org() == {ORG: {"retention": {"episodic": 1}}}
    assert engine.sweep().by_org() == {ORG: {"retention": {"episodic": 1}}}
    left = {m.id for m in engine.list_memories(ORG, ListOptions(since="100d")).memories}
    assert left == {old_decision.id, old_entity.id, recent.id}
    assert old_episode.id not in left

    assert engine.clear_retention(ORG, "decision") == 1
    assert engine.sweep().by_org() == {ORG: {"retention": {"decision": 1}}}
    assert engine.clear_retention(ORG) == 2
    assert engine.get_retention(ORG) == []


def test_a_sweep_never_touches_another_org(engine: Engine) -> None:
    engine.ensure_org(ORG, "A")
    engine.ensure_org(OTHER, "B")
    mine = add(engine, "mine expires", ttl="1h")
    theirs_expiring = add(engine, "theirs expires too", org=OTHER, ttl="1h")
    theirs_old = add(engine, "theirs is old", org=OTHER, time=ago(40))
    engine.set_retention(ORG, None, "1d")
    later = now_us() + 2 * HOUR_US

    report = engine.sweep(org_id=ORG, now=later)
    assert set(report.by_org()) == {ORG}
    engine.wall_clock = lambda: later - 2 * HOUR_US  # before anything expired
    assert mine.id not in {m.id for m in engine.list_memories(ORG).memories}
    theirs = {m.id for m in engine.list_memories(OTHER, ListOptions(since="100d")).memories}
    assert theirs == {theirs_expiring.id, theirs_old.id}

    # A sweep of every org applies each org's own policy: OTHER has none, so only its expired memory goes.
    engine.wall_clock = now_us
    assert engine.sweep(now=later).by_org() == {OTHER: {"expired": {"episodic": 1}}}
    assert [m.id for m in engine.list_memories(OTHER, ListOptions(since="100d")).memories] == [theirs_old.id]


@pytest.mark.parametrize("memory_type", ["*", "episodic"])
def test_retention_rules_belong_to_an_org(engine: Engine, memory_type: str) -> None:
    engine.ensure_org(ORG, "A")
    engine.ensure_org(OTHER, "B")
    engine.set_retention(ORG, memory_type, "7d")
    assert engine.get_retention(OTHER) == []
    assert engine.clear_retention(OTHER) == 0
    assert len(engine.get_retention(ORG)) == 1


# ------------------------------------------------------------------------------------------ as a property

_words = st.sampled_from(["alpha", "beta", "deploy", "secret", "billing", "dark"])
_memory = st.builds(
    lambda words, agent, memory_type, days_ago, ttl: AddMemoryRequest(
        content=" ".join(words),
        agent_id=agent,
        memory_type=memory_type,
        time=datetime.now(UTC) - timedelta(days=days_ago),
        ttl=ttl,
        dedup_key=None,
    ),
    st.lists(_words, min_size=1, max_size=4),
    st.sampled_from(["agent_1", "shared_agent"]),
    st.sampled_from(["episodic", "decision", "entity", "session"]),
    st.integers(0, 60),
    st.sampled_from([None, "1h", "30d"]),
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a_memories=st.lists(_memory, min_size=1, max_size=6),
    b_memories=st.lists(_memory, min_size=1, max_size=6),
    b_keep=st.sampled_from(["1h", "7d", "30d"]),
    b_type=st.sampled_from(["*", "episodic", "decision"]),
)
def test_sweeping_another_org_never_touches_mine(
    store_factory: StoreFactory,
    tmp_path_factory: pytest.TempPathFactory,
    a_memories: list[AddMemoryRequest],
    b_memories: list[AddMemoryRequest],
    b_keep: str,
    b_type: str,
) -> None:
    """Whatever org B stores, expires and keeps, a sweep (of B, or of every org) deletes none of A's memories
    that have not expired themselves."""
    with store_factory(tmp_path_factory.mktemp("sweep-iso")) as stores:
        engine = make_engine(stores, dedup_enabled=False)
        engine.ensure_org(ORG, "A")
        engine.ensure_org(OTHER, "B")
        engine.add_memories(ORG, a_memories)
        engine.add_memories(OTHER, b_memories)
        engine.set_retention(OTHER, b_type, b_keep)
        later = now_us() + 2 * HOUR_US  # the 1h ttls have expired, the 30d ones not

        def mine() -> list[str]:
            return [m.id for m in engine.list_memories(ORG, ListOptions(since="100d", limit=1000)).memories]

        engine.wall_clock = lambda: later
        before = mine()
        assert set(engine.sweep(org_id=OTHER, now=later).by_org()) <= {OTHER}
        assert mine() == before
        report = engine.sweep(now=later)
        assert mine() == before and not report.counts.get((ORG, "retention", "episodic"))
        engine.close()
