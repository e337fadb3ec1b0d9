"""The faster context rendering gives exactly the text the rendering before it gave (`context_before`), on
varied memories: every section, white space of every kind, long and short contents, decisions with and without
reasoning, facts, times across the whole range, and token budgets."""

from __future__ import annotations

import json
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from memtrace import render_session_context
from memtrace.context import _cut, format_time
from memtrace.records import MemoryRecord
from memtrace.timeparse import MAX_TIME_US

from . import context_before

# Every kind of white space str.split() folds, characters it does not (zero-width space, a control character),
# and multi-byte ones.
_CHARS = "ab ab  \n\t\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2003\u2028\u2029\u202f\u3000\u200b\x00\xe9\U0001f9e0."
_TYPES = ("episodic", "decision", "session", "entity")
_EVENTS = ("general", "error", "decision", "tool_call")

texts = st.one_of(
    st.text(alphabet=st.sampled_from(_CHARS), min_size=1, max_size=700),
    st.text(min_size=1, max_size=300),
    # Plain prose, the common case (the fast path), short and long.
    st.lists(
        st.sampled_from(("the", "agent", "crawled", "pricing", "page", "é", "x" * 30)),
        min_size=1,
        max_size=150,
    ).map(" ".join),
)
times = st.one_of(
    st.integers(min_value=0, max_value=MAX_TIME_US),
    st.integers(min_value=1_770_000_000, max_value=1_770_100_000).map(lambda s: s * 1_000_000),
    st.integers(min_value=-(10**12), max_value=-1),  # written by an older version: rendered clamped
    st.integers(min_value=MAX_TIME_US + 1, max_value=MAX_TIME_US + 10**12),
)
reasonings = st.one_of(st.none(), texts, st.just("  "), st.integers(), st.just(""))


@st.composite
def records(draw: st.DrawFn, n: int, fact: bool = False) -> MemoryRecord:
    memory_type = draw(st.sampled_from(_TYPES))
    metadata = None
    if draw(st.booleans()):
        metadata = json.dumps({"reasoning": draw(reasonings), "other": 1})
    time_us = draw(times)
    return MemoryRecord(
        id=f"mem_{n:026d}",
        org_id="o",
        time_us=time_us,
        agent_id="a",
        session_id="s1",
        memory_type=memory_type,
        event_type=draw(st.sampled_from(_EVENTS)),
        content=draw(texts),
        metadata_json=metadata,
        tags=(),
        dedup_key=None,
        importance=draw(st.one_of(st.none(), st.floats(0, 1))),
        parent_id=None,
        fact_key=f"k{n}" if fact else None,
        valid_from_us=draw(st.one_of(st.none(), times)) if fact else None,
    )


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[MemoryRecord], list[MemoryRecord]]:
    n = draw(st.integers(0, 25))
    memories = [draw(records(i)) for i in range(n)]
    memories.sort(key=lambda r: (r.time_us, r.id), reverse=True)
    facts = [draw(records(1000 + i, fact=True)) for i in range(draw(st.integers(0, 4)))]
    shared: bool = draw(st.booleans())
    if memories and shared:
        facts.append(memories[0])  # a fact that is also one of the session's memories
    return memories, facts


@settings(max_examples=150, deadline=None)
@given(
    session=sessions(),
    max_tokens=st.one_of(st.none(), st.integers(1, 3000)),
    max_chars=st.one_of(st.just(200), st.integers(1, 400)),
)
def test_rendering_is_byte_for_byte_what_it_was(
    session: tuple[list[MemoryRecord], list[MemoryRecord]], max_tokens: int | None, max_chars: int
) -> None:
    memories, facts = session
    new = render_session_context(
        "s1", memories, max_tokens=max_tokens, max_content_chars=max_chars, facts=facts or None
    )
    old = context_before.render_session_context(
        "s1", memories, max_tokens=max_tokens, max_content_chars=max_chars, facts=facts or None
    )
    assert (new.text, new.included, new.omitted) == (old.text, old.included, old.omitted)


@settings(max_examples=300, deadline=None)
@given(text=texts, limit=st.integers(1, 400))
def test_cut_is_what_it_was(text: str, limit: int) -> None:
    assert _cut(text, limit) == context_before._cut(text, limit)


@settings(max_examples=500, deadline=None)
@given(time_us=times)
def test_format_time_is_what_it_was(time_us: int) -> None:
    assert format_time(time_us) == context_before.format_time(time_us)


def test_every_white_space_character_but_the_space_is_unprintable() -> None:
    """What `_cut`'s fast path relies on: text that `isprintable` and has no two spaces in a row, none leading or
    trailing, is unchanged by folding its white space."""
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if c.isspace() and c != " ":
            assert not c.isprintable(), hex(code)


def test_rendered_lines_are_remembered_by_everything_they_are_made_of() -> None:
    """A memory rendered before and changed since (same id and time; re-imported, say) renders anew, and the same
    memory at another content limit is cut anew."""
    import dataclasses

    first = MemoryRecord(
        id="mem_00000000000000000000000001",
        org_id="o",
        time_us=1_770_000_000_000_000,
        agent_id="a",
        session_id="s1",
        memory_type="decision",
        event_type="decision",
        content="Use the cached sitemap",
        metadata_json=json.dumps({"reasoning": "saves 40 s"}),
        tags=(),
        dedup_key=None,
        importance=None,
        parent_id=None,
    )
    variants = [
        first,
        dataclasses.replace(first, content="Use the live sitemap"),
        dataclasses.replace(first, metadata_json=json.dumps({"reasoning": "fresher"})),
        dataclasses.replace(first, event_type="error"),
        dataclasses.replace(first, memory_type="episodic"),
    ]
    for limit in (200, 5):
        for r in [*variants, *variants]:
            new = render_session_context("s1", [r], max_content_chars=limit).text
            assert new == context_before.render_session_context("s1", [r], max_content_chars=limit).text
