"""BM25 for the embedded store's ranked search, computed outside FTS5's ``bm25()``.

FTS5's ``bm25()`` finds each query phrase's document frequency by walking that phrase's whole doclist in the
organisation's index, on every search (its ``xQueryPhrase`` pass), whatever the search is narrowed to: at
1,000,000 memories that pass, not the scoring, was most of an agent-scoped search. Here the same formula
(`memtrace.stores.arc.ranking`, the one the Arc and PostgreSQL stores use, which is FTS5's) is computed with:

- N and the total token count from the index's own averages record (what ``bm25()`` reads);
- each phrase's document frequency counted once by FTS5 and kept (`DocumentFrequencies`): exact while the
  organisation is small, and at most ~1% of its size stale while it is large;
- a candidate's term frequencies and length from its content, tokenised as the index tokenises
  (`memtrace.keywords.tokens`, pinned against FTS5 by tests/arc/test_search_terms.py), plus the three scope
  tokens FTS5 counts in every row's length.

So the order is FTS5's: the same statistics and the same formula; `tests/core/test_sqlite_ranking.py` checks
the scores against ``bm25()`` itself. Tokenising costs a few microseconds a candidate, so the store scores this
way only when a tier has at most `SCORE_LIMIT` candidates and otherwise lets ``bm25()`` rank (events.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ...keywords import loose_prefix, query_keywords, tokens
from ..arc.ranking import CorpusStats, Weights, score, weights
from ..arc.terms import QueryTerm

SCOPE_TOKENS = 3
"""Tokens of the index's scope column in every row (org, agent, session: ``hex(NULL)`` is ``''``, so a memory
without a session still has a bare ``s``); FTS5 counts them in a row's length although they weigh nothing."""

SCORE_LIMIT = 2_000
"""The most candidates a tier scores here; a tier with more is ranked by ``bm25()`` (C is faster per row once
the candidates, not the statistics, are the cost)."""

EXACT_BELOW = 10_000
"""Organisations with fewer indexed memories have their document frequencies recounted after any change."""

STALE_SHARE = 100
"""A larger organisation's counts are reused until the rows indexed or removed since they were counted exceed
1/STALE_SHARE of it."""


@dataclass(frozen=True)
class Phrase:
    """One phrase of the FTS5 query, as FTS5 sees it (`fts`, e.g. ``"update"`` or ``"upda"*``) and as a
    pattern over a candidate's tokens (`term`, `memtrace.stores.arc.terms.QueryTerm`)."""

    fts: str
    term: QueryTerm
    empty: bool = False
    """No token at all (a keyword the tokenizer drops entirely): FTS5 matches nothing for it."""


def query_phrases(text: str) -> list[Phrase]:
    """The phrases of the FTS5 query for `text`, in FTS5's order: per keyword, the keyword quoted, then its loose
    prefix when it has one. Unlike `memtrace.stores.arc.terms.query_terms`, a phrase repeated by two keywords
    stays twice, as FTS5 scores it."""
    out: list[Phrase] = []
    for group, w in enumerate(query_keywords(text)):
        words = tokens(w)
        out.append(
            Phrase(
                '"' + w.replace('"', '""') + '"',
                QueryTerm(" " + "  ".join(words) + " ", group),
                empty=not words,
            )
        )
        prefix = loose_prefix(w)
        if prefix:
            stems = tokens(prefix)
            out.append(Phrase(f'"{prefix}"*', QueryTerm(" " + "".join(stems), group), empty=not stems))
    return out


def any_expression(phrases: Sequence[Phrase]) -> str | None:
    """Memories with any keyword: every phrase ORed. None without phrases."""
    return " OR ".join(p.fts for p in phrases) if phrases else None


def all_expression(phrases: Sequence[Phrase]) -> str | None:
    """Memories with every keyword (each in some form); None with fewer than two keywords."""
    groups: dict[int, list[str]] = {}
    for p in phrases:
        groups.setdefault(p.term.group, []).append(p.fts)
    if len(groups) < 2:
        return None
    return " AND ".join("(" + " OR ".join(g) + ")" for g in groups.values())


def _varint(data: bytes, i: int) -> tuple[int, int]:
    """SQLite's variable-length integer at `data[i:]`: (value, next offset)."""
    value = 0
    for n in range(8):
        b = data[i + n]
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i + n + 1
    return (value << 8) | data[i + 8], i + 9


@dataclass(frozen=True)
class IndexState:
    """What ``bm25()`` reads of an FTS5 table (its averages record, id 1 of ``<table>_data``: rows and tokens in
    all columns), and the structure record's cookie (id 10), which FTS5 increments whenever the index changes."""

    rows: int
    tokens: int
    cookie: int


def index_state(conn: sqlite3.Connection, table: str) -> IndexState:
    rows, total, cookie = 0, 0, -1
    for key, block in conn.execute(f"SELECT id, block FROM {table}_data WHERE id IN (1, 10)"):
        data = bytes(block or b"")
        if key == 10 and len(data) >= 4:
            cookie = int.from_bytes(data[:4], "big")
        elif key == 1 and data:
            rows, i = _varint(data, 0)
            while i < len(data):
                n, i = _varint(data, i)
                total += n
    return IndexState(rows, total, cookie)


@dataclass
class _Count:
    documents: int
    state: IndexState


class DocumentFrequencies:
    """Per organisation index and phrase, how many indexed memories contain the phrase: counted by FTS5 and
    kept for the life of the store. A count is reused while the index is unchanged (same cookie); in an index
    of `EXACT_BELOW` rows or more also while its rows and tokens have moved by at most 1/`STALE_SHARE` since
    the count (a 1% change in a count moves a term's idf by under 0.02)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], _Count] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _fresh(was: IndexState, now: IndexState) -> bool:
        if was == now:
            return True
        if was.rows < EXACT_BELOW:
            return False
        return (
            abs(now.rows - was.rows) <= was.rows // STALE_SHARE
            and abs(now.tokens - was.tokens) <= was.tokens // STALE_SHARE
        )

    def get(
        self, conn: sqlite3.Connection, table: str, phrases: Sequence[Phrase], state: IndexState
    ) -> list[int]:
        out = []
        for p in phrases:
            if p.empty:
                out.append(0)
                continue
            key = (table, p.fts)
            with self._lock:
                c = self._counts.get(key)
            if c is None or not self._fresh(c.state, state):
                n = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (f"content : {p.fts}",)
                ).fetchone()[0]
                c = _Count(int(n), state)
                with self._lock:
                    if len(self._counts) > 100_000:
                        self._counts.clear()
                    self._counts[key] = c
            out.append(c.documents)
        return out


def phrase_weights(
    conn: sqlite3.Connection, table: str, phrases: Sequence[Phrase], frequencies: DocumentFrequencies
) -> Weights | None:
    """BM25's constants for `phrases` over the org's index `table` (None when it is empty)."""
    state = index_state(conn, table)
    if state.rows <= 0:
        return None
    df = frequencies.get(conn, table, phrases, state)
    return weights(CorpusStats(state.rows, state.tokens, tuple(df)))


def score_content(content: str, phrases: Sequence[Phrase], w: Weights) -> float:
    """A memory's BM25 score for `phrases`: FTS5's ``-bm25()`` with the content column weighing 1 and scope 0."""
    words = tokens(content)
    text = " " + "  ".join(words) + " "
    frequencies = [0 if p.empty else text.count(p.term.pattern) for p in phrases]
    return score(frequencies, len(words) + SCOPE_TOKENS, w)


__all__ = [
    "SCORE_LIMIT",
    "DocumentFrequencies",
    "IndexState",
    "Phrase",
    "all_expression",
    "any_expression",
    "index_state",
    "phrase_weights",
    "query_phrases",
    "score_content",
]
