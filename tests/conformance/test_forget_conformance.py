"""Forgetting a subject, on every store: afterwards no route reaches it (list, ranked search, get by id, stats,
context, sessions, agents), no search score still counts it, the receipt says what went, and no other
organisation is touched (a hypothesis property, like test_tenant_isolation.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memtrace import (
    AddMemoryRequest,
    ContextOptions,
    CreateSessionRequest,
    ForgetRequest,
    ListOptions,
    Memory,
    NotFoundError,
    RegisterAgentRequest,
    SearchQuery,
    ValidationError,
)
from memtrace.engine import Engine
from memtrace.records import MemoryFilter

from .conftest import StoreFactory, make_engine

ALICE_WORDS = "alice prefers tea and lives in lisbon"


def _seed(engine: Engine, org: str) -> dict[str, list[str]]:
    """Alice (registered, two sessions), Bob sharing one of her sessions' words, in `org`."""
    engine.register_agent(org, RegisterAgentRequest(name="alice"))
    engine.create_session(org, CreateSessionRequest(agent_id="alice", id="s_alice_1"))
    engine.create_session(org, CreateSessionRequest(agent_id="alice", id="s_alice_2"))
    engine.create_session(org, CreateSessionRequest(agent_id="bob", id="s_bob"))
    alice = engine.add_memories(
        org,
        [
            AddMemoryRequest(
                agent_id="alice", content=f"{ALICE_WORDS} {i}", session_id=f"s_alice_{1 + i % 2}"
            )
            for i in range(6)
        ]
        + [AddMemoryRequest(agent_id="alice", content="alice decided on tea", memory_type="decision")],
    )
    bob = engine.add_memories(
        org,
        [
            AddMemoryRequest(agent_id="bob", content=f"bob drinks tea in porto {i}", session_id="s_bob")
            for i in range(3)
        ],
    )
    return {"alice": [m.id for m in alice], "bob": [m.id for m in bob]}


def _reachable(engine: Engine, org: str, agent: str, ids: list[str], sessions: list[str]) -> list[str]:
    """Every way a route could still show something of `agent`: what it finds, by route."""
    found: list[str] = []
    listed = engine.list_memories(org, ListOptions(limit=1000)).memories
    found += [f"list:{m.id}" for m in listed if m.agent_id == agent or m.id in ids]
    found += [f"list-agent:{m.id}" for m in engine.list_memories(org, ListOptions(agent_id=agent)).memories]
    for text in (ALICE_WORDS, "tea", "alice"):
        ranked = engine.search_memories(org, SearchQuery(query=text, limit=1000)).results
        found += [f"search:{m.id}" for m in ranked if m.agent_id == agent or m.id in ids]
    plain = engine.search_memories(org, SearchQuery(content_contains="alice", limit=1000)).results
    found += [f"contains:{m.id}" for m in plain]
    for memory_id in ids:
        try:
            engine.get_memory(org, memory_id)
            found.append(f"get:{memory_id}")
        except NotFoundError:
            pass
    stats = engine.get_agent_stats(org, agent)
    if stats.memory_count or stats.session_count or stats.memory_types:
        found.append(f"stats:{stats}")
    found += [f"types:{t}" for t in engine.count_memories_by_type(org, agent_id=agent)]
    for session_id in sessions:
        try:
            context = engine.get_session_context(org, session_id, ContextOptions(since="3650d"))
            found.append(f"context:{context.memory_count}")
        except NotFoundError:
            pass
    found += [f"session:{s.id}" for s in engine.list_sessions(org).sessions if s.agent_id == agent]
    found += [f"agent:{a.id}" for a in engine.list_agents(org).agents if agent in (a.id, a.name)]
    return found


def test_forgetting_an_agent_leaves_nothing_of_it_reachable(engine: Engine) -> None:
    ids = _seed(engine, "org_a")
    _seed(engine, "org_b")
    sessions = ["s_alice_1", "s_alice_2"]
    assert _reachable(engine, "org_a", "alice", ids["alice"], sessions)  # the check finds her before

    receipt = engine.forget("org_a", ForgetRequest(agent_id="alice"))

    assert receipt.org_id == "org_a" and receipt.subject == {"agent_id": "alice"}
    assert receipt.removed == {"memories": 7, "sessions": 2, "agents": 1}
    assert receipt.started_at <= receipt.finished_at and receipt.batches >= 1
    assert _reachable(engine, "org_a", "alice", ids["alice"], sessions) == []
    # Bob keeps everything, and org_b's Alice is untouched.
    assert {m.id for m in engine.list_memories("org_a", ListOptions(agent_id="bob")).memories} == set(
        ids["bob"]
    )
    assert engine.get_session("org_a", "s_bob").agent_id == "bob"
    assert len(_reachable(engine, "org_b", "alice", [], sessions)) > 0
    assert engine.get_agent_stats("org_b", "alice").memory_count == 7
    # Forgetting again finds nothing more: what an interrupted forget's re-run does.
    again = engine.forget("org_a", ForgetRequest(agent_id="alice"))
    assert again.removed == {"memories": 0, "sessions": 0, "agents": 0}


def test_forgetting_a_session_or_a_filter(engine: Engine) -> None:
    ids = _seed(engine, "org_a")
    session = engine.forget("org_a", ForgetRequest(session_id="s_alice_1"))
    assert session.removed == {"memories": 3, "sessions": 1, "agents": 0}
    with pytest.raises(NotFoundError):
        engine.get_session_context("org_a", "s_alice_1")
    with pytest.raises(NotFoundError):
        engine.get_session("org_a", "s_alice_1")
    assert engine.get_session("org_a", "s_alice_2").agent_id == "alice"  # her other session stays

    # Narrower than a whole agent: memories only, and only those matching every condition.
    tagged = engine.add_memories(
        "org_a",
        [
            AddMemoryRequest(agent_id="alice", content="tagged note", tags=["pii", "x"]),
            AddMemoryRequest(agent_id="alice", content="other tagged note", tags=["x"]),
        ],
    )
    by_tag = engine.forget("org_a", ForgetRequest(agent_id="alice", tags=["pii"]))
    assert by_tag.removed == {"memories": 1, "sessions": 0, "agents": 0}
    remaining = {m.id for m in engine.list_memories("org_a", ListOptions(agent_id="alice")).memories}
    assert tagged[0].id not in remaining and tagged[1].id in remaining
    assert engine.get_session("org_a", "s_alice_2") is not None
    assert engine.get_agent("org_a", "alice").name == "alice"

    by_ids = engine.forget("org_a", ForgetRequest(memory_ids=ids["bob"][:2]))
    assert by_ids.removed["memories"] == 2
    window = engine.forget("org_a", ForgetRequest(since="1h", until="2000-01-01T00:00:00Z"))
    assert window.removed["memories"] == 0  # an empty window removes nothing


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ForgetRequest(), "filter"),
        (ForgetRequest(memory_ids=[]), "memory_ids"),
        (ForgetRequest(agent_id="bad id"), "agent_id"),
        (ForgetRequest(tags=["has space"]), "tags[0]"),
        (ForgetRequest(since="yesterday"), "since"),
    ],
)
def test_a_forget_that_names_nothing_or_something_invalid_is_refused(
    engine: Engine, request_: ForgetRequest, field: str
) -> None:
    engine.add_memory("org_a", AddMemoryRequest(agent_id="a1", content="stays"))
    with pytest.raises(ValidationError) as exc:
        engine.forget("org_a", request_)
    assert exc.value.field == field
    assert engine.list_memories("org_a").count == 1


def _scores(engine: Engine, org: str, query: str) -> list[tuple[str, float | None]]:
    found = engine.search_memories(org, SearchQuery(query=query, limit=1000)).results
    return sorted((m.content, m.score) for m in found)


def test_scores_after_forgetting_equal_a_store_that_never_had_the_subject(
    engine_factory,
) -> None:
    """The keyword index forgets too: document counts, lengths and term frequencies no longer count the
    subject, so a later score cannot reveal that it was ever there."""
    forgot, never = engine_factory(dedup_enabled=False), engine_factory(dedup_enabled=False)
    others = [
        AddMemoryRequest(agent_id="bob", content=text)
        for text in ("tea in porto", "coffee in lisbon", "tea tea and more tea", "the lisbon office")
    ]
    subject = [AddMemoryRequest(agent_id="alice", content=f"{ALICE_WORDS} tea lisbon {i}") for i in range(20)]
    forgot.add_memories("org_a", others[:2])
    forgot.add_memories("org_a", subject)
    forgot.add_memories("org_a", others[2:])
    never.add_memories("org_a", others)
    for query in ("tea", "lisbon", "tea lisbon office"):
        _scores(forgot, "org_a", query)  # index what is pending before the forget
    forgot.forget("org_a", ForgetRequest(agent_id="alice"))
    for query in ("tea", "lisbon", "tea lisbon office", "alice tea"):
        assert _scores(forgot, "org_a", query) == _scores(never, "org_a", query), query


# ------------------------------------------------------------------------------------- isolation

agents = st.sampled_from(["agent_1", "agent_2", "shared_agent"])
sessions = st.sampled_from([None, "sess_1", "shared_session"])
tags = st.lists(st.sampled_from(["pii", "x", "y"]), max_size=2, unique=True)
some_tags = st.lists(st.sampled_from(["pii", "x", "y"]), min_size=1, max_size=2, unique=True)
memory = st.builds(
    lambda c, a, s, t: AddMemoryRequest(content=c, agent_id=a, session_id=s, tags=t or None, dedup_key=None),
    st.lists(st.sampled_from(["alpha", "tea", "lisbon", "secret"]), min_size=1, max_size=4).map(" ".join),
    agents,
    sessions,
    tags,
)
subjects = st.one_of(
    agents.map(lambda a: ForgetRequest(agent_id=a)),
    st.sampled_from(["sess_1", "shared_session"]).map(lambda s: ForgetRequest(session_id=s)),
    st.tuples(agents, some_tags).map(lambda t: ForgetRequest(agent_id=t[0], tags=t[1])),
    some_tags.map(lambda t: ForgetRequest(tags=t)),
)


def _everything(engine: Engine, org: str) -> tuple[object, ...]:
    listed = engine.list_memories(org, ListOptions(limit=1000, order="asc")).memories
    ranked = engine.search_memories(org, SearchQuery(query="alpha tea lisbon secret", limit=1000)).results
    return (
        [(m.id, m.content) for m in listed],
        sorted((m.id, m.score) for m in ranked),
        [(s.id, s.agent_id) for s in engine.list_sessions(org).sessions],
        [a.name for a in engine.list_agents(org).agents],
    )


def _matches(m: AddMemoryRequest | Memory, req: ForgetRequest) -> bool:
    wanted = req.tags if isinstance(req.tags, list) else []
    return (
        (req.agent_id is None or m.agent_id == req.agent_id)
        and (req.session_id is None or m.session_id == req.session_id)
        and all(t in (m.tags or []) for t in wanted)
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a_memories=st.lists(memory, min_size=1, max_size=8),
    b_memories=st.lists(memory, min_size=1, max_size=8),
    subject=subjects,
)
def test_forgetting_in_org_b_never_touches_org_a(
    store_factory: StoreFactory, tmp_path_factory, a_memories, b_memories, subject
) -> None:
    directory: Path = tmp_path_factory.mktemp("forget-iso")
    with store_factory(directory) as stores:
        engine = make_engine(stores, dedup_enabled=False)
        for org, memories in (("org_a", a_memories), ("org_b", b_memories)):
            engine.add_memories(org, memories)
            engine.register_agent(org, RegisterAgentRequest(name="shared_agent"))
            engine.create_session(org, CreateSessionRequest(agent_id="shared_agent", id="shared_session"))
        before = _everything(engine, "org_a")

        receipt = engine.forget("org_b", subject)

        assert _everything(engine, "org_a") == before
        expected = [m for m in b_memories if _matches(m, subject)]
        assert receipt.removed["memories"] == len(expected)
        left = engine.list_memories("org_b", ListOptions(limit=1000)).memories
        assert len(left) == len(b_memories) - len(expected)
        assert not [m for m in left if _matches(m, subject)]
        engine.close()


# ------------------------------------------------------------------------------------ the store seams


def test_delete_batch_deletes_at_most_its_limit_and_only_matches(engine: Engine) -> None:
    """`EventStore.delete_batch`: bounded steps that together delete exactly what the filter matches (Arc may
    take everything in one step)."""
    engine.add_memories("org_a", [AddMemoryRequest(agent_id="a1", content=f"m {i}") for i in range(25)])
    engine.add_memories("org_a", [AddMemoryRequest(agent_id="a2", content=f"m {i}") for i in range(5)])
    engine.add_memories("org_b", [AddMemoryRequest(agent_id="a1", content=f"m {i}") for i in range(5)])
    flt = MemoryFilter(agent_id="a1")
    steps = []
    while True:
        steps.append(engine.events.delete_batch("org_a", flt, limit=10))
        if steps[-1] < 10:
            break
    assert sum(steps) == 25 and steps[-1] < 10
    assert all(n <= 10 for n in steps) or steps == [25, 0]  # bounded, or Arc's one step
    assert engine.events.count("org_a", MemoryFilter()) == 5
    assert engine.events.count("org_b", MemoryFilter()) == 5


def test_delete_sessions_by_agent_or_id(engine: Engine) -> None:
    meta = engine.metadata
    for org in ("org_a", "org_b"):
        for sid, agent in (("s1", "alice"), ("s2", "alice"), ("s3", "bob")):
            engine.create_session(org, CreateSessionRequest(agent_id=agent, id=sid))
    assert meta.delete_sessions("org_a", agent_id="alice", session_id="s3") == 0  # s3 is bob's
    assert meta.delete_sessions("org_a", agent_id=None, session_id="s1") == 1
    assert meta.delete_sessions("org_a", agent_id="alice", session_id=None) == 1
    assert [s.id for s in meta.list_sessions("org_a", None)] == ["s3"]
    assert len(meta.list_sessions("org_b", None)) == 3


def test_deleting_an_organisation_answers_a_receipt_and_leaves_the_others(engine: Engine) -> None:
    for org in ("org_a", "org_b"):
        engine.ensure_org(org, org)
        _seed(engine, org)
    engine.metadata.create_api_key("org_a", "k", "hash", "prefix_a", "read", 1)
    before = _everything(engine, "org_b")

    receipt = engine.purge_org("org_a")

    assert receipt.subject == {"org_id": "org_a"}
    assert receipt.removed == {"memories": 10, "sessions": 3, "agents": 1, "api_keys": 1}
    assert _everything(engine, "org_b") == before
    with pytest.raises(NotFoundError):
        engine.get_org("org_a")
    engine.ensure_org("org_a", "again")  # the same id starts empty
    assert _everything(engine, "org_a") == ([], [], [], [])
    assert engine.get_agent_stats("org_a", "alice").memory_count == 0
