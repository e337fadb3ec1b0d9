"""Keyword search without a full-text index: each memory carries its stemmed words in a column.

Arc (DuckDB over Parquet) has no FTS index we could build (its SQL validator blocks ``PRAGMA`` and ``CREATE``),
so at write time the Arc store adds ``search_terms``: the content's words, lower-cased, without diacritics,
Porter-stemmed, each wrapped in single spaces (``" user  prefer  dark  mode "``), and ``term_count``.

A query word is then a plain substring of that column: ``" prefer "`` for a whole stemmed word, ``" pref"``
for a loose prefix (the same prefixes the embedded store adds to its FTS5 query), ``" sure  thing "`` for the
phrase ``sure_thing``. Counting a pattern's non-overlapping occurrences gives the term frequency BM25 needs,
with nothing but ``length``, ``replace`` and ``instr``, which DuckDB and SQLite spell alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...keywords import loose_prefix, normalize, query_keywords, tokens


def search_terms(content: str) -> tuple[str, int]:
    """The ``search_terms`` column for `content` and its word count (``term_count``)."""
    words = tokens(content)
    if not words:
        return "", 0
    return " " + "  ".join(words) + " ", len(words)


@dataclass(frozen=True)
class QueryTerm:
    """One thing to look for in ``search_terms``: a substring whose occurrences are the term frequency.
    `group` is the query keyword it stands for (a word and its loose prefix share one)."""

    pattern: str
    group: int = 0


def query_terms(text: str, *, max_word_chars: int | None = None) -> list[QueryTerm]:
    """The terms of a free-text query, in the order the embedded store's FTS5 query has them: each keyword
    (stop words dropped when anything else is left) as a stemmed word or phrase, then its loose prefix.

    FTS5 runs a prefix query's text through the porter stemmer too (``"custome"*`` looks for ``custom``), so the
    prefix is stemmed here as well, for every store that scores like the embedded one (Arc, PostgreSQL).
    A term with a word longer than `max_word_chars` is left out (a store that cannot index such a word)."""
    terms: list[QueryTerm] = []
    patterns: set[str] = set()

    def add(pattern: str, group: int) -> None:
        if max_word_chars is not None and any(len(w) > max_word_chars for w in pattern.split()):
            return
        if pattern.strip() and pattern not in patterns:
            patterns.add(pattern)
            terms.append(QueryTerm(pattern, group))

    for group, w in enumerate(query_keywords(text)):
        phrase = tokens(w)
        if phrase:
            add(" " + "  ".join(phrase) + " ", group)
        prefix = loose_prefix(w)
        if prefix:
            add(" " + "".join(tokens(prefix)), group)
    return terms


def has_every_keyword(frequencies: Sequence[int], terms: Sequence[QueryTerm]) -> bool:
    """Whether each keyword of the query is present in some form (the first ranking tier, as the embedded
    store ranks). A single-keyword query has no tiers."""
    found: dict[int, bool] = {}
    for f, t in zip(frequencies, terms, strict=True):
        found[t.group] = found.get(t.group, False) or f > 0
    return len(found) > 1 and all(found.values())


def term_frequency(search_text: str, term: QueryTerm) -> int:
    return search_text.count(term.pattern)


__all__ = [
    "QueryTerm",
    "has_every_keyword",
    "normalize",
    "query_terms",
    "search_terms",
    "term_frequency",
    "tokens",
]
