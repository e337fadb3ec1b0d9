"""The benchmark dataset: the issue's shape, valid for memtrace, and the same memories for the same seed."""

from __future__ import annotations

from collections import Counter

from bench.dataset import (
    AGENTS,
    DAY_US,
    DAYS,
    MAX_CONTENT,
    MIN_CONTENT,
    SESSIONS,
    Dataset,
    search_queries,
)
from memtrace import AddMemoryRequest
from memtrace.validation import TAG_PATTERN

ANCHOR = 1_800_000_000_000_000  # a fixed "now", so the test data is identical on every run


def test_same_seed_same_memories_and_another_seed_others() -> None:
    first = list(Dataset(600, seed=5, anchor_us=ANCHOR))
    again = list(Dataset(600, seed=5, anchor_us=ANCHOR))
    other = list(Dataset(600, seed=6, anchor_us=ANCHOR))
    assert first == again
    assert [m.content for m in first] != [m.content for m in other]
    assert [b for batch in Dataset(600, seed=5, anchor_us=ANCHOR).batches(250) for b in batch] == first
    assert search_queries(3, 20) == search_queries(3, 20) != search_queries(4, 20)


def test_shape_matches_the_issue() -> None:
    ds = Dataset(5_000, anchor_us=ANCHOR)
    memories = list(ds)
    shape = ds.shape
    assert len(memories) == 5_000
    assert len(shape.agents) == AGENTS and len(shape.sessions) == SESSIONS
    assert {m.agent_id for m in memories} <= set(shape.agents)
    assert len({m.agent_id for m in memories}) == AGENTS
    assert {m.session_id for m in memories} - {None} <= set(shape.sessions)
    assert {m.memory_type for m in memories} == {"episodic", "session", "decision", "entity"}
    assert len({m.event_type for m in memories}) >= 10
    assert any(m.event_type == "error" for m in memories)
    lengths = [len(m.content) for m in memories]
    assert min(lengths) >= MIN_CONTENT and max(lengths) <= MAX_CONTENT
    assert 150 <= sorted(lengths)[len(lengths) // 2] <= 300  # ~200-character median
    times = [m.time_us for m in memories]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[0] >= ANCHOR - DAYS * DAY_US and times[-1] < ANCHOR
    assert all(TAG_PATTERN.fullmatch(t) for m in memories for t in m.tags or ())
    assert all(0 <= m.importance <= 1 for m in memories if m.importance is not None)
    assert all(m.metadata and m.metadata.get("reasoning") for m in memories if m.memory_type == "decision")
    # A session is one agent's.
    owners: dict[str, set[str]] = {}
    for m in memories:
        if m.session_id:
            owners.setdefault(m.session_id, set()).add(m.agent_id)
    assert all(len(agents) == 1 for agents in owners.values())


def test_context_sessions_hold_exactly_their_size_in_the_last_day() -> None:
    ds = Dataset(5_000, anchor_us=ANCHOR)
    memories = list(ds)
    per_session = Counter(m.session_id for m in memories)
    assert ds.shape.context_session_size == 500
    assert len(ds.shape.context_sessions) == 1
    for session in ds.shape.context_sessions:
        assert per_session[session] == 500
        assert all(ANCHOR - m.time_us < DAY_US for m in memories if m.session_id == session)


def test_memories_are_valid_requests_on_the_wire_too() -> None:
    for m in Dataset(300, anchor_us=ANCHOR):
        req = m.to_request()
        assert req.content == m.content and req.time == m.time
        wire = AddMemoryRequest.model_validate(m.to_wire())
        assert wire.model_dump() == req.model_dump()
