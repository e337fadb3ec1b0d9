"""Session context: a session's memories as LLM-ready markdown within a token budget.

The layout is the original's (spec §4)::

    ## Session Context (<session_id>)

    ### Recent Actions (2)
    - [2026-02-07T20:15:00.123456Z] page_crawled: Crawled the pricing page
    ...

with these fixes: any memory whose event_type is ``error`` is listed under Errors whatever its memory_type;
content is cut on a character boundary (not mid-UTF-8 sequence); a decision shows its reasoning; and
``max_tokens`` is honoured. Tokens are estimated as ``ceil(characters / 4)``, the usual rule of thumb for English
with BPE tokenizers; when the text would not fit, the lowest-priority memories are left out first and a last line
says how many. Priority blends recency, importance and kind (errors and decisions outrank routine actions).
Rendering is a pure function of its inputs: same memories, same options, same text.

Facts that change (`memtrace.facts`) come first, under Known Facts: the current keyed memories of the session's
agent, newest first, one line each (``- key: content (since <valid_from>)``). They are given by the caller as
current versions only, so a superseded fact is never shown as current; a fact that is also one of the session's
memories is listed once, under Known Facts. Facts rank above every other memory when the budget is tight.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .records import MemoryRecord
from .timeparse import MAX_TIME_US, MIN_TIME_US

DEFAULT_MAX_CONTENT_CHARS = 200
CHARS_PER_TOKEN = 4

_SECTIONS = ("Recent Actions", "Decisions Made", "Errors", "Other", "Known Facts")
_FACTS = 4
_DISPLAY_ORDER = (_FACTS, 0, 1, 2, 3)
_FACT_PRIORITY = 2.0
"""Above any memory's priority (at most 1.0): what the agent knows now is kept first."""
_KIND_WEIGHT = {"error": 1.0, "decision": 0.8, "entity": 0.6, "episodic": 0.5, "session": 0.4}


@dataclass(frozen=True)
class RenderedContext:
    text: str
    included: int
    omitted: int


def estimate_tokens(text: str) -> int:
    """The token estimate `max_tokens` is checked against: ceil(len(text) / 4)."""
    return -(-len(text) // CHARS_PER_TOKEN)


_MINUTE_PREFIXES: dict[int, str] = {}
_MINUTE_PREFIXES_MAX = 20_000
"""Bound of the minute cache (about 2 MB, two weeks of minutes); a full cache starts again empty."""


def _minute_prefix(minute: int) -> str:
    """``YYYY-MM-DDTHH:MM:`` of a minute since the epoch."""
    prefix = _MINUTE_PREFIXES.get(minute)
    if prefix is None:
        t = time.gmtime(minute * 60)
        prefix = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
        if len(_MINUTE_PREFIXES) >= _MINUTE_PREFIXES_MAX:
            _MINUTE_PREFIXES.clear()
        _MINUTE_PREFIXES[minute] = prefix
    return prefix


def format_time(time_us: int) -> str:
    """RFC3339 with trailing fractional zeros trimmed, as Go's RFC3339Nano prints (and Arc returns)."""
    # Everything down to the minute comes from a cache (a session's memories share their minutes), and only
    # the seconds and fraction are formatted: a tenth of the cost of datetime + strftime, which was half of
    # rendering a line.
    if not MIN_TIME_US <= time_us <= MAX_TIME_US:  # a row written by an older version: render it clamped
        time_us = min(max(time_us, MIN_TIME_US), MAX_TIME_US)
    minute, rest = divmod(time_us, 60_000_000)
    secs, micros = divmod(rest, 1_000_000)
    if not micros:
        return f"{_minute_prefix(minute)}{secs:02d}Z"
    return f"{_minute_prefix(minute)}{secs:02d}.{f'{micros:06d}'.rstrip('0')}Z"


def _cut(text: str, limit: int) -> str:
    """`text` with runs of white space folded to one space, cut to `limit` characters (never inside a
    character: Python slices by code point) with "..." when anything was cut."""
    # Fold only a bounded prefix: the result is the same whenever that prefix already folds to more than
    # `limit` characters, and long memories no longer pay for splitting all of their text.
    window = 2 * limit + 16
    head = text if len(text) <= window else text[:window]
    # Most contents need no folding: no white space but single spaces between words. Every white space
    # character except the space is unprintable (tests/core/test_context.py checks all of Unicode), so
    # `isprintable` and a look for two spaces in a row prove it without splitting the text into words.
    if head.isprintable() and "  " not in head and head[:1] != " " and head[-1:] != " ":
        # Folding leaves `head` as it is; when it is the window, it is longer than `limit` and gets cut.
        return text if len(text) <= limit else text[:limit] + "..."
    if len(text) > window:
        flat = " ".join(head.split())
        if len(flat) > limit:
            return flat[:limit] + "..."
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


_LINES: dict[tuple[int, int, int], tuple[str, str, str, str | None, str]] = {}
_LINES_MAX = 8192
"""Rendered lines, so the same memory in the next context of its session is a dictionary lookup instead of a
rendering: agents ask for their session's context turn after turn, and a line costs a few microseconds to render
but well under one to find. Found by the memory's time, its content's length and the character limit; an entry
holds the rest of what its line is made of (`_line`'s other inputs), compared on every hit, so it is exact like
any memo of a pure function (a changed memory misses). Not keyed by the content itself: hashing it, fresh from
the database each time, was 40% of a hit. Two memories of one time and length take turns in one entry (a miss,
not a wrong line). Bounded: about 6 MB for contents of a few hundred characters; a full cache starts again
empty."""


def _fact_line(rec: MemoryRecord, max_chars: int) -> str:
    since = format_time(rec.valid_from_us if rec.valid_from_us is not None else rec.time_us)
    return f"- {rec.fact_key}: {_cut(rec.content, max_chars)} (since {since})"


def _line(rec: MemoryRecord, max_chars: int) -> str:
    line = f"- [{format_time(rec.time_us)}] {rec.event_type}: {_cut(rec.content, max_chars)}"
    if rec.memory_type == "decision" and rec.metadata_json:
        reasoning = json.loads(rec.metadata_json).get("reasoning")
        if isinstance(reasoning, str) and reasoning.strip():
            line += f" (reasoning: {_cut(reasoning, max_chars)})"
    return line


def _priority(rec: MemoryRecord, recency_rank: int, n: int) -> float:
    recency = 1.0 - recency_rank / n
    kind = _KIND_WEIGHT["error"] if rec.event_type == "error" else _KIND_WEIGHT.get(rec.memory_type, 0.4)
    importance = rec.importance if rec.importance is not None else 0.0
    return 0.4 * recency + 0.3 * importance + 0.3 * kind


def _assemble(session_id: str, lines: list[list[str]], omitted: int) -> str:
    parts = [f"## Session Context ({session_id})\n\n"]
    present = [i for i in _DISPLAY_ORDER if lines[i]]
    for pos, i in enumerate(present):
        parts.append(f"### {_SECTIONS[i]} ({len(lines[i])})\n")
        parts.append("\n".join(lines[i]))
        parts.append("\n")
        if pos != len(present) - 1 or omitted:
            parts.append("\n")
    if omitted:
        parts.append(_omission_note(omitted))
    return "".join(parts)


def _omission_note(omitted: int) -> str:
    noun = "memory" if omitted == 1 else "memories"
    return f"_{omitted} lower-priority {noun} omitted to fit max_tokens._\n"


def render_session_context(
    session_id: str,
    records: list[MemoryRecord],
    *,
    max_tokens: int | None = None,
    max_content_chars: int = DEFAULT_MAX_CONTENT_CHARS,
    facts: list[MemoryRecord] | None = None,
) -> RenderedContext:
    """Render `records` (newest first) as the session's markdown context, after the current `facts` (newest
    first) under Known Facts.

    `max_tokens`, when given, bounds `estimate_tokens(text)`. The header is always present.
    """
    facts = facts or []
    fact_ids = {f.id for f in facts}
    if fact_ids:
        records = [r for r in records if r.id not in fact_ids]
    # One pass, no call per memory for its section (a 500-memory context is this loop). Each line goes to its
    # section's bucket as it is made: the text of everything is assembled from those without a second pass. The
    # lines and their sections in order are kept only when a budget may need fitting (`_fit`).
    sections = [_FACTS] * len(facts)
    lines_all = [_fact_line(f, max_content_chars) for f in facts]
    buckets: list[list[str]] = [[], [], [], [], lines_all[:]]
    fit = max_tokens is not None
    add_section, add_line = sections.append, lines_all.append
    actions, decisions, errors, other = (b.append for b in buckets[:4])
    cache = _LINES
    for r in records:
        memory_type = r.memory_type
        event_type = r.event_type
        content = r.content
        metadata_json = r.metadata_json
        key = (r.time_us, len(content), max_content_chars)
        hit = cache.get(key)
        if (
            hit is not None
            and hit[0] == content
            and hit[1] == event_type
            and hit[2] == memory_type
            and hit[3] == metadata_json
        ):
            line = hit[4]
        else:
            line = _line(r, max_content_chars)
            if len(cache) >= _LINES_MAX:
                cache.clear()
            cache[key] = (content, event_type, memory_type, metadata_json, line)
        if event_type == "error":
            errors(line)
            section = 2
        elif memory_type == "episodic":
            actions(line)
            section = 0
        elif memory_type == "decision":
            decisions(line)
            section = 1
        else:
            other(line)
            section = 3
        if fit:
            add_section(section)
            add_line(line)
    count = len(facts) + len(records)
    text = _assemble(session_id, buckets, 0)
    if max_tokens is not None and count and len(text) > max_tokens * CHARS_PER_TOKEN:
        keep = _fit(session_id, [*facts, *records], sections, lines_all, max_tokens * CHARS_PER_TOKEN)
        omitted = keep.count(False)
        text = _assemble(session_id, _bucket(sections, lines_all, keep), omitted)
        return RenderedContext(text=text, included=count - omitted, omitted=omitted)
    return RenderedContext(text=text, included=count, omitted=0)


def _bucket(sections: list[int], lines: list[str], keep: list[bool]) -> list[list[str]]:
    buckets: list[list[str]] = [[] for _ in _SECTIONS]
    for sec, line, k in zip(sections, lines, keep, strict=True):
        if k:
            buckets[sec].append(line)
    return buckets


def _fit(
    session_id: str, records: list[MemoryRecord], sections: list[int], lines: list[str], budget: int
) -> list[bool]:
    """Greedily keep memories in priority order while the exact rendered length stays within budget."""
    n = len(records)

    def priority(i: int) -> float:
        return _FACT_PRIORITY - i / n if sections[i] == _FACTS else _priority(records[i], i, n)

    order = sorted(range(n), key=lambda i: (-priority(i), -records[i].time_us, records[i].id))
    keep = [False] * n
    # Character cost is exact: a line costs len+1; a section's header costs its text plus a blank line.
    header = len(f"## Session Context ({session_id})\n\n")
    used_sections: dict[int, int] = {}
    size = header
    for i in order:
        sec = sections[i]
        add = len(lines[i]) + 1
        if sec not in used_sections:
            add += len(f"### {_SECTIONS[sec]} (1000)\n") + 1  # reserve a 4-digit count and the blank line
        omitted_after = n - (sum(keep) + 1)
        note = len(_omission_note(omitted_after)) if omitted_after else 0
        if size + add + note <= budget:
            keep[i] = True
            size += add
            used_sections[sec] = used_sections.get(sec, 0) + 1
    # The reservations above over-estimate, so the real text fits; check anyway, dropping more if not.
    while True:
        text = _assemble(session_id, _bucket(sections, lines, keep), keep.count(False))
        if len(text) <= budget or not any(keep):
            return keep
        for i in reversed(order):
            if keep[i]:
                keep[i] = False
                break
