"""Document frequencies for BM25: how many of an organisation's memories contain each query term.

Counting the memories that hold a term means visiting each of them (PostgreSQL's GIN index returns row
addresses, and a count still reads every row to check it is visible): ~15 us a row on our machine, so 450 ms
of a 540 ms agent-scoped search at 1M memories went there. Instead every write and delete keeps ``term_stats``
(per org, per stem, sharded; `schema.py`), and a search reads:

- a stem: its count in ``term_stats``: exact, one index lookup;
- a loose prefix (``'deplo':*``): the memories holding *any* stem that starts with it. With one such stem in
  the org, that stem's count, exact. With several, their counts do not add up (a memory may hold two of them):
  the memories are counted (bounded: only while the stems' counts sum to at most `exact_limit`), and past that
  the union is estimated as if the stems occurred independently, ``N * (1 - prod(1 - df_i / N))``, kept within
  its certain bounds ``[max df_i, min(N, sum df_i)]``. On the benchmark's 1M memories 16 of 231 query
  prefixes covered several stems, and the estimate was within 5% of the exact count (the sum alone: up to 67%);
- a phrase (``sure_thing``): counted while its rarest word is in at most `exact_limit` memories, else its share
  among the org's `sample` most recent memories times the org's size.

A term's idf changes by less than 0.05 when its count moves by 5%, so the estimated cases barely move scores;
every count below `exact_limit` is exact, so small stores (and the tests that compare with SQLite) score
exactly as the embedded store does.

The same lookup says which stems of the org a loose prefix stands for, and the search asks the GIN index for
those (``'need' | 'needl'``) instead of the prefix (``'need':*``): a prefix match is read in full into a bitmap
before anything is intersected, and its results need rechecking against every row (200 ms against 3 ms for an
agent-scoped query of two common words at 1M memories). A term no memory of the org holds is left out of the
index query altogether. A memory committed between the lookup and the search with a stem the org never had
before is not found through that prefix by that one search (it is by the next).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from ..arc.ranking import union_estimate
from ..arc.terms import QueryTerm
from .database import fetch_in_transaction
from .search import SCOPE_ORG, is_phrase, quote_lexeme, term_query

MAX_PREFIX_STEMS = 64
"""A loose prefix standing for more stems than this is asked of the index as a prefix (a huge OR is no faster)."""


@dataclass(frozen=True)
class TermFrequencies:
    """Per query term: how many of the org's memories contain it, and the tsquery alternatives that find them
    in this org (ORed; none when no memory of the org contains it)."""

    counts: list[int]
    alternatives: list[tuple[str, ...]]


def successor(prefix: str) -> str | None:
    """The least string after every string that starts with `prefix` (bytewise, as the "C" collation and
    UTF-8 order compare), or None when there is none to write."""
    code = ord(prefix[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters: the next one is U+E000
        code = 0xE000
    return prefix[:-1] + chr(code) if code <= 0x10FFFF else None


@dataclass(frozen=True)
class OrgCounts:
    """An org's memory count and total length (``corpus_stats``), and its count of each stem a query names
    (`org_counts`)."""

    documents: int
    total_terms: int
    stems: dict[str, int]


def org_counts(conn: psycopg.Connection[Any], org_id: str, terms: Sequence[QueryTerm]) -> OrgCounts:
    """The org's memory count and total length, and its count of each stem in `terms` and of every stem one of
    their loose prefixes stands for (stems no memory holds any more are left out): one statement, one round
    trip (a search made two)."""
    prefixes = [t.pattern[1:] for t in terms if not t.pattern.endswith(" ")]
    words = sorted({w for t in terms if t.pattern.endswith(" ") for w in t.pattern.split()})
    sql, params = _stem_counts_sql(org_id, words, prefixes)
    rows = conn.execute(
        "SELECT NULL::text, COALESCE(sum(documents), 0), COALESCE(sum(total_terms), 0) FROM corpus_stats "
        f"WHERE org_id = %(org)s UNION ALL SELECT term, documents, NULL FROM ({sql}) AS s",
        params,
    ).fetchall()
    documents = total = 0
    stems: dict[str, int] = {}
    for term, n, length in rows:
        if term is None:
            documents, total = int(n), int(length)
        else:
            stems[term] = int(n)
    return OrgCounts(documents, total, stems)


def stem_counts(
    conn: psycopg.Connection[Any], org_id: str, words: Sequence[str], prefixes: Sequence[str]
) -> dict[str, int]:
    """The org's count of each stem in `words` and of every stem starting with one of `prefixes` (stems no
    memory holds any more are left out)."""
    sql, params = _stem_counts_sql(org_id, words, prefixes)
    return {term: int(n) for term, n in conn.execute(sql, params).fetchall()}


def _stem_counts_sql(
    org_id: str, words: Sequence[str], prefixes: Sequence[str]
) -> tuple[str, dict[str, Any]]:
    """`stem_counts`' statement (columns ``term``, ``documents``) and its parameters."""
    params: dict[str, Any] = {"org": org_id, "words": list(words)}
    ranges = ["term = ANY(%(words)s)"]
    for i, prefix in enumerate(prefixes):
        params[f"lo{i}"] = prefix
        upper = successor(prefix)
        if upper is None:
            ranges.append(f"term >= %(lo{i})s")
        else:
            params[f"hi{i}"] = upper
            ranges.append(f"(term >= %(lo{i})s AND term < %(hi{i})s)")
    sql = (
        f"SELECT term, sum(documents) AS documents FROM term_stats WHERE org_id = %(org)s "
        f"AND ({' OR '.join(ranges)}) GROUP BY term HAVING sum(documents) > 0"
    )
    return sql, params


def document_frequencies(
    conn: psycopg.Connection[Any],
    org_id: str,
    terms: Sequence[QueryTerm],
    org: OrgCounts,
    *,
    org_token: bool,
    exact_limit: int,
    sample: int,
) -> TermFrequencies:
    """Per term, how many of the org's memories contain it, and the tsquery to find them (see the module
    docstring), from the `org_counts` of the query and, for the few terms it cannot answer alone, counting
    queries. `org_token`: narrow the counting queries by the org's scope token in the GIN index (worth it only
    when the org is a small part of the store; the rows' org is checked either way)."""
    documents = org.documents
    counts = org.stems
    out: list[int] = []
    queries: list[tuple[str, ...]] = []
    to_count: dict[int, QueryTerm] = {}
    to_sample: dict[int, QueryTerm] = {}
    for i, t in enumerate(terms):
        if not t.pattern.endswith(" "):
            stems = sorted(stem for stem in counts if stem.startswith(t.pattern[1:]))
            covered = [counts[stem] for stem in stems]
            if len(covered) > 1 and sum(covered) <= exact_limit:
                to_count[i] = t
            out.append(sum(covered) if len(covered) <= 1 else union_estimate(documents, covered))
            if len(stems) <= MAX_PREFIX_STEMS:
                queries.append(tuple(quote_lexeme(stem) for stem in stems))
            else:
                queries.append((term_query(t),))
        elif is_phrase(t):
            rarest = min(counts.get(w, 0) for w in t.pattern.split())
            if rarest:
                (to_count if rarest <= exact_limit else to_sample)[i] = t
            out.append(rarest)  # an upper bound, replaced below
            queries.append((term_query(t),))
        else:
            out.append(counts.get(t.pattern.strip(), 0))
            queries.append((term_query(t),))
    if to_count:
        found = {i: " | ".join(queries[i]) for i in to_count}
        for i, n in _count(conn, org_id, to_count, found, org_token).items():
            out[i] = n
    if to_sample:
        for i, share in _sample_shares(conn, org_id, to_sample, sample).items():
            out[i] = min(out[i], round(share * documents))
    return TermFrequencies(out, [q if n else () for q, n in zip(queries, out, strict=True)])


def _matches(
    i: int, term: QueryTerm, params: dict[str, Any], query: str | None = None, org_token: str | None = None
) -> str:
    """The condition that a row ``m`` contains `term` (`query`, by default its own tsquery, and for a phrase
    the exact words in order), with its parameters added to `params`; narrowed in the GIN index by
    `org_token` when given."""
    params[f"q{i}"] = f"({query})" if query else term_query(term)
    if org_token is not None:
        params["token"] = quote_lexeme(org_token)
        condition = f"m.tsv @@ (%(token)s::tsquery && %(q{i})s::tsquery)"
    else:
        condition = f"m.tsv @@ %(q{i})s::tsquery"
    if not is_phrase(term):
        return condition
    params[f"p{i}"] = term.pattern
    return f"{condition} AND strpos(m.search_terms, %(p{i})s) > 0"


def _count(
    conn: psycopg.Connection[Any],
    org_id: str,
    terms: dict[int, QueryTerm],
    queries: Mapping[int, str | None],
    org_token: bool,
) -> dict[int, int]:
    """Exact counts, for terms known to be in at most `exact_limit` memories (so the visits are bounded)."""
    params: dict[str, Any] = {"org": org_id}
    token = SCOPE_ORG + org_id if org_token else None
    counts = [
        f"(SELECT count(*) FROM memories m WHERE m.org_id = %(org)s AND "
        f"{_matches(i, t, params, queries[i], token)})"
        for i, t in terms.items()
    ]
    # The planner may pick a sequential scan for a term it wrongly expects to be common (20-40 ms measured);
    # through the GIN index a count of a few thousand rows is 1-2 ms.
    (row,) = fetch_in_transaction(
        conn, "SET LOCAL enable_seqscan = off", f"SELECT {', '.join(counts)}", params
    )
    return {i: int(n) for i, n in zip(terms, row, strict=True)}


def _sample_shares(
    conn: psycopg.Connection[Any], org_id: str, terms: dict[int, QueryTerm], sample: int
) -> dict[int, float]:
    """Each term's share among the org's `sample` most recent memories."""
    params: dict[str, Any] = {"org": org_id, "n": sample}
    shares = [f"count(*) FILTER (WHERE {_matches(i, t, params)})" for i, t in terms.items()]
    row = conn.execute(
        f"SELECT count(*), {', '.join(shares)} FROM (SELECT m.tsv, m.search_terms FROM memories m "
        "WHERE m.org_id = %(org)s ORDER BY m.time_us DESC LIMIT %(n)s) AS m",
        params,
    ).fetchone()
    assert row is not None
    seen = max(int(row[0]), 1)
    return {i: int(hits) / seen for i, hits in zip(terms, row[1:], strict=True)}


__all__ = [
    "MAX_PREFIX_STEMS",
    "OrgCounts",
    "TermFrequencies",
    "document_frequencies",
    "org_counts",
    "stem_counts",
    "successor",
    "union_estimate",
]
