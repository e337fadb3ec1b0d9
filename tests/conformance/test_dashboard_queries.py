"""What the dashboard asks of every store: a histogram's buckets, per-type counts since a time, `count_memories`
agreeing with what the same delete removes (all scoped to one organisation), and keyset paging through ties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from memtrace.engine import Engine
from memtrace.errors import ValidationError
from memtrace.models import AddMemoryRequest, CreateSessionRequest, ListOptions
from memtrace.timeparse import from_us
from memtrace_server.ui.paging import Cursor, next_cursor

HOUR = 3_600_000_000
START = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1_000_000)


def add(engine: Engine, org: str, agent: str, at_us: int, content: str, **extra: object) -> None:
    engine.add_memories(
        org,
        [AddMemoryRequest(agent_id=agent, content=content, time=from_us(at_us), **extra)],
    )


def test_histogram_counts_each_bucket_once_per_agent_and_org(engine: Engine) -> None:
    # Bucket 0: start, start + 59 min; bucket 1: exactly one hour in (belongs to bucket 1, not 0); bucket 2: none.
    add(engine, "org_a", "alpha", START, "first")
    add(engine, "org_a", "beta", START + HOUR - 60_000_000, "second")
    add(engine, "org_a", "alpha", START + HOUR, "third")
    add(engine, "org_a", "alpha", START + 3 * HOUR, "after the range")
    add(engine, "org_b", "alpha", START + 10, "another tenant")
    assert engine.memory_histogram("org_a", start_us=START, bucket_us=HOUR, buckets=3) == [2, 1, 0]
    assert engine.memory_histogram("org_a", start_us=START, bucket_us=HOUR, buckets=3, agent_id="alpha") == [
        1,
        1,
        0,
    ]
    assert engine.memory_histogram("org_b", start_us=START, bucket_us=HOUR, buckets=3) == [1, 0, 0]
    with pytest.raises(ValidationError) as bad:
        engine.memory_histogram("org_a", start_us=START, bucket_us=HOUR, buckets=1000)
    assert bad.value.field == "buckets"


def test_count_memories_is_what_the_same_delete_removes(engine: Engine) -> None:
    for i in range(5):
        add(
            engine,
            "org_a",
            "alpha",
            START + i,
            f"in session {i}",
            session_id="s1",
            event_type="error" if i % 2 else "general",
        )
    add(engine, "org_a", "alpha", START + 9, "no session")
    add(engine, "org_b", "alpha", START + 9, "other org", session_id="s1")
    assert engine.count_memories("org_a", session_id="s1") == 5
    assert engine.count_memories("org_a", agent_id="alpha", event_type="error") == 2
    assert engine.count_memories("org_a", memory_ids=[]) == 0
    with pytest.raises(ValidationError):
        engine.count_memories("org_a")  # the delete's rule: some scope is required
    assert engine.delete_memories("org_a", session_id="s1") == 5
    assert engine.count_memories("org_a", agent_id="alpha") == 1
    assert engine.count_memories("org_b", agent_id="alpha") == 1


def test_counts_by_type_since(engine: Engine) -> None:
    now = engine.clock.now()
    add(engine, "org_a", "alpha", now - 48 * HOUR, "old", memory_type="decision")
    add(engine, "org_a", "alpha", now - HOUR, "recent", memory_type="decision")
    add(engine, "org_a", "beta", now - HOUR, "recent too")
    add(engine, "org_b", "alpha", now - HOUR, "elsewhere", memory_type="entity")
    assert engine.count_memories_by_type("org_a") == {"decision": 2, "episodic": 1}
    assert engine.count_memories_by_type("org_a", since="24h") == {"decision": 1, "episodic": 1}
    assert engine.count_memories_by_type("org_a", agent_id="beta") == {"episodic": 1}


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_keyset_pages_cover_ties_exactly_once(engine: Engine, order: str) -> None:
    """The dashboard's timeline cursor (time, skip) turned into until/since + offset: with many memories sharing
    one microsecond across page boundaries, every memory is seen exactly once, in order."""
    times = [START + t for t in (0, 5, 5, 5, 5, 5, 5, 5, 9, 9, 12)]
    engine.add_memories(
        "org_a",
        [
            AddMemoryRequest(agent_id="alpha", content=f"m{i}", time=from_us(t), dedup_key=f"k{i}")
            for i, t in enumerate(times)
        ],
    )
    ascending = order == "asc"
    seen: list[str] = []
    cursor: Cursor | None = None
    for _ in range(20):
        opts = ListOptions(agent_id="alpha", limit=3, order=order)
        if cursor is not None:
            opts = opts.model_copy(
                update={"since" if ascending else "until": cursor.bound(ascending), "offset": cursor.skip}
            )
        page = engine.list_memories("org_a", opts)
        seen += [m.id for m in page.memories]
        if not page.has_more:
            break
        cursor = next_cursor(page.memories, cursor)
    everything = engine.list_memories("org_a", ListOptions(agent_id="alpha", limit=100, order=order))
    assert seen == [m.id for m in everything.memories] and len(seen) == len(times)


def test_counts_stay_exact_as_memories_are_superseded_and_expire(engine: Engine) -> None:
    # A store may count faster while nothing in scope is superseded or expired (the SQLite store then reads an
    # index alone): every count must still be exact before, while and after each kind appears, per agent.
    for i in range(3):
        add(engine, "org_a", "alpha", START + i, f"alpha note {i}")
    for i in range(2):
        add(engine, "org_a", "beta", START + i, f"beta note {i}")
    add(engine, "org_b", "alpha", START, "another tenant")

    def counts() -> tuple[int, int, int, int, list[int]]:
        return (
            engine.count_memories("org_a", agent_id="alpha"),  # every version (what a delete removes)
            engine.get_agent_stats("org_a", "alpha").memory_count,  # current versions
            engine.get_agent_stats("org_a", "beta").memory_count,
            engine.count_memories("org_a", agent_id="beta"),
            engine.memory_histogram("org_a", start_us=START, bucket_us=HOUR, buckets=1),
        )

    assert counts() == (3, 3, 2, 2, [5])
    add(engine, "org_a", "alpha", START + 10, "lives in Paris", key="city")
    add(engine, "org_a", "alpha", START + 11, "lives in Berlin", key="city")  # Paris is superseded
    assert counts() == (5, 4, 2, 2, [6])
    add(engine, "org_a", "beta", START + 12, "short-lived", ttl="1h")
    assert counts() == (5, 4, 3, 3, [7])
    later = engine.wall_clock() + 2 * HOUR
    engine.wall_clock = lambda: later  # the short-lived memory has expired; the sweep has not run
    assert counts() == (5, 4, 2, 2, [6])
    assert engine.get_agent_stats("org_b", "alpha").memory_count == 1


def test_session_pages_and_per_agent_counts_through_the_engine(engine: Engine) -> None:
    for i, (org, agent) in enumerate(
        [("org_a", "alpha"), ("org_a", "beta"), ("org_a", "alpha"), ("org_b", "alpha")]
    ):
        engine.create_session(org, CreateSessionRequest(agent_id=agent, id=f"s{i}"))
    engine.close_session("org_a", "s0")
    # The session just closed was updated last; then the newest created (or, created at once, the larger id).
    page = engine.page_sessions("org_a", limit=2)
    assert ([s.id for s in page.sessions], page.total) == (["s0", "s2"], 3)
    assert engine.page_sessions("org_a", limit=2, offset=2).sessions == [engine.get_session("org_a", "s1")]
    assert engine.page_sessions("org_a", status="active", limit=10).total == 2
    assert [s.id for s in engine.page_sessions("org_a", status="closed", limit=10).sessions] == ["s0"]
    created = engine.page_sessions("org_a", order="created", limit=10).sessions
    assert created == engine.list_sessions("org_a").sessions
    counts = {c.agent_id: (c.sessions, c.active) for c in engine.count_sessions_by_agent("org_a")}
    assert counts == {"alpha": (2, 1), "beta": (1, 1)}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": 10, "offset": -1}, "offset"),
        ({"limit": 10, "status": "not a status"}, "status"),
        ({"limit": 10, "agent_id": "bad id!"}, "agent_id"),
        ({"limit": 10, "order": "oldest"}, "order"),
    ],
)
def test_session_pages_reject_bad_input_naming_the_field(
    engine: Engine, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as bad:
        engine.page_sessions("org_a", **options)
    assert bad.value.field == field
