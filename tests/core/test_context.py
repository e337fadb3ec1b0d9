"""Golden tests for session context rendering: the layout, the fixes over the original, and the token budget."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from memtrace import estimate_tokens, render_session_context
from memtrace.context import format_time
from memtrace.records import MemoryRecord
from memtrace.timeparse import to_us

T0 = to_us(datetime(2026, 2, 7, 20, 15, 0, 123456, tzinfo=UTC))


def rec(
    n: int, content: str, memory_type: str = "episodic", event_type: str = "general", **kw
) -> MemoryRecord:
    return MemoryRecord(
        id=f"mem_{n:026d}",
        org_id="o",
        time_us=T0 + n * 1_000_000,
        agent_id="a",
        session_id="s1",
        memory_type=memory_type,
        event_type=event_type,
        content=content,
        metadata_json=kw.get("metadata_json"),
        tags=(),
        dedup_key=None,
        importance=kw.get("importance"),
        parent_id=None,
    )


def newest_first(*records: MemoryRecord) -> list[MemoryRecord]:
    return sorted(records, key=lambda r: r.time_us, reverse=True)


SESSION = newest_first(
    rec(0, "Crawled the pricing page"),
    rec(
        1,
        "Use the cached sitemap",
        "decision",
        "decision",
        metadata_json=json.dumps({"reasoning": "saves 40 s"}),
    ),
    rec(2, "Timeout fetching /robots.txt", "episodic", "error"),
    rec(3, "User is on the enterprise plan", "entity", "fact"),
    rec(4, "hello", "session", "user_message"),
)


def test_golden_layout() -> None:
    out = render_session_context("s1", SESSION)
    assert out.text == (
        "## Session Context (s1)\n"
        "\n"
        "### Recent Actions (1)\n"
        "- [2026-02-07T20:15:00.123456Z] general: Crawled the pricing page\n"
        "\n"
        "### Decisions Made (1)\n"
        "- [2026-02-07T20:15:01.123456Z] decision: Use the cached sitemap (reasoning: saves 40 s)\n"
        "\n"
        "### Errors (1)\n"
        "- [2026-02-07T20:15:02.123456Z] error: Timeout fetching /robots.txt\n"
        "\n"
        "### Other (2)\n"
        "- [2026-02-07T20:15:04.123456Z] user_message: hello\n"
        "- [2026-02-07T20:15:03.123456Z] fact: User is on the enterprise plan\n"
    )
    assert (out.included, out.omitted) == (5, 0)


def test_empty_session_is_just_the_header() -> None:
    assert render_session_context("s1", []).text == "## Session Context (s1)\n\n"


def test_content_is_cut_on_a_character_boundary() -> None:
    out = render_session_context("s1", [rec(0, "日本語" * 50)], max_content_chars=10)
    assert "] general: 日本語日本語日本語日...\n" in out.text


def test_times_print_like_go_rfc3339nano() -> None:
    assert format_time(to_us(datetime(2026, 2, 7, 20, 15, tzinfo=UTC))) == "2026-02-07T20:15:00Z"
    assert (
        format_time(to_us(datetime(2026, 2, 7, 20, 15, 0, 120000, tzinfo=UTC))) == "2026-02-07T20:15:00.12Z"
    )


def test_budget_drops_low_priority_first_and_says_so() -> None:
    records = newest_first(
        *(rec(i, f"routine step number {i} of the crawl", importance=0.1) for i in range(20)),
        rec(30, "Disk full while writing the index", "episodic", "error"),
        rec(31, "Switch to the streaming writer", "decision", "decision", importance=0.9),
    )
    full = render_session_context("s1", records)
    out = render_session_context("s1", records, max_tokens=120)
    assert estimate_tokens(out.text) <= 120 < estimate_tokens(full.text)
    assert "Disk full while writing the index" in out.text
    assert "Switch to the streaming writer" in out.text
    assert out.omitted > 0 and out.included + out.omitted == 22
    assert out.text.endswith(f"_{out.omitted} lower-priority memories omitted to fit max_tokens._\n")
    # the oldest routine steps go before the newest ones
    assert "step number 19 " in out.text and "step number 0 " not in out.text


@settings(max_examples=200, deadline=None)
@given(
    contents=st.lists(st.text(min_size=1, max_size=300), min_size=0, max_size=30),
    budget=st.integers(min_value=20, max_value=2000),
)
def test_budget_is_always_honoured_and_rendering_is_deterministic(contents: list[str], budget: int) -> None:
    records = newest_first(
        *(rec(i, c, ["episodic", "decision", "session", "entity"][i % 4]) for i, c in enumerate(contents))
    )
    out = render_session_context("s1", records, max_tokens=budget)
    header_only = estimate_tokens("## Session Context (s1)\n\n")
    assert estimate_tokens(out.text) <= max(budget, header_only + 15)
    assert out == render_session_context("s1", list(records), max_tokens=budget)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab \n\t\u00e9\U0001f9e0"), max_size=600), limit=st.integers(1, 120)
)
def test_cut_equals_folding_everything_then_cutting(text: str, limit: int) -> None:
    from memtrace.context import _cut

    flat = " ".join(text.split())
    assert _cut(text, limit) == (flat if len(flat) <= limit else flat[:limit] + "...")


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999))
def test_format_time_matches_datetime(time_us: int) -> None:
    from datetime import datetime as dt

    t = dt.fromtimestamp(time_us // 1_000_000, UTC).replace(microsecond=time_us % 1_000_000)
    expected = (
        t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond:06d}".rstrip("0") if t.microsecond else "") + "Z"
    )
    assert format_time(time_us) == expected


def fact(n: int, key: str, content: str) -> MemoryRecord:
    r = rec(n, content, "entity", "fact")
    r.fact_key, r.valid_from_us = key, r.time_us
    return r


def test_known_facts_come_first_once_each_and_are_kept_under_a_tight_budget() -> None:
    city, drink = fact(10, "user:ada/city", "Berlin"), fact(11, "user:ada/drink", "tea")
    session = newest_first(rec(0, "Crawled the pricing page"), city)  # the city fact is also a session memory
    out = render_session_context("s1", session, facts=[drink, city])
    assert out.text == (
        "## Session Context (s1)\n"
        "\n"
        "### Known Facts (2)\n"
        "- user:ada/drink: tea (since 2026-02-07T20:15:11.123456Z)\n"
        "- user:ada/city: Berlin (since 2026-02-07T20:15:10.123456Z)\n"
        "\n"
        "### Recent Actions (1)\n"
        "- [2026-02-07T20:15:00.123456Z] general: Crawled the pricing page\n"
    )
    assert (out.included, out.omitted) == (3, 0)
    tight = render_session_context("s1", session, facts=[drink, city], max_tokens=45)
    assert "user:ada/drink: tea" in tight.text and "pricing" not in tight.text
    assert tight == render_session_context("s1", list(session), facts=[drink, city], max_tokens=45)


@settings(max_examples=100, deadline=None)
@given(
    contents=st.lists(st.text(min_size=1, max_size=200), min_size=0, max_size=20),
    n_facts=st.integers(0, 10),
    budget=st.integers(min_value=20, max_value=1500),
)
def test_the_budget_holds_with_facts(contents: list[str], n_facts: int, budget: int) -> None:
    records = newest_first(*(rec(i, c) for i, c in enumerate(contents)))
    facts = [fact(100 + i, f"k{i}", f"value {i}") for i in reversed(range(n_facts))]
    out = render_session_context("s1", records, facts=facts, max_tokens=budget)
    assert estimate_tokens(out.text) <= max(budget, estimate_tokens("## Session Context (s1)\n\n") + 15)
    assert out == render_session_context("s1", list(records), facts=list(facts), max_tokens=budget)


def test_a_memory_of_the_same_time_and_length_renders_its_own_line() -> None:
    """Lines are remembered from one context to the next by time and content length; whatever else differs (the
    content itself, the kinds, a decision's reasoning, the character limit) gives the memory its own line."""
    reasoning = json.dumps({"reasoning": "saves 40 s"})
    variants = [
        rec(0, "Crawled the pricing page", "decision", "decision", metadata_json=reasoning),
        rec(0, "Crawled the billing page", "decision", "decision", metadata_json=reasoning),
        rec(
            0,
            "Crawled the billing page",
            "decision",
            "decision",
            metadata_json=json.dumps({"reasoning": "x"}),
        ),
        rec(0, "Crawled the billing page", "decision", "decision"),
        rec(0, "Crawled the billing page", "episodic", "decision"),
        rec(0, "Crawled the billing page", "episodic", "error"),
    ]
    stamp = format_time(T0)
    expected = [
        f"- [{stamp}] decision: Crawled the pricing page (reasoning: saves 40 s)",
        f"- [{stamp}] decision: Crawled the billing page (reasoning: saves 40 s)",
        f"- [{stamp}] decision: Crawled the billing page (reasoning: x)",
        f"- [{stamp}] decision: Crawled the billing page",
        f"- [{stamp}] decision: Crawled the billing page",
        f"- [{stamp}] error: Crawled the billing page",
    ]
    for _ in range(2):  # the second round finds every line remembered by the one before it
        for memory, line in zip(variants, expected, strict=True):
            assert line in render_session_context("s1", [memory]).text.splitlines()
    assert render_session_context("s1", [variants[0]], max_content_chars=7).text.splitlines()[-1] == (
        f"- [{stamp}] decision: Crawled... (reasoning: saves 4...)"
    )
