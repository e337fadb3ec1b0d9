"""Ranked keyword search in SQL: memtrace's keyword language over a GIN index, scored by BM25 per organisation.

Why not PostgreSQL's own text search: ``plainto_tsquery`` ANDs every word and ``ts_rank_cd`` is not BM25; on a
public conversational-memory benchmark that pattern put an evidence session in the top 5 for ~15% of questions,
BM25 for ~91% (docs/postgres.md). So memtrace tokenises itself, exactly as the embedded store's FTS5 index does
(``porter unicode61 remove_diacritics 2``, via `memtrace.keywords`), and uses PostgreSQL only to find
candidates and do arithmetic:

- a row stores ``search_terms`` (its stems as ``" w1  w2 "``), ``n_terms`` and ``tsv`` (distinct stems plus
  scope tokens for org, agent and session);
- a query becomes the embedded store's terms (`query_terms`): each keyword as a stem or phrase, plus its loose
  prefix; candidates are found by a ``tsquery`` over the GIN index (``'deploy' | 'deplo':*``), narrowed by the
  scope tokens inside the same index;
- BM25 is FTS5's formula (``memtrace.stores.arc.ranking``) with N and the average length from the org's
  ``corpus_stats`` and each term's document frequency in the org from ``term_stats`` (`frequencies.py`): one
  organisation's data never moves another's scores (invariant 2). Term frequencies are substring counts in
  ``search_terms``.
- the document length counts `SCOPE_LENGTH` tokens more than the content has, as FTS5 counts the embedded
  store's scope column (always three tokens: SQLite's ``hex(NULL)`` is ``''``, so a memory without a session
  still has a bare ``s``), so on the same data of one org the two stores give the same scores and order;
- two tiers as in the embedded store: memories with every keyword first, then those with some;
- bounded work: at most `rank_limit` candidates (the most recently written) are scored per tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import NamedTuple

from ...keywords import tokens
from ..arc.ranking import Weights
from ..arc.terms import QueryTerm
from ..arc.terms import query_terms as shared_query_terms

SCOPE_ORG = "~o:"
SCOPE_AGENT = "~a:"
SCOPE_SESSION = "~s:"
SCOPE_LENGTH = 3
MAX_LEXEME_CHARS = 2046 // 4
"""PostgreSQL refuses lexemes over 2,046 bytes (a character is at most 4). A longer "word" is still scored (it is in ``search_terms``) but cannot be
found by itself."""


MAX_TSVECTOR_CHARS = 256 * 1024
"""A tsvector holds at most 1 MB. Past this many characters of distinct words (only a huge memory has that
many), the words first seen later are left out of the index: still scored, no longer found by themselves."""


def _first_distinct(words: list[str], budget: int) -> set[str]:
    kept: set[str] = set()
    for w in words:
        if w in kept or len(w) > MAX_LEXEME_CHARS:
            continue
        if len(w) > budget:
            break
        kept.add(w)
        budget -= len(w)
    return kept


def scope_tokens(org_id: str, agent_id: str, session_id: str | None) -> list[str]:
    out = [SCOPE_ORG + org_id, SCOPE_AGENT + agent_id]
    if session_id is not None:
        out.append(SCOPE_SESSION + session_id)
    return out


def quote_lexeme(lexeme: str) -> str:
    """A lexeme as a quoted tsvector/tsquery literal (content words are letters and digits only; scope tokens are
    ids; quoting anyway keeps any string safe)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


class DocumentTerms(NamedTuple):
    """What a memory stores for keyword search. A tuple: made once per memory written, and a frozen dataclass
    took longer to build than the tsvector text."""

    search_terms: str
    n_terms: int
    tsv: str
    stems: AbstractSet[str]
    """The distinct stems in `tsv` (without scope tokens): what ``term_stats`` counts for this memory."""


@lru_cache(maxsize=4096)
def _scope_lexemes(org_id: str, agent_id: str, session_id: str | None) -> str:
    return " ".join(quote_lexeme(s) for s in scope_tokens(org_id, agent_id, session_id))


def document_terms(content: str, org_id: str, agent_id: str, session_id: str | None) -> DocumentTerms:
    words = tokens(content)
    # Content words are letters and digits, which a tsvector literal takes unquoted (PostgreSQL sorts and
    # dedups); only the scope tokens need quoting, and a writer's few scopes are quoted once. This is most of a
    # write's CPU time after `tokens`, hence the care: the words are checked against the bounds only when their
    # text is longer than the shortest bound (no word can be longer than all of them together).
    text = " " + "  ".join(words) + " " if words else ""
    distinct = set(words)
    if len(text) > MAX_LEXEME_CHARS:
        distinct = {w for w in distinct if len(w) <= MAX_LEXEME_CHARS}
        if sum(map(len, distinct)) > MAX_TSVECTOR_CHARS:
            distinct = _first_distinct(words, MAX_TSVECTOR_CHARS)
    return DocumentTerms(
        text,
        len(words) + SCOPE_LENGTH,
        " ".join(distinct) + " " + _scope_lexemes(org_id, agent_id, session_id),
        distinct,
    )


def query_terms(text: str) -> list[QueryTerm]:
    """The embedded store's query terms (`memtrace.stores.arc.terms.query_terms`, prefixes stemmed as FTS5 does;
    `tests/postgres/test_search_agrees_with_sqlite.py` pins it), without words too long to be a lexeme: no
    memory's index holds such a word, and PostgreSQL would refuse it in a query."""
    return shared_query_terms(text, max_word_chars=MAX_LEXEME_CHARS)


def term_query(term: QueryTerm) -> str:
    """The tsquery that finds every memory containing `term` (a superset for a phrase: its words in any order,
    which the exact substring count then settles)."""
    if not term.pattern.endswith(" "):  # a loose prefix: " deplo"
        return quote_lexeme(term.pattern.strip()) + ":*"
    words = term.pattern.split()
    return (
        quote_lexeme(words[0]) if len(words) == 1 else "(" + " & ".join(quote_lexeme(w) for w in words) + ")"
    )


def is_phrase(term: QueryTerm) -> bool:
    return term.pattern.endswith(" ") and len(term.pattern.split()) > 1


def groups(terms: Sequence[QueryTerm]) -> list[list[int]]:
    """Term indexes per query keyword, in keyword order."""
    out: dict[int, list[int]] = {}
    for i, t in enumerate(terms):
        out.setdefault(t.group, []).append(i)
    return list(out.values())


def _either(alternatives: Sequence[tuple[str, ...]]) -> str:
    """The alternatives ORed, each once: the same lexeme twice in one tsquery (a word and the prefix that
    stands for it) made the GIN scan 10x slower (20 ms against 2 ms measured)."""
    return "(" + " | ".join(dict.fromkeys(a for each in alternatives for a in each)) + ")"


def any_query(alternatives: Sequence[tuple[str, ...]], scope: Sequence[str]) -> str | None:
    """Some term, from each term's tsquery alternatives in this org (`frequencies.TermFrequencies`); None when
    no term is in any memory of the org."""
    if not any(alternatives):
        return None
    return " & ".join([*(quote_lexeme(s) for s in scope), _either(alternatives)])


def all_query(
    terms: Sequence[QueryTerm], alternatives: Sequence[tuple[str, ...]], scope: Sequence[str]
) -> str | None:
    """Every keyword in some form; None when the query has a single keyword (no tiers then) or a keyword no
    memory of the org holds (the first tier is empty)."""
    parts = groups(terms)
    if len(parts) < 2:
        return None
    each = []
    for g in parts:
        found = [alternatives[i] for i in g]
        if not any(found):
            return None
        each.append(_either(found))
    return " & ".join([*(quote_lexeme(s) for s in scope), *each])


def tf_sql(i: int) -> str:
    """A term's frequency in a row: non-overlapping occurrences of its pattern in ``search_terms``. Counted in
    bytes (each occurrence removed takes the pattern's bytes with it, so the quotient is the same): ``length``
    counts the characters of a UTF-8 text by reading all of it, ``octet_length`` reads its header. Replaced
    under the "C" collation: byte for byte, the same result in UTF-8 (a valid pattern only matches at character
    boundaries), and half the time of the database's default (50 against 100 ms for 20,000 rows measured)."""
    return (
        f"((octet_length(m.search_terms) - octet_length(replace(m.search_terms COLLATE \"C\", %(p{i})s, ''))) "
        f"/ octet_length(%(p{i})s))::float8 AS tf{i}"
    )


def score_sql(n: int) -> str:
    """BM25 of a candidate row, summed in term order like `memtrace.stores.arc.ranking.score`."""
    if n == 0:
        return "0::float8"
    return " + ".join(f"%(w{i})s::float8 * c.tf{i} / (c.tf{i} + c.nrm)" for i in range(n))


def weight_params(w: Weights) -> dict[str, float]:
    params = {f"w{i}": x for i, x in enumerate(w.term_weights)}
    params["wa"], params["wb"] = w.a, w.b
    return params


def tier_condition(terms: Sequence[QueryTerm], every_keyword: bool) -> str:
    """Exact membership of a tier (the tsquery may over-match phrases): some term of each keyword present
    (`every_keyword`), or of any keyword."""
    if every_keyword:
        return " AND ".join("(" + " OR ".join(f"c.tf{i} > 0" for i in g) + ")" for g in groups(terms))
    return "(" + " OR ".join(f"c.tf{i} > 0" for i in range(len(terms))) + ")"


__all__ = [
    "DocumentTerms",
    "all_query",
    "any_query",
    "document_terms",
    "groups",
    "is_phrase",
    "query_terms",
    "quote_lexeme",
    "scope_tokens",
    "score_sql",
    "term_query",
    "tf_sql",
    "tier_condition",
    "weight_params",
]
