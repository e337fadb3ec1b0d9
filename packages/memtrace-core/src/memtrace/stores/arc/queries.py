"""Every SQL statement the Arc store sends, built from `sql` primitives only.

Shape rules, each from spec/arc-api.md:

- the table is the bare measurement name (``FROM events``), resolved by Arc in the ``x-arc-database`` header's
  database; ``db.table`` would be a 400 with that header;
- rows always come back ``ORDER BY time`` (plus ``id``, so ties are deterministic): since 26.09.1 DuckDB no
  longer keeps insertion order;
- ``org_id = '<org>'`` is always the first condition: there is no unscoped query;
- time bounds are quoted literals next to ``time``, the form Arc's partition pruner understands;
- nothing depends on NULL semantics where Arc's delete would turn NULL into "delete this row".
"""

from __future__ import annotations

from collections.abc import Sequence

from ...records import MemoryFilter
from ..base import Order
from ..casefold import folds_touching, lower_folds
from . import sql
from .ranking import Weights
from .terms import QueryTerm

READ_COLUMNS = (
    "time",
    "id",
    "org_id",
    "agent_id",
    "session_id",
    "memory_type",
    "event_type",
    "content",
    "metadata_json",
    "tags_csv",
    "dedup_key",
    "importance",
    "parent_id",
    "expires_us",
)
"""The columns a memory is read back from (the original Memtrace's, plus our ``id`` and ``expires_us``).

``expires_us`` is integer microseconds, 0 for "never" (see wire.py); NULL in rows written before it existed."""

WRITE_COLUMNS = (*READ_COLUMNS, "search_terms", "term_count", "write_batch")
"""Every column written: the read columns, the keyword-search columns, and the spool batch a row arrived in."""

_SELECT = ", ".join(READ_COLUMNS)
# importance is NaN when absent (see wire.py); NaN sorts above everything in DuckDB, so rank it as 0.
_IMPORTANCE_OR_ZERO = "CASE WHEN importance IS NULL OR isnan(importance) THEN 0.0 ELSE importance END"
ID_TIME_SLACK_US = 1_000


def where(org_id: str, flt: MemoryFilter) -> str:
    """The conditions of `flt`, always starting with the organisation."""
    clauses = [f"org_id = {sql.string(org_id)}"]
    if flt.agent_id:
        clauses.append(f"agent_id = {sql.string(flt.agent_id)}")
    if flt.session_id:
        clauses.append(f"session_id = {sql.string(flt.session_id)}")
    if flt.memory_types:
        clauses.append(f"memory_type IN {sql.string_list(flt.memory_types)}")
    if flt.event_types:
        clauses.append(f"event_type IN {sql.string_list(flt.event_types)}")
    for tag in flt.tags:
        # Whole tags only: ",billing," is not inside ",bill,urgent-ish,".
        clauses.append(f"instr(',' || tags_csv || ',', {sql.string(',' + tag + ',')}) > 0")
    if flt.since_us is not None:
        clauses.append(f"time > {sql.timestamp(flt.since_us)}")
    if flt.until_us is not None:
        clauses.append(f"time < {sql.timestamp(flt.until_us)}")
    if flt.content_contains:
        # instr, not LIKE: "%" and "_" in the needle are ordinary characters.
        clauses.append(
            f"instr({casefolded_content(flt.content_contains)}, {sql.string(flt.content_contains.casefold())}) > 0"
        )
    if flt.min_importance is not None:
        clauses.append(f"importance >= {sql.number(flt.min_importance)} AND NOT isnan(importance)")
    if flt.alive_at_us is not None:
        clauses.append(
            f"(expires_us IS NULL OR expires_us = 0 OR expires_us > {sql.integer(flt.alive_at_us)})"
        )
    if flt.expired_by_us is not None:
        clauses.append(f"expires_us > 0 AND expires_us <= {sql.integer(flt.expired_by_us)}")
    if flt.ids:
        clauses.append(f"id IN {sql.string_list(flt.ids)}")
        low, high = id_time_window(flt.ids)
        if low is not None and high is not None:
            clauses.append(f"time >= {sql.timestamp(low)} AND time <= {sql.timestamp(high)}")
    return " AND ".join(clauses)


def casefolded_content(needle: str) -> str:
    """``content`` case-folded as `str.casefold` would, as far as matching `needle` can tell: DuckDB's
    ``lower()``, then a ``replace`` for each character whose folding shares a character with the folded needle
    (the others cannot take part in a match). So Arc agrees with the spool and the embedded store that
    "STRASSE" is in "straße"."""
    expression = "lower(content)"
    for ch, fold in folds_touching(needle, lower_folds()):
        expression = f"replace({expression}, {sql.string(ch)}, {sql.string(fold)})"
    return expression


def id_time_window(ids: Sequence[str]) -> tuple[int | None, int | None]:
    """The time range memory ids can have (their first 48 bits are the memory's time in ms), so Arc can prune
    partitions when looking memories up by id. (None, None) for ids that are not ours."""
    from .wire import id_time_ms

    times = [id_time_ms(i) for i in ids]
    if not times or any(t is None for t in times):
        return None, None
    known = [t for t in times if t is not None]
    return min(known) * 1000 - ID_TIME_SLACK_US, max(known) * 1000 + 999 + ID_TIME_SLACK_US


def list_memories(
    measurement: str, org_id: str, flt: MemoryFilter, *, order: Order, limit: int, offset: int
) -> str:
    direction = "ASC" if order == "asc" else "DESC"
    return sql.check_length(
        f"SELECT {_SELECT} FROM {sql.ident(measurement)} WHERE {where(org_id, flt)} "
        f"ORDER BY time {direction}, id {direction} LIMIT {sql.integer(limit)} OFFSET {sql.integer(offset)}"
    )


def count(measurement: str, org_id: str, flt: MemoryFilter, overlap_batches: Sequence[str] = ()) -> str:
    """``n``: matching memories; ``overlap``: how many of them arrived in `overlap_batches` (memories the
    spool still holds, so the caller does not count them twice)."""
    return sql.check_length(
        f"SELECT count(*) AS n, {_overlap(overlap_batches)} AS overlap FROM {sql.ident(measurement)} "
        f"WHERE {where(org_id, flt)}"
    )


def count_by_type(
    measurement: str, org_id: str, flt: MemoryFilter, overlap_batches: Sequence[str] = ()
) -> str:
    return sql.check_length(
        f"SELECT memory_type, count(*) AS n, {_overlap(overlap_batches)} AS overlap "
        f"FROM {sql.ident(measurement)} WHERE {where(org_id, flt)} GROUP BY memory_type ORDER BY memory_type"
    )


def _overlap(batches: Sequence[str]) -> str:
    if not batches:
        return "0"
    return f"sum(CASE WHEN write_batch IN {sql.string_list(batches)} THEN 1 ELSE 0 END)"


def _term_present(term: QueryTerm) -> str:
    return f"instr(search_terms, {sql.string(term.pattern)}) > 0"


def term_stats(
    measurement: str,
    org_id: str,
    flt: MemoryFilter,
    terms: Sequence[QueryTerm],
    overlap_batches: Sequence[str] = (),
) -> str:
    """``n``, ``terms`` (total words) and ``d<i>`` (memories containing term i) over the filtered memories,
    and the same over those that arrived in `overlap_batches` (``o_n``, ``o_terms``, ``od<i>``): memories the
    spool still holds and counts itself, so the caller subtracts them."""
    overlap = (
        f"CASE WHEN write_batch IN {sql.string_list(overlap_batches)} THEN 1 ELSE 0 END"
        if overlap_batches
        else "0"
    )
    frequencies = ", ".join(
        f"sum(CASE WHEN {_term_present(t)} THEN 1 ELSE 0 END) AS d{i}, "
        f"sum(CASE WHEN {_term_present(t)} THEN ov ELSE 0 END) AS od{i}"
        for i, t in enumerate(terms)
    )
    return sql.check_length(
        f"WITH hits AS (SELECT term_count, search_terms, {overlap} AS ov FROM {sql.ident(measurement)} "
        f"WHERE {where(org_id, flt)}) "
        f"SELECT count(*) AS n, sum(term_count) AS terms, sum(ov) AS o_n, sum(ov * term_count) AS o_terms, "
        f"{frequencies} FROM hits"
    )


def ranked_search(
    measurement: str,
    org_id: str,
    flt: MemoryFilter,
    terms: Sequence[QueryTerm],
    w: Weights,
    *,
    limit: int,
    offset: int,
) -> str:
    """Memories containing any term: those with every keyword first (``tier`` 1, as the embedded store ranks),
    then by BM25 score (``score``), then newer, more important, higher id."""
    tf = ", ".join(
        f"(length(search_terms) - length(replace(search_terms, {sql.string(t.pattern)}, ''))) "
        f"/ {sql.integer(len(t.pattern))} AS f{i}"
        for i, t in enumerate(terms)
    )
    any_term = " OR ".join(_term_present(t) for t in terms)
    score = " + ".join(
        f"{sql.number(weight)} * f{i} / (f{i} + nrm)" for i, weight in enumerate(w.term_weights)
    )
    groups: dict[int, list[str]] = {}
    for i, t in enumerate(terms):
        groups.setdefault(t.group, []).append(f"f{i} > 0")
    if len(groups) > 1:
        every = " AND ".join("(" + " OR ".join(g) + ")" for g in groups.values())
        tier = f"CASE WHEN {every} THEN 1 ELSE 0 END"
    else:
        tier = "0"
    return sql.check_length(
        f"WITH hits AS (SELECT {_SELECT}, {sql.number(w.a)} + {sql.number(w.b)} * term_count AS nrm, {tf} "
        f"FROM {sql.ident(measurement)} WHERE {where(org_id, flt)} AND ({any_term})) "
        f"SELECT {_SELECT}, {tier} AS tier, {score} AS score FROM hits "
        f"ORDER BY tier DESC, score DESC, time DESC, {_IMPORTANCE_OR_ZERO} DESC, id DESC "
        f"LIMIT {sql.integer(limit)} OFFSET {sql.integer(offset)}"
    )


def ids_and_keys(measurement: str, org_id: str, flt: MemoryFilter, *, limit: int, offset: int) -> str:
    """Ids and dedup keys of the matching memories (what a delete removes)."""
    return sql.check_length(
        f"SELECT time, id, dedup_key, write_batch FROM {sql.ident(measurement)} WHERE {where(org_id, flt)} "
        f"ORDER BY time, id LIMIT {sql.integer(limit)} OFFSET {sql.integer(offset)}"
    )


def dedup_probe(measurement: str, org_id: str, since_us: int, keys: Sequence[str]) -> str:
    """The keys among `keys` that a memory of the org written after `since_us` already has."""
    return sql.check_length(
        f"SELECT time, dedup_key FROM {sql.ident(measurement)} WHERE org_id = {sql.string(org_id)} "
        f"AND time > {sql.timestamp(since_us)} AND dedup_key IN {sql.string_list(keys)} ORDER BY time"
    )


def batch_counts(measurement: str, batches: Sequence[str], min_time_us: int) -> str:
    """Rows per spool batch that Arc can already query (to confirm batches as stored)."""
    return sql.check_length(
        f"SELECT write_batch, count(*) AS n FROM {sql.ident(measurement)} "
        f"WHERE time >= {sql.timestamp(min_time_us)} AND write_batch IN {sql.string_list(batches)} "
        f"GROUP BY write_batch ORDER BY write_batch"
    )


def batch_ids(measurement: str, batch: str, min_time_us: int) -> str:
    return sql.check_length(
        f"SELECT time, id FROM {sql.ident(measurement)} WHERE time >= {sql.timestamp(min_time_us)} "
        f"AND write_batch = {sql.string(batch)} ORDER BY time, id"
    )


def delete_predicate(ids: Sequence[str]) -> str:
    """The ``where`` for Arc's delete API: these memory ids, and nothing else.

    Arc keeps only rows where ``NOT (<where>)`` is TRUE, so a NULL predicate deletes a row; COALESCE makes it
    FALSE. The text also passes Arc's delete validator (no keywords, no comments, balanced quotes): memory ids
    are ``mem_`` plus base32, checked by the caller."""
    return f"COALESCE(id IN {sql.string_list(ids)}, FALSE)"


__all__ = [
    "READ_COLUMNS",
    "WRITE_COLUMNS",
    "batch_counts",
    "batch_ids",
    "count",
    "count_by_type",
    "dedup_probe",
    "delete_predicate",
    "ids_and_keys",
    "list_memories",
    "ranked_search",
    "term_stats",
    "where",
]
