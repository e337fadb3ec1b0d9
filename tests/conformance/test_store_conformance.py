"""What every EventStore must do, exercised through the engine (the way users reach a store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from memtrace import (
    AddMemoryRequest,
    ConflictError,
    CreateSessionRequest,
    ListOptions,
    NotFoundError,
    SearchQuery,
    ValidationError,
)
from memtrace.engine import Engine

ORG = "org_a"


def add(engine: Engine, content: str, org: str = ORG, **fields: object):
    fields.setdefault("agent_id", "agent_1")
    return engine.add_memory(org, AddMemoryRequest(content=content, **fields))


def contents(memories) -> list[str]:
    return [m.content for m in memories]


def ago(**kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)


# --------------------------------------------------------------------------- filters


def test_filters_by_agent_session_type_and_event(engine: Engine) -> None:
    add(engine, "a1 plain", agent_id="agent_1")
    add(engine, "a2 plain", agent_id="agent_2")
    add(engine, "a1 in s1", agent_id="agent_1", session_id="s1")
    add(engine, "a1 decision", agent_id="agent_1", memory_type="decision", event_type="decision")
    add(engine, "a1 error", agent_id="agent_1", event_type="error")

    def listed(**opts: object) -> set[str]:
        return set(contents(engine.list_memories(ORG, ListOptions(**opts)).memories))

    assert listed(agent_id="agent_2") == {"a2 plain"}
    assert listed(session_id="s1") == {"a1 in s1"}
    assert listed(memory_type="decision") == {"a1 decision"}
    assert listed(event_type="error") == {"a1 error"}
    assert listed(agent_id="agent_1", event_type="general") == {"a1 plain", "a1 in s1"}
    assert len(listed()) == 5


def test_tags_match_whole_tags_and_are_anded(engine: Engine) -> None:
    add(engine, "both", tags=["billing", "urgent"])
    add(engine, "prefix only", tags=["bill", "urgent-ish"])
    add(engine, "billing only", tags=["billing"])

    def tagged(tags: str) -> set[str]:
        return set(contents(engine.list_memories(ORG, ListOptions(tags=tags)).memories))

    assert tagged("billing") == {"both", "billing only"}
    assert tagged("bill") == {"prefix only"}  # the original's substring match would also return the others
    assert tagged("billing, urgent") == {"both"}
    assert tagged("urgent") == {"both"}
    search = engine.search_memories(ORG, SearchQuery(tags=["billing", "urgent"]))
    assert contents(search.results) == ["both"]


def test_since_and_until_take_relative_and_iso_times(engine: Engine) -> None:
    add(engine, "3 days ago", time=ago(days=3))
    add(engine, "5 hours ago", time=ago(hours=5))
    add(engine, "now")
    assert contents(engine.list_memories(ORG, ListOptions(since="1d")).memories) == ["now", "5 hours ago"]
    assert contents(engine.list_memories(ORG, ListOptions(since="6h", until="1h")).memories) == [
        "5 hours ago"
    ]
    iso = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    assert contents(engine.list_memories(ORG, ListOptions(until=iso)).memories) == ["3 days ago"]
    assert len(engine.list_memories(ORG, ListOptions(since="2026-01-01", until="now")).memories) in (2, 3)


def test_since_is_exclusive_at_microsecond_precision(engine: Engine) -> None:
    t = datetime(2026, 3, 1, 12, 0, 0, 500, tzinfo=UTC)
    add(engine, "at t", time=t)
    assert engine.list_memories(ORG, ListOptions(since=t.isoformat())).memories == []
    before = (t - timedelta(microseconds=1)).isoformat()
    assert contents(engine.list_memories(ORG, ListOptions(since=before)).memories) == ["at t"]
    assert engine.list_memories(ORG, ListOptions(until=t.isoformat())).memories == []


def test_content_contains_is_case_insensitive_including_non_ascii(engine: Engine) -> None:
    add(engine, "The User prefers DARK mode")
    add(engine, "ÄPFEL und Birnen")
    add(engine, "100% sure_thing")
    assert contents(engine.search_memories(ORG, SearchQuery(content_contains="dark MODE")).results) == [
        "The User prefers DARK mode"
    ]
    assert contents(engine.search_memories(ORG, SearchQuery(content_contains="äpfel")).results) == [
        "ÄPFEL und Birnen"
    ]
    # Unicode case folding, both ways: "STRASSE" is in "straße", and "straße" in "STRASSE".
    add(engine, "Hauptstraße 5")
    add(engine, "NEBENSTRASSE 7")
    for needle in ("strasse", "STRASSE", "straße"):
        found = engine.search_memories(ORG, SearchQuery(content_contains=needle, order="asc")).results
        assert contents(found) == ["Hauptstraße 5", "NEBENSTRASSE 7"], needle
    # LIKE wildcards in the needle are literal characters.
    assert contents(engine.search_memories(ORG, SearchQuery(content_contains="0% s")).results) == [
        "100% sure_thing"
    ]
    assert contents(engine.search_memories(ORG, SearchQuery(content_contains="e_t")).results) == [
        "100% sure_thing"
    ]
    assert (
        engine.search_memories(ORG, SearchQuery(content_contains="s_re")).results == []
    )  # "_" is no wildcard


def test_search_filters_importance_types_and_event_types(engine: Engine) -> None:
    add(engine, "low", importance=0.1)
    add(engine, "high", importance=0.9, memory_type="entity")
    add(engine, "none")
    add(engine, "tool ran", event_type="tool_call")
    assert contents(engine.search_memories(ORG, SearchQuery(min_importance=0.5)).results) == ["high"]
    assert contents(engine.search_memories(ORG, SearchQuery(memory_types=["entity"])).results) == ["high"]
    assert contents(engine.search_memories(ORG, SearchQuery(event_types=["tool_call"])).results) == [
        "tool ran"
    ]


# ----------------------------------------------------------------- order and paging


def test_order_limit_offset_and_has_more(engine: Engine) -> None:
    for i in range(7):
        add(engine, f"m{i}")
    page1 = engine.list_memories(ORG, ListOptions(limit=3))
    assert contents(page1.memories) == ["m6", "m5", "m4"] and page1.has_more and page1.count == 3
    page3 = engine.list_memories(ORG, ListOptions(limit=3, offset=6))
    assert contents(page3.memories) == ["m0"] and not page3.has_more
    exact = engine.list_memories(ORG, ListOptions(limit=7))
    assert exact.count == 7 and not exact.has_more
    asc = engine.list_memories(ORG, ListOptions(order="asc", limit=2, offset=1))
    assert contents(asc.memories) == ["m1", "m2"]


def test_burst_writes_keep_their_order(engine: Engine) -> None:
    reqs = [AddMemoryRequest(agent_id="agent_1", session_id="burst", content=f"msg {i}") for i in range(50)]
    engine.add_memories(ORG, reqs)
    for i in range(50, 60):
        add(engine, f"msg {i}", session_id="burst")
    listed = engine.list_memories(ORG, ListOptions(session_id="burst", order="asc", limit=100)).memories
    assert contents(listed) == [f"msg {i}" for i in range(60)]
    assert [m.id for m in listed] == sorted(m.id for m in listed)


def test_backfilled_times_sort_by_time_not_insertion(engine: Engine) -> None:
    add(engine, "later", time=datetime(2026, 5, 2, tzinfo=UTC))
    add(engine, "earlier", time=datetime(2026, 5, 1, tzinfo=UTC))
    listed = engine.list_memories(ORG, ListOptions(order="asc")).memories
    assert contents(listed) == ["earlier", "later"]
    assert listed[0].time == datetime(2026, 5, 1, tzinfo=UTC)


# ------------------------------------------------------------------------ dedup


def test_duplicate_single_add_conflicts_and_batch_skips(engine: Engine) -> None:
    first = add(engine, "User prefers dark mode")
    assert first.dedup_key == "e81f1de3b743bacd47421867ad0574e4"
    with pytest.raises(ConflictError):
        add(engine, "User prefers dark mode")
    add(engine, "User prefers dark mode", agent_id="agent_2")  # another agent: another key
    add(engine, "User prefers dark mode", event_type="note")  # another event type: another key
    batch = engine.add_memories(
        ORG,
        [
            AddMemoryRequest(agent_id="agent_1", content="User prefers dark mode"),  # stored already
            AddMemoryRequest(agent_id="agent_1", content="fresh"),
            AddMemoryRequest(agent_id="agent_1", content="fresh"),  # earlier in the same batch
            AddMemoryRequest(agent_id="agent_1", content="also fresh"),
        ],
    )
    assert contents(batch) == ["fresh", "also fresh"] and batch.skipped == 2
    assert engine.search_memories(ORG, SearchQuery(content_contains="fresh")).count == 2


def test_dedup_window_edges(engine_factory) -> None:
    engine = engine_factory(dedup_window_hours=2)
    add(engine, "old news", time=ago(hours=3))
    add(engine, "old news")  # the earlier copy is outside the window
    add(engine, "recent", time=ago(hours=1, minutes=59))
    with pytest.raises(ConflictError):
        add(engine, "recent")


def test_explicit_dedup_keys_and_dedup_off(engine_factory) -> None:
    engine = engine_factory()
    add(engine, "ok", dedup_key="msg-1")
    add(engine, "ok", dedup_key="msg-2")
    with pytest.raises(ConflictError):
        add(engine, "something else", dedup_key="msg-1")
    off = engine_factory(dedup_enabled=False)
    add(off, "same")
    add(off, "same")
    assert off.list_memories(ORG).count == 2
    assert off.list_memories(ORG).memories[0].dedup_key is None


def test_dedup_is_per_org(engine: Engine) -> None:
    add(engine, "shared text", org="org_a")
    add(engine, "shared text", org="org_b")


# -------------------------------------------------------------------- get / delete


def test_get_and_delete_by_id(engine: Engine) -> None:
    m = add(engine, "to delete", tags=["x"], metadata={"k": [1, 2, {"n": None}]}, importance=0.25)
    got = engine.get_memory(ORG, m.id)
    assert got.model_dump() == m.model_dump()
    engine.delete_memory(ORG, m.id)
    with pytest.raises(NotFoundError):
        engine.get_memory(ORG, m.id)
    with pytest.raises(NotFoundError):
        engine.delete_memory(ORG, m.id)
    assert engine.search_memories(ORG, SearchQuery(query="delete")).results == []


def test_delete_by_filter(engine: Engine) -> None:
    add(engine, "s1 a", session_id="s1")
    add(engine, "s1 b", session_id="s1", agent_id="agent_2")
    add(engine, "s2", session_id="s2")
    add(engine, "old", time=ago(days=10))
    assert engine.delete_memories(ORG, session_id="s1", agent_id="agent_2") == 1
    assert engine.delete_memories(ORG, until="7d") == 1
    assert engine.delete_memories(ORG, session_id="s1") == 1
    assert contents(engine.list_memories(ORG).memories) == ["s2"]
    with pytest.raises(ValidationError) as err:
        engine.delete_memories(ORG)
    assert err.value.field == "filter"
    # deleted memories are gone from the keyword index too
    assert engine.search_memories(ORG, SearchQuery(query="s1")).results == []


# ------------------------------------------------------------------------- stats


def test_agent_stats(engine: Engine) -> None:
    add(engine, "one")
    add(engine, "two", memory_type="decision", event_type="decision")
    add(engine, "boom", event_type="error")
    add(engine, "ancient error", event_type="error", time=ago(days=3))
    add(engine, "someone else", agent_id="agent_2")
    engine.create_session(ORG, CreateSessionRequest(agent_id="agent_1"))
    closed = engine.create_session(ORG, CreateSessionRequest(agent_id="agent_1"))
    engine.close_session(ORG, closed.id)
    stats = engine.get_agent_stats(ORG, "agent_1")
    assert (stats.memory_count, stats.memories_24h, stats.errors_24h) == (4, 3, 1)
    assert (stats.session_count, stats.active_sessions) == (2, 1)
    assert stats.memory_types == {"episodic": 3, "decision": 1}
    assert stats.last_active_at is not None
    empty = engine.get_agent_stats(ORG, "nobody")
    assert (empty.memory_count, empty.memory_types, empty.last_active_at) == (0, {}, None)


# ------------------------------------------------------------------ content round trip


@pytest.mark.parametrize(
    "content",
    [
        "x" * (1024 * 1024),
        "日本語のメモ — emoji 🧠🚀, RTL שלום, combining é (e\u0301), math ∑∫",
        "quotes ' \" ` and backslashes \\ \\\\ and SQL '); DROP TABLE memories; --",
        "line\nbreaks\r\nand\ttabs",
    ],
    ids=["1MiB", "non-ascii", "sql-ish", "whitespace"],
)
def test_content_round_trips_exactly(engine: Engine, content: str) -> None:
    m = add(engine, content, metadata={"nested": {"ü": ["ß", 1.5, True, None]}})
    got = engine.get_memory(ORG, m.id)
    assert got.content == content
    assert got.metadata == {"nested": {"ü": ["ß", 1.5, True, None]}}
    assert engine.list_memories(ORG).memories[0].content == content


# ----------------------------------------------------------------------- ranking


def test_ranked_search_puts_the_relevant_memory_first(engine: Engine) -> None:
    add(engine, "The user prefers dark mode in every editor", importance=0.2)
    add(engine, "Deployed the billing service to production")
    add(engine, "Mode of transport: bicycle")
    add(engine, "dark chocolate is the user's favourite snack")
    res = engine.search_memories(ORG, SearchQuery(query="what mode does the user prefer, dark?"))
    assert res.results[0].content == "The user prefers dark mode in every editor"
    assert all(r.score is not None for r in res.results)
    scores = [r.score for r in res.results if r.score is not None]
    assert [r.score for r in res.results] == sorted(scores, reverse=True)
    assert "Deployed the billing service to production" not in contents(res.results)
    # porter stemming: "deploying" finds "Deployed"
    assert contents(engine.search_memories(ORG, SearchQuery(query="deploying")).results) == [
        "Deployed the billing service to production"
    ]


def test_ranked_search_respects_filters(engine: Engine) -> None:
    add(engine, "deploy failed on host alpha", agent_id="agent_1")
    add(engine, "deploy failed on host beta", agent_id="agent_2")
    res = engine.search_memories(ORG, SearchQuery(query="deploy failed", agent_id="agent_2"))
    assert contents(res.results) == ["deploy failed on host beta"]


@pytest.mark.parametrize(
    "query", ['"', "AND OR NOT", "NEAR(a b)", "col:thing", "*", "a' OR 1=1 --", "(((", "^x", "\x01", "   "]
)
def test_any_query_text_is_safe(engine: Engine, query: str) -> None:
    add(engine, "a thing with col and near words")
    result = engine.search_memories(ORG, SearchQuery(query=query))
    assert all(r.org_id == ORG for r in result.results)


# ---------------------------------------------------------------- atomic batches


def test_batch_with_one_invalid_item_writes_nothing(engine: Engine) -> None:
    reqs = [AddMemoryRequest(agent_id="agent_1", content=f"ok {i}") for i in range(3)]
    reqs.insert(2, AddMemoryRequest(agent_id="agent_1", content="bad", tags=["no spaces allowed"]))
    with pytest.raises(ValidationError) as err:
        engine.add_memories(ORG, reqs)
    assert err.value.field == "memories[2].tags[0]"
    assert engine.list_memories(ORG).count == 0


def test_search_sees_every_write_and_delete_immediately(engine: Engine) -> None:
    """Keyword indexing may run behind the writes; searches must never show it."""
    for i in range(30):
        add(engine, f"zebra sighting number {i}")
        assert engine.search_memories(ORG, SearchQuery(query="zebra", limit=100)).count == i + 1
    newest = engine.list_memories(ORG, ListOptions(limit=1)).memories[0]
    engine.delete_memory(ORG, newest.id)  # the highest row: its slot may be reused by the next write
    add(engine, "zebra crossing")
    found = contents(engine.search_memories(ORG, SearchQuery(query="zebra", limit=100)).results)
    assert len(found) == 30 and "zebra crossing" in found and newest.content not in found
    assert engine.delete_memories(ORG, since="1h") == 30
    assert engine.search_memories(ORG, SearchQuery(query="zebra")).results == []
    add(engine, "zebra again")
    assert contents(engine.search_memories(ORG, SearchQuery(query="zebra")).results) == ["zebra again"]


def test_delete_by_ids_and_narrowing_filters(engine: Engine) -> None:
    keep = add(engine, "keep me", session_id="s", tags=["chat"])
    a = add(engine, "drop a", session_id="s", tags=["chat", "archived"])
    add(engine, "drop b", session_id="s", event_type="tool_call")
    other_org = add(engine, "other org", org="org_b")
    assert engine.delete_memories(ORG, session_id="s", tags=["archived"]) == 1
    assert engine.delete_memories(ORG, session_id="s", event_type="tool_call") == 1
    assert [m.id for m in engine.list_memories(ORG).memories] == [keep.id]
    c = add(engine, "drop c")
    d = add(engine, "drop d")
    # ids from another org are silently outside the caller's scope
    assert engine.delete_memories(ORG, memory_ids=[c.id, d.id, other_org.id, a.id]) == 2
    assert engine.get_memory("org_b", other_org.id).content == "other org"
    assert engine.delete_memories(ORG, memory_ids=[]) == 0
    with pytest.raises(ValidationError) as err:
        engine.delete_memories(ORG, tags=["chat"])  # narrowing filters alone are not a scope
    assert err.value.field == "filter"
    with pytest.raises(ValidationError) as err:
        engine.delete_memories(ORG, memory_ids=["nope"])
    assert err.value.field == "memory_ids[0]"


def test_batch_reports_which_items_were_duplicates(engine: Engine) -> None:
    add(engine, "seen")
    batch = engine.add_memories(
        ORG, [AddMemoryRequest(agent_id="agent_1", content=c) for c in ("new", "seen", "new", "other")]
    )
    assert batch.skipped == 2 and batch.skipped_indexes == [1, 2]


@pytest.mark.parametrize("agent", ["n", "agent_n", "xe", "ies", "a-b-ing", "Z" * 127, "agent_1"])
def test_scoped_ranked_search_finds_every_agent_and_session_id(engine: Engine, agent: str) -> None:
    # Scope ids become keyword tokens in the keyword index; no id shape may break or merge them.
    add(engine, "kiwi report", agent_id=agent, session_id=agent)
    add(engine, "kiwi report", agent_id=agent + "x", session_id=agent + "x")
    by_agent = engine.search_memories(ORG, SearchQuery(query="kiwi", agent_id=agent))
    assert [m.agent_id for m in by_agent.results] == [agent]
    by_session = engine.search_memories(ORG, SearchQuery(query="kiwi", session_id=agent))
    assert [m.session_id for m in by_session.results] == [agent]
    assert engine.search_memories("org_other", SearchQuery(query="kiwi", agent_id=agent)).results == []


def test_ranked_search_over_a_bounded_window_of_newest_matches(engine: Engine) -> None:
    """When a query matches more than the store's rank limit, the newest matches are the ones ranked."""
    store = engine.events
    if not hasattr(store, "rank_limit"):
        pytest.skip("this store ranks every match")
    store.rank_limit = 5
    old_best = add(engine, "walrus walrus walrus walrus", time=ago(days=2))
    for i in range(8):
        add(engine, f"walrus sighting {i} on the long beach today")
    results = engine.search_memories(ORG, SearchQuery(query="walrus", limit=10)).results
    assert len(results) == 5 and old_best.id not in {m.id for m in results}
    store.rank_limit = 100
    results = engine.search_memories(ORG, SearchQuery(query="walrus", limit=10)).results
    assert len(results) == 9 and results[0].id == old_best.id


def test_memories_with_every_keyword_rank_first_and_pages_are_consistent(engine: Engine) -> None:
    # A memory saying one rare word many times can out-score, by BM25, one that has every word once; the
    # ranking still puts memories with every keyword first.
    add(engine, "penguin penguin penguin penguin penguin")
    both = add(engine, "the penguin sat beside a glacier")
    for i in range(6):
        add(engine, f"glacier melt report {i}")
    ranked = engine.search_memories(ORG, SearchQuery(query="penguin glacier", limit=10)).results
    assert ranked[0].id == both.id and len(ranked) == 8
    pages = [
        m.id
        for offset in (0, 3, 6)
        for m in engine.search_memories(
            ORG, SearchQuery(query="penguin glacier", limit=3, offset=offset)
        ).results
    ]
    assert pages == [m.id for m in ranked]


def test_a_brief_query_returns_what_session_context_reads(store_factory, tmp_path) -> None:
    """`EventStore.query(brief=True)` (what session context asks for) gives the same memories, in the same order,
    with the same values for every field context reads, whatever it leaves out."""
    from memtrace.records import MemoryFilter

    with store_factory(tmp_path) as stores:
        engine = Engine.from_stores(stores)
        engine.add_memories(
            ORG,
            [
                AddMemoryRequest(
                    agent_id="a1",
                    session_id="s1",
                    content=f"memory {i} with some words",
                    memory_type=("episodic", "decision", "session", "entity")[i % 4],
                    event_type="error" if i % 5 == 0 else "general",
                    metadata={"reasoning": f"because {i}"} if i % 2 else None,
                    tags=["t1", "t2"] if i % 3 else None,
                    importance=None if i % 4 else 0.25,
                    parent_id="p" if i % 6 == 0 else None,
                    ttl="7d" if i % 7 == 0 else None,
                )
                for i in range(30)
            ],
        )
        flt = MemoryFilter(session_id="s1", alive_at_us=engine.wall_clock(), current_only=True)
        full = stores.events.query(ORG, flt, order="desc", limit=1000, offset=0)
        brief = stores.events.query(ORG, flt, order="desc", limit=1000, offset=0, brief=True)

    def read(r: Any) -> tuple[Any, ...]:
        return (r.id, r.org_id, r.time_us, r.agent_id, r.session_id, r.memory_type, r.event_type, r.content,
                r.metadata_json, r.importance)  # fmt: skip

    assert len(full) == 30
    assert [read(r) for r in brief] == [read(r) for r in full]


def test_context_of_a_session_only_memories_name(engine: Engine) -> None:
    """A session without a session row exists while a live memory names it: its context renders what is in the
    window (nothing, when its memories are older), and a session nothing names is not found."""
    from memtrace.models import ContextOptions

    add(engine, "fresh note about walruses", session_id="named_only")
    add(engine, "an old note", session_id="old_only", time=ago(days=3))

    fresh = engine.get_session_context(ORG, "named_only")
    assert fresh.memory_count == 1 and "fresh note about walruses" in fresh.context
    old = engine.get_session_context(ORG, "old_only")  # the default window is 24 hours
    assert old.memory_count == 0 and old.context.startswith("## Session Context (old_only)")
    assert engine.get_session_context(ORG, "old_only", ContextOptions(since="7d")).memory_count == 1
    only_decisions = engine.get_session_context(ORG, "named_only", ContextOptions(include_types=["decision"]))
    assert only_decisions.memory_count == 0
    with pytest.raises(NotFoundError):
        engine.get_session_context(ORG, "never_named")
