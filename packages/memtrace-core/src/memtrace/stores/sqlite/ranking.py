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

import math
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from ...keywords import loose_prefix, query_keywords, tokens
from ..arc.ranking import K1, MIN_IDF, B, union_estimate
from ..arc.terms import QueryTerm

SCOPE_TOKENS = 3
"""Tokens of the index's scope column in every row (org, agent, session: ``hex(NULL)`` is ``''``, so a memory
without a session still has a bare ``s``); FTS5 counts them in a row's length although they weigh nothing."""

SCORE_LIMIT = 2_000
"""The most candidates a tier scores here; a tier with more is ranked by ``bm25()`` (C is faster per row once
the candidates, not the statistics, are the cost)."""

EXACT_BELOW = 10_000
"""Organisations with fewer indexed memories have their document frequencies recounted after any change."""

EXACT_UNION = 50_000
"""A prefix standing for several terms has its document frequency counted by FTS5 (a pass over their doclists)
while their counts add up to at most this; past it, estimated."""

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


def groups_of(phrases: Sequence[Phrase]) -> list[list[int]]:
    """The phrases' indexes per query keyword, in keyword order."""
    out: dict[int, list[int]] = {}
    for i, p in enumerate(phrases):
        out.setdefault(p.term.group, []).append(i)
    return list(out.values())


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


T = TypeVar("T")
K = TypeVar("K")


@dataclass
class _Cached(Generic[T]):
    value: T
    state: IndexState


MAX_PREFIX_TERMS = 64
"""A loose prefix standing for more index terms than this is matched as a prefix (a huge OR is no faster)."""


def _successor(prefix: str) -> str:
    """The least string above every string starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class DocumentFrequencies:
    """Per organisation index, what a search needs of it besides the candidates, read from FTS5 and kept for
    the life of the store: the index terms in a prefix's range with how many memories hold each (one pass of
    FTS5's vocabulary table), and the document frequency of what that does not give (a phrase of several
    words, the union of a prefix's terms). All are reused while the index is unchanged (same cookie); in an
    index of `EXACT_BELOW` rows or more also while its rows and tokens have moved by at most 1/`STALE_SHARE`
    since they were read (a 1% change in a count moves a term's idf by under 0.02)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], _Cached[int]] = {}
        self._ranges: dict[tuple[str, str, bool], _Cached[dict[str, int]]] = {}
        self._vocab: set[str] = set()
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

    def _cached(
        self,
        cache: dict[K, _Cached[T]],
        key: K,
        state: IndexState,
        compute: Callable[[], T],
    ) -> T:
        with self._lock:
            c = cache.get(key)
        if c is None or not self._fresh(c.state, state):
            c = _Cached(compute(), state)
            with self._lock:
                if len(cache) > 100_000:
                    cache.clear()
                cache[key] = c
        return c.value

    def _terms(
        self, conn: sqlite3.Connection, table: str, text: str, state: IndexState, *, prefix: bool
    ) -> dict[str, int]:
        """The index terms starting with `text` (or equal to it), with how many rows hold each in their content
        (the scope column has terms too)."""
        vocab = f"memtrace_vocab_{table}"
        if vocab not in self._vocab:
            conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{vocab} USING fts5vocab(main, {table}, col)"
            )
            with self._lock:
                self._vocab.add(vocab)

        def read() -> dict[str, int]:
            if prefix:
                sql = f"SELECT term, doc FROM temp.{vocab} WHERE term >= ? AND term < ? AND col = 'content'"
                args: tuple[str, ...] = (text, _successor(text))
            else:
                sql, args = f"SELECT term, doc FROM temp.{vocab} WHERE term = ? AND col = 'content'", (text,)
            return {t: int(d) for t, d in conn.execute(sql, args)}

        return self._cached(self._ranges, (table, text, prefix), state, read)

    def _count(self, conn: sqlite3.Connection, table: str, fts: str, state: IndexState) -> int:
        def count() -> int:
            return int(
                conn.execute(
                    f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (f"content : {fts}",)
                ).fetchone()[0]
            )

        return self._cached(self._counts, (table, fts), state, count)

    def get(
        self,
        conn: sqlite3.Connection,
        table: str,
        phrases: Sequence[Phrase],
        state: IndexState,
        *,
        counted: bool = True,
    ) -> list[int]:
        """Each phrase's document frequency in `table`: a term's from the vocabulary; a prefix's as the one
        term it stands for, else counted by FTS5 while its terms' counts add up to at most `EXACT_UNION`, else
        estimated as if they occurred independently (`memtrace.stores.arc.ranking.union_estimate`). Not
        `counted`: from the vocabulary alone, never a counting pass over doclists (a prefix of several terms as
        their estimated union, a phrase of several words as its rarest word's count): for choosing a plan."""
        out = []
        prefixes = {
            p.term.group: p.term.pattern.strip() for p in phrases if p.fts.endswith("*") and not p.empty
        }
        for p in phrases:
            words = p.term.pattern.split()
            if p.empty:
                out.append(0)
            elif p.fts.endswith("*"):
                docs = list(self._terms(conn, table, words[0], state, prefix=True).values())
                if len(docs) <= 1:
                    out.append(sum(docs))
                elif counted and sum(docs) <= EXACT_UNION:
                    out.append(self._count(conn, table, p.fts, state))
                else:
                    out.append(union_estimate(state.rows, docs))
            elif len(words) == 1:
                # The word's own term is usually in its prefix's range, read anyway: one pass for both.
                around = prefixes.get(p.term.group)
                if around is not None and words[0].startswith(around):
                    out.append(self._terms(conn, table, around, state, prefix=True).get(words[0], 0))
                else:
                    out.append(self._terms(conn, table, words[0], state, prefix=False).get(words[0], 0))
            elif counted:
                out.append(self._count(conn, table, p.fts, state))
            else:
                out.append(
                    min(self._terms(conn, table, word, state, prefix=False).get(word, 0) for word in words)
                )
        return out

    def alternatives(
        self, conn: sqlite3.Connection, table: str, phrases: Sequence[Phrase], state: IndexState
    ) -> list[list[str]]:
        """Per phrase, FTS5 phrases that find the same memories without a prefix query: a loose prefix becomes
        the index terms it stands for, quoted (FTS5 reads a prefix query's doclists in full before it can
        skip to an agent's key range; a plain term seeks). A prefix is kept as it is when it stands for more
        than `MAX_PREFIX_TERMS` terms, or for a term the stemmer would change again (a quoted term is stemmed
        once more; the Porter stemmer is not idempotent). [] when no memory holds the phrase."""
        out: list[list[str]] = []
        for p in phrases:
            if p.empty:
                out.append([])
            elif not p.fts.endswith("*"):
                out.append([p.fts])
            else:
                terms = [
                    t
                    for t, d in self._terms(conn, table, p.term.pattern.strip(), state, prefix=True).items()
                    if d
                ]
                if len(terms) > MAX_PREFIX_TERMS or any(tokens(t) != [t] for t in terms):
                    out.append([p.fts])
                else:
                    out.append(['"' + t + '"' for t in terms])
        return out


@dataclass(frozen=True)
class Bm25:
    """BM25's constants for one query over one index: each phrase's idf (floored as FTS5 floors it) and the
    average row length."""

    idf: tuple[float, ...]
    avgdl: float

    def bound(self, i: int) -> float:
        """The most phrase `i` can add to a score (its term frequency growing without end)."""
        return self.idf[i] * (K1 + 1.0)


def phrase_weights(
    conn: sqlite3.Connection,
    table: str,
    phrases: Sequence[Phrase],
    frequencies: DocumentFrequencies,
    state: IndexState,
) -> Bm25 | None:
    """BM25's constants for `phrases` over the org's index `table` in `state` (None when it is empty): the
    formula of `memtrace.stores.arc.ranking`, with FTS5's N (rows) and average length (tokens of all columns
    over rows)."""
    if state.rows <= 0:
        return None
    idf = []
    for df in frequencies.get(conn, table, phrases, state):
        df = min(max(df, 0), state.rows)
        value = math.log((state.rows - df + 0.5) / (df + 0.5))
        idf.append(value if value > 0.0 else MIN_IDF)
    return Bm25(tuple(idf), state.tokens / state.rows)


def candidate_expression(
    phrases: Sequence[Phrase], alternatives: Sequence[Sequence[str]], every: bool
) -> str | None:
    """The MATCH expression for a tier from `DocumentFrequencies.alternatives`: memories with any phrase, or
    (`every`) with some phrase of every keyword. None when nothing can match."""
    groups: dict[int, list[str]] = {}
    for p, alt in zip(phrases, alternatives, strict=True):
        groups.setdefault(p.term.group, []).extend(alt)
    if every:
        if any(not g for g in groups.values()):
            return None
        return " AND ".join("(" + " OR ".join(dict.fromkeys(g)) + ")" for g in groups.values())
    found = [a for g in groups.values() for a in g]
    return " OR ".join(dict.fromkeys(found)) if found else None


def bm25_expression(
    phrases: Sequence[Phrase], alternatives: Sequence[Sequence[str]], every: bool
) -> str | None:
    """The tier's MATCH expression for ``bm25()`` (`all_expression` or `any_expression`: the same phrases in the
    same order, repeats kept), except that a loose prefix standing for exactly one index term is that term,
    quoted (`DocumentFrequencies.alternatives`). Such a phrase matches the same memories with the same term
    frequencies, and its document frequency is the term's, so every score is the same, bit for bit; but FTS5
    reads a prefix by merging its terms' doclists into a new one, in the match and again in ``bm25()``'s count
    of its document frequency, where a term's doclist is read in place (at 1,000,000 memories a quarter of an
    organisation-wide search of two words). A prefix standing for several terms stays a prefix: as several
    phrases it would be scored as several. Only ASCII terms are swapped (our stemmer is FTS5's on those)."""
    read = [
        replace(p, fts=alt[0]) if p.fts.endswith("*") and len(alt) == 1 and alt[0].isascii() else p
        for p, alt in zip(phrases, alternatives, strict=True)
    ]
    return all_expression(read) if every else any_expression(read)


def tier_estimate(rows: int, df: Sequence[int], phrases: Sequence[Phrase], every: bool) -> int:
    """About how many memories a tier matches, from its phrases' document frequencies, as if keywords occurred
    independently (each keyword's count taken as its most frequent phrase's). Only chooses how a search runs,
    never what it returns."""
    if rows <= 0:
        return 0
    per_keyword = [max(df[i] for i in g) for g in groups_of(phrases)]
    if not every:
        return union_estimate(rows, per_keyword)
    share = 1.0
    for d in per_keyword:
        share *= min(1.0, d / rows)
    return round(rows * share)


def score_content(content: str, phrases: Sequence[Phrase], w: Bm25) -> float:
    """A memory's BM25 score for `phrases`: FTS5's ``-bm25()`` with the content column weighing 1 and scope 0,
    computed in FTS5's order of operations (``fts5Bm25Function``), so that near-ties (words in most memories,
    whose idf is floored at 1e-6) order as ``bm25()`` orders them."""
    words = tokens(content)
    text = " " + "  ".join(words) + " "
    length = float(len(words) + SCOPE_TOKENS)
    total = 0.0
    for idf, p in zip(w.idf, phrases, strict=True):
        f = 0 if p.empty else text.count(p.term.pattern)
        total += idf * ((f * (K1 + 1.0)) / (f + K1 * (1 - B + B * length / w.avgdl)))
    return total


__all__ = [
    "SCORE_LIMIT",
    "Bm25",
    "DocumentFrequencies",
    "IndexState",
    "Phrase",
    "all_expression",
    "any_expression",
    "bm25_expression",
    "candidate_expression",
    "groups_of",
    "index_state",
    "phrase_weights",
    "query_phrases",
    "score_content",
    "tier_estimate",
]
