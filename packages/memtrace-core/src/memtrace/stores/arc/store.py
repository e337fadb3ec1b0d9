"""`ArcEventStore`: memories in an Arc measurement, with a durable local spool in front.

Writes go to the spool (`spool.py`) and return; the flusher (`flusher.py`) carries them to Arc. Reads ask Arc
and the spool and merge the two by id, so a caller always sees its own writes, including those Arc has
accepted but cannot show yet (a 204 is not visibility: Arc buffers rows for seconds).

Arc is reached only through `client.py`, and SQL only through `queries.py`/`sql.py`.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from ...errors import MemtraceError, PermissionDeniedError, ServiceUnavailableError, ValidationError
from ...facts import needs_placement, place_version
from ...records import MemoryFilter, MemoryRecord
from ..base import Order, StoreStats
from . import queries, sql
from .client import (
    ArcAmbiguous,
    ArcAuthError,
    ArcClient,
    ArcDeleteDisabled,
    ArcError,
    ArcUnavailable,
    QueryResult,
)
from .config import ArcConfig
from .fact_ledger import SpoolFactLedger, annotate, invalid_ids, keyed_ids, late_ids
from .flusher import SpoolFlusher
from .ranking import CorpusStats, Weights, rounded, score, weights
from .spool import SENT, ArcSpool, SpoolFullError
from .terms import QueryTerm, has_every_keyword, query_terms
from .wire import MAX_TIME_US, MIN_TIME_US, SpoolRow, records_from_query, spool_row

log = logging.getLogger("memtrace.arc")

T = TypeVar("T")
SPOOL_FILENAME = "arc-spool.db"
ID_PAGE = 10_000
DELETE_CHUNK = 1_000
OVERLAP_CHUNK = 150
IDS_PER_QUERY = 200
"""Memory ids per Arc query (each costs about 35 characters of SQL)."""
PROBE_WAIT_S = 2.0
"""How long a write waits for Arc to say which keys it already has, before deciding without it."""
_SQL_BUDGET = sql.MAX_SQL_LENGTH - 500  # room for the surrounding statement when sizing IN lists


def _importance_or_zero(r: MemoryRecord) -> float:
    return r.importance or 0.0


def _merge(
    first: Sequence[MemoryRecord],
    second: Sequence[MemoryRecord],
    key: Callable[[MemoryRecord], Any],
    desc: bool,
) -> list[MemoryRecord]:
    """Both lists, in `key` order, each memory once (the first copy wins)."""
    merged = sorted([*first, *second], key=key, reverse=desc)
    seen: set[str] = set()
    out = []
    for r in merged:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r)
    return out


def _chunks_within(values: Sequence[str], budget: int) -> Iterator[list[str]]:
    """Split `values` so each chunk's quoted IN list stays within `budget` characters."""
    chunk: list[str] = []
    size = 0
    for v in values:
        cost = len(sql.string(v)) + 1
        if chunk and size + cost > budget:
            yield chunk
            chunk, size = [], 0
        chunk.append(v)
        size += cost
    if chunk:
        yield chunk


class ArcEventStore:
    """An `EventStore` on Arc. Open one per Arc database and spool file; close it to stop the flusher."""

    def __init__(
        self,
        config: ArcConfig,
        spool_path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.measurement = sql.ident(config.measurement)
        path = Path(spool_path)
        if path.suffix != ".db":
            path = path / SPOOL_FILENAME
        self.spool = ArcSpool(path, synchronous=synchronous)
        self.arc = ArcClient(config, transport=transport)
        self._writer = ArcClient(config, transport=transport)
        self._lock = threading.RLock()
        self._import_lock = threading.Lock()
        self.flusher = SpoolFlusher(self.spool, self._writer, config, self._lock)
        # Dedup probes of a large batch run side by side (Arc answers queries in parallel).
        self._probe_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="memtrace-arc-probe")
        self.flusher.start()
        self._closed = False

    # ------------------------------------------------------------------ errors

    @contextmanager
    def _arc(self, what: str) -> Iterator[None]:
        """Arc failures as memtrace errors: unreachable is 503 with Retry-After, the rest name what failed."""
        try:
            yield
        except (ArcUnavailable, ArcAmbiguous) as exc:
            raise ServiceUnavailableError(
                f"{what}: Arc is unavailable ({exc.message})", retry_after=self.flusher.retry_after()
            ) from exc
        except ArcAuthError as exc:
            raise ServiceUnavailableError(
                f"{what}: Arc refused memtrace's token ({exc.message}); check the Arc token configuration",
                retry_after=30.0,
            ) from exc
        except ArcError as exc:
            raise MemtraceError(f"{what}: {exc.message}", 502) from exc

    def _query(self, statement: str) -> QueryResult:
        return self.arc.query(statement)

    # ------------------------------------------------------------------ writes

    def append(self, org_id: str, records: list[MemoryRecord], *, dedup_since_us: int | None) -> list[int]:
        return self._append(org_id, records, dedup_since_us=dedup_since_us, imported=False)

    def _append(
        self, org_id: str, records: list[MemoryRecord], *, dedup_since_us: int | None, imported: bool
    ) -> list[int]:
        """`append`; with `imported`, versions enter the fact ledger as exported (validity and all) instead of
        being placed."""
        for i, r in enumerate(records):
            if not MIN_TIME_US <= r.time_us < MAX_TIME_US:
                field = "time" if len(records) == 1 else f"memories[{i}].time"
                raise ValidationError(
                    f"invalid {field}: Arc stores times from 1970-04-26T17:46:40Z to 2286-11-20 (it reads the "
                    "unit of a timestamp from its size)",
                    field,
                )
        # Ask Arc about duplicates while this thread prepares the rows.
        probes: list[Future[set[str]]] = []
        if dedup_since_us is not None and self.config.dedup_checks_arc and self.flusher.healthy:
            wanted = sorted({r.dedup_key for r in records if r.dedup_key is not None})
            probes = [
                self._probe_pool.submit(self._probe, org_id, chunk, dedup_since_us)
                for chunk in _chunks_within(wanted, _SQL_BUDGET)
            ]
        rows: list[SpoolRow] = [spool_row(org_id, r) for r in records]

        def arc_duplicates() -> set[str]:
            # Called with the spool's write lock held: wait a bounded time, never a full query timeout.
            deadline = time.monotonic() + PROBE_WAIT_S
            known: set[str] = set()
            try:
                for probe in probes:
                    known |= probe.result(timeout=max(0.0, deadline - time.monotonic()))
            except (ArcError, TimeoutError) as exc:
                # Probes still queued would only pile up behind slow ones while Arc is slow.
                for probe in probes:
                    probe.cancel()
                # Fail open, as the original did: the spool's own dedup index still covers every memory
                # written through it; only duplicates stored by other writers can slip by while Arc cannot
                # be asked.
                log.debug("Arc dedup probe skipped: %s", exc)
                return set()
            return known

        place = None
        if any(needs_placement(r) or (imported and r.superseded_by) for r in records):

            def place(conn: sqlite3.Connection, accepted: list[int]) -> set[int]:
                # Inside the spool's write transaction: one step for every process sharing the spool file.
                ledger = SpoolFactLedger(conn, org_id, lambda memory_id: self._get_row(org_id, memory_id))
                same: set[int] = set()
                for i in accepted:
                    if imported:
                        if records[i].fact_key is not None or records[i].superseded_by is not None:
                            ledger.record(records[i])
                    elif needs_placement(records[i]):
                        if place_version(ledger, records[i]):
                            ledger.record(records[i])
                        else:
                            same.add(i)
                return same

        try:
            skipped = self.spool.append(
                org_id,
                rows,
                dedup_since_us=dedup_since_us,
                known_duplicates=arc_duplicates if probes else None,
                place=place,
                max_rows=self.config.max_spool_rows,
            )
        except SpoolFullError as exc:
            raise ServiceUnavailableError(
                f"memtrace cannot take more writes until Arc catches up: {exc} "
                f"(last Arc error: {self.flusher.last_error or 'none'})",
                retry_after=self.flusher.retry_after(),
            ) from exc
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"invalid content: not encodable as UTF-8 ({exc.reason})", "content"
            ) from exc
        self.flusher.note_dedup_horizon(dedup_since_us)
        self.flusher.notify(len(rows) - len(skipped))
        return skipped

    def import_records(
        self, org_id: str, records: list[MemoryRecord], *, dedup_horizon_us: int | None = None
    ) -> tuple[int, int]:
        """Arc has no unique key: the ids are looked up in the spool and in Arc, and the missing ones appended
        without the dedup window. Imports through this store are serialised, so two of them cannot both add an
        id; another process importing the same memories into the same Arc database at the same moment could
        (reads still show each id once: they merge by id)."""
        with self._import_lock:
            ids = tuple(dict.fromkeys(r.id for r in records))
            held: set[str] = set()
            for start in range(0, len(ids), IDS_PER_QUERY):
                part = MemoryFilter(ids=ids[start : start + IDS_PER_QUERY])
                held.update(r.id for r in self.spool.query(org_id, part, order="asc", limit=len(part.ids)))
            with self._arc("import memories"):
                held.update(self._arc_ids(org_id, MemoryFilter(ids=ids)))
            missing: list[MemoryRecord] = []
            for r in records:
                if r.id not in held:
                    held.add(r.id)
                    missing.append(r)
            if missing:
                self._append(org_id, missing, dedup_since_us=None, imported=True)
        return len(missing), len(records) - len(missing)

    def _probe(self, org_id: str, keys: list[str], since_us: int) -> set[str]:
        """Which of `keys` Arc already holds (written after `since_us`), whoever wrote them."""
        result = self._query(queries.dedup_probe(self.measurement, org_id, since_us, keys))
        if not result.columns:
            return set()
        at = result.columns.index("dedup_key")
        return {row[at] for row in result.data}

    # ------------------------------------------------------------------- reads

    def _query_rows(
        self, org_id: str, flt: MemoryFilter, *, order: Order, limit: int, offset: int
    ) -> list[MemoryRecord]:
        spooled = self.spool.query(org_id, flt, order=order, limit=offset + limit)
        if not spooled:
            return self._arc_list(org_id, flt, order, limit, offset)
        # The first offset+limit of each side hold the first offset+limit of their union.
        from_arc = self._arc_list(org_id, flt, order, offset + limit, 0)
        merged = _merge(from_arc, spooled, lambda r: (r.time_us, r.id), desc=order != "asc")
        return merged[offset : offset + limit]

    def _arc_list(
        self, org_id: str, flt: MemoryFilter, order: Order, limit: int, offset: int
    ) -> list[MemoryRecord]:
        statement = self._sql(
            lambda: queries.list_memories(
                self.measurement, org_id, flt, order=order, limit=limit, offset=offset
            )
        )
        with self._arc("list memories"):
            result = self._query(statement)
        return records_from_query(result.columns, result.data)

    @staticmethod
    def _sql(build: Callable[[], str]) -> str:
        """The statement, or a `ValidationError` when a value makes it too long for Arc (the only free-text
        filter is `content_contains`)."""
        try:
            return build()
        except ValueError as exc:
            raise ValidationError(f"content_contains: {exc}", "content_contains") from exc

    def _search_rows(
        self, org_id: str, flt: MemoryFilter, text: str, *, limit: int, offset: int
    ) -> list[MemoryRecord]:
        terms = query_terms(text)
        if not terms:
            return []
        # Arc takes at most 10,000 characters of SQL: keep as many terms as fit (they come most important first).
        while True:
            try:
                stats_sql = queries.term_stats(self.measurement, org_id, flt, terms)
                # Sized with the largest weights the SQL could carry.
                queries.ranked_search(
                    self.measurement,
                    org_id,
                    flt,
                    terms,
                    _widest_weights(len(terms)),
                    limit=offset + limit,
                    offset=offset,
                )
                break
            except ValueError as exc:
                if len(terms) == 1:
                    raise ValidationError(f"query: {exc}", "query") from exc
                terms = terms[:-1]
        spool_docs, spool_words, spool_df, sent = self.spool.term_stats(org_id, flt, terms)
        stats = CorpusStats(spool_docs, spool_words, tuple(spool_df)) + self._arc_term_stats(
            org_id, flt, terms, stats_sql, sent
        )
        w = weights(stats)
        if w is None:
            return []
        candidates = self.spool.search_candidates(org_id, flt, terms) if spool_docs else []
        arc_limit, arc_offset = (offset + limit, 0) if candidates else (limit, offset)
        statement = queries.ranked_search(
            self.measurement, org_id, flt, terms, w, limit=arc_limit, offset=arc_offset
        )
        with self._arc("search memories"):
            ranked = self._query(statement)
        from_arc = records_from_query(ranked.columns, ranked.data)
        raw_scores: dict[str, float] = {}
        tiers: dict[str, int] = {}
        if from_arc:
            score_at, tier_at = ranked.columns.index("score"), ranked.columns.index("tier")
            for r, row in zip(from_arc, ranked.data, strict=True):
                raw_scores[r.id] = float(row[score_at])
                tiers[r.id] = int(row[tier_at])
        for record, text_terms, term_count in candidates:
            frequencies = [text_terms.count(t.pattern) for t in terms]
            raw_scores.setdefault(record.id, score(frequencies, term_count, w))
            tiers.setdefault(record.id, int(has_every_keyword(frequencies, terms)))
        from_spool = [r for r, _, _ in candidates]
        merged = _merge(
            from_arc,
            from_spool,
            lambda r: (tiers[r.id], raw_scores[r.id], r.time_us, _importance_or_zero(r), r.id),
            desc=True,
        )
        page = merged[offset : offset + limit] if candidates else merged
        for r in page:
            r.score = rounded(raw_scores[r.id])
        return page

    def _arc_term_stats(
        self, org_id: str, flt: MemoryFilter, terms: Sequence[QueryTerm], first_sql: str, sent: list[str]
    ) -> CorpusStats:
        """Arc's side of the corpus statistics, less the memories the spool still counts (those of `sent`
        batches, which Arc may already hold): counting them twice would make a score depend on when a flush
        happened, and so on what else was written."""
        budget = max(sql.MAX_SQL_LENGTH - len(first_sql) - 200, 200)
        chunks = list(_chunks_within(sent, budget)) or [[]]
        docs, words, df = 0, 0, [0] * len(terms)
        with self._arc("search memories"):
            for n, chunk in enumerate(chunks):
                try:
                    statement = (
                        queries.term_stats(self.measurement, org_id, flt, terms, chunk)
                        if chunk
                        else first_sql
                    )
                except ValueError as exc:
                    raise ValidationError(f"query: {exc}", "query") from exc
                result = self._query(statement)
                if not (result.columns and result.data):
                    continue
                row = dict(zip(result.columns, result.data[0], strict=True))
                if n == 0:
                    docs += int(row.get("n") or 0)
                    words += int(row.get("terms") or 0)
                    df = [d + int(row.get(f"d{i}") or 0) for i, d in enumerate(df)]
                docs -= int(row.get("o_n") or 0)
                words -= int(row.get("o_terms") or 0)
                df = [d - int(row.get(f"od{i}") or 0) for i, d in enumerate(df)]
        return CorpusStats(docs, words, tuple(df))

    def _get_row(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        spooled = self.spool.get(org_id, memory_id)
        if spooled is not None:
            return spooled
        found = self._arc_list(org_id, MemoryFilter(ids=(memory_id,)), "asc", 1, 0)
        return found[0] if found else None

    def _count_rows(self, org_id: str, flt: MemoryFilter) -> int:
        spooled, batches = self.spool.count(org_id, flt)
        arc_count, overlap = self._arc_count(org_id, flt, batches)
        return arc_count + spooled - overlap

    def _arc_count(self, org_id: str, flt: MemoryFilter, batches: list[str]) -> tuple[int, int]:
        chunks = [batches[i : i + OVERLAP_CHUNK] for i in range(0, len(batches), OVERLAP_CHUNK)] or [[]]
        total, overlap = 0, 0
        with self._arc("count memories"):
            for n, chunk in enumerate(chunks):
                result = self._query(self._sql(partial(queries.count, self.measurement, org_id, flt, chunk)))
                if result.columns and result.data:
                    row = dict(zip(result.columns, result.data[0], strict=True))
                    if n == 0:
                        total = int(row.get("n") or 0)
                    overlap += int(row.get("overlap") or 0)
        return total, overlap

    def _count_by_type_rows(self, org_id: str, flt: MemoryFilter) -> dict[str, int]:
        spooled, batches = self.spool.count_by_type(org_id, flt)
        chunks = [batches[i : i + OVERLAP_CHUNK] for i in range(0, len(batches), OVERLAP_CHUNK)] or [[]]
        counts: dict[str, int] = dict(spooled)
        with self._arc("count memories by type"):
            for n, chunk in enumerate(chunks):
                result = self._query(
                    self._sql(partial(queries.count_by_type, self.measurement, org_id, flt, chunk))
                )
                if not result.columns:
                    continue
                t_at, n_at, o_at = (result.columns.index(c) for c in ("memory_type", "n", "overlap"))
                for row in result.data:
                    kind = row[t_at] or "episodic"
                    counts[kind] = counts.get(kind, 0) + (int(row[n_at] or 0) if n == 0 else 0)
                    counts[kind] -= int(row[o_at] or 0)
        return {k: v for k, v in sorted(counts.items()) if v > 0}

    # ------------------------------------------------------------- facts view
    #
    # Arc and the spool hold memories as written; the fact ledger (`fact_ledger`) says which are versions and
    # which were superseded. A read with fact conditions asks the ledger which memories to leave out (or, by
    # key, which to read), then asks Arc and the spool with the other conditions.

    def _annotated(self, org_id: str, records: list[MemoryRecord]) -> list[MemoryRecord]:
        if records:
            self.spool.read_facts(lambda conn: annotate(conn, org_id, records))
        return records

    def _view_ids(self, org_id: str, flt: MemoryFilter) -> list[str] | None:
        """For a read by key or key prefix, the ids the ledger names; None for another read."""
        if flt.fact_key is None and flt.fact_key_prefix is None:
            return None
        return self.spool.read_facts(lambda conn: keyed_ids(conn, org_id, flt))

    def _by_ids(self, org_id: str, flt: MemoryFilter, ids: Sequence[str], order: Order) -> list[MemoryRecord]:
        """Every memory of `ids` that passes `flt`'s other conditions, in `order`."""
        base = _without_facts(flt)
        found: list[MemoryRecord] = []
        for start in range(0, len(ids), IDS_PER_QUERY):
            part = dataclasses.replace(base, ids=tuple(ids[start : start + IDS_PER_QUERY]))
            found += self._query_rows(org_id, part, order=order, limit=IDS_PER_QUERY, offset=0)
        return sorted(found, key=lambda r: (r.time_us, r.id), reverse=order != "asc")

    def _view_base(self, org_id: str, flt: MemoryFilter) -> tuple[MemoryFilter, list[str]]:
        """For a read by validity: the filter to ask Arc and the spool with and, as of a time, the ids valid then
        but written later (backfills), to read by id."""
        base = _without_facts(flt)
        late: list[str] = []
        if flt.as_of_us is not None:
            late = self.spool.read_facts(lambda conn: late_ids(conn, org_id, flt))
            bound = flt.as_of_us + 1  # time <= as_of: unkeyed memories are valid from their time
            base = dataclasses.replace(
                base, until_us=bound if base.until_us is None else min(base.until_us, bound)
            )
        return base, late

    def _valid_page(
        self, org_id: str, flt: MemoryFilter, fetch: Callable[[int], list[MemoryRecord]], wanted: int
    ) -> list[MemoryRecord]:
        """The first `wanted` of the rows `fetch(n)` returns (its first `n`, in order) that are valid in the view
        `flt` asks for. Fetched with some room, and with four times more while a full fetch falls short: the cost
        follows the superseded memories met on the way, not all the organisation has."""
        n = wanted + 16
        while True:
            rows = self._annotated(org_id, fetch(n))
            valid = [r for r in rows if _valid_in(r, flt)]
            if len(valid) >= wanted or len(rows) < n:
                return valid[:wanted]
            n *= 4

    def query(
        self,
        org_id: str,
        flt: MemoryFilter,
        *,
        order: Order,
        limit: int,
        offset: int,
        brief: bool = False,  # ignored: the wire format carries every field anyway
    ) -> list[MemoryRecord]:
        if not _has_fact_conditions(flt):
            return self._annotated(
                org_id, self._query_rows(org_id, flt, order=order, limit=limit, offset=offset)
            )
        ids = self._view_ids(org_id, flt)
        if ids is not None:
            rows = self._by_ids(org_id, flt, ids, order)
        else:
            base, late = self._view_base(org_id, flt)
            rows = self._valid_page(
                org_id,
                flt,
                lambda n: self._query_rows(org_id, base, order=order, limit=n, offset=0),
                offset + limit,
            )
            if late:
                rows = _merge(
                    rows, self._by_ids(org_id, flt, late, order), lambda r: (r.time_us, r.id), order != "asc"
                )
        return self._annotated(org_id, rows[offset : offset + limit])

    def search(
        self, org_id: str, flt: MemoryFilter, text: str, *, limit: int, offset: int
    ) -> list[MemoryRecord]:
        """Ranked search. As of a time, a backfilled version written after that time is not found (lists find
        it): ranking it would take a second ranked query whose scores do not compare with the first's."""
        if not _has_fact_conditions(flt):
            return self._annotated(org_id, self._search_rows(org_id, flt, text, limit=limit, offset=offset))
        ids = self._view_ids(org_id, flt)
        if ids is not None:
            if not ids:
                return []
            base = dataclasses.replace(_without_facts(flt), ids=tuple(ids[:IDS_PER_QUERY]))
            return self._annotated(org_id, self._search_rows(org_id, base, text, limit=limit, offset=offset))
        base, _ = self._view_base(org_id, flt)
        rows = self._valid_page(
            org_id, flt, lambda n: self._search_rows(org_id, base, text, limit=n, offset=0), offset + limit
        )
        return rows[offset : offset + limit]

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        found = self._get_row(org_id, memory_id)
        return self._annotated(org_id, [found])[0] if found is not None else None

    def _counted_ids(self, org_id: str, flt: MemoryFilter, ids: Sequence[str]) -> int:
        """How many of `ids` pass `flt`'s other conditions."""
        base = _without_facts(flt)
        total = 0
        for start in range(0, len(ids), IDS_PER_QUERY):
            total += self._count_rows(
                org_id, dataclasses.replace(base, ids=tuple(ids[start : start + IDS_PER_QUERY]))
            )
        return total

    def count(self, org_id: str, flt: MemoryFilter) -> int:
        if not _has_fact_conditions(flt):
            return self._count_rows(org_id, flt)
        ids = self._view_ids(org_id, flt)
        if ids is not None:
            return self._counted_ids(org_id, flt, ids)
        # Counting cannot stop early: every memory not valid in the view, within the filter's scope, is
        # counted in Arc and taken off.
        base, late = self._view_base(org_id, flt)
        excluded = self.spool.read_facts(lambda conn: invalid_ids(conn, org_id, flt))
        return (
            self._count_rows(org_id, base)
            - self._counted_ids(org_id, base, sorted(excluded))
            + self._counted_ids(org_id, flt, late)
        )

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> dict[str, int]:
        if not _has_fact_conditions(flt):
            return self._count_by_type_rows(org_id, flt)
        counts: dict[str, int] = {}
        for kind in ("decision", "entity", "episodic", "session"):
            if flt.memory_types and kind not in flt.memory_types:
                continue
            n = self.count(org_id, dataclasses.replace(flt, memory_types=(kind,)))
            if n:
                counts[kind] = n
        return counts

    # ----------------------------------------------------------------- deletes

    def delete(self, org_id: str, flt: MemoryFilter) -> int:
        if flt.current_only or flt.as_of_us is not None:
            raise ValidationError("filter: a delete selects memories, not views of them", "filter")
        ids = self._view_ids(org_id, flt)
        if ids is not None:  # by key: the ledger names the versions
            if not ids:
                return 0
            flt = dataclasses.replace(_without_facts(flt), ids=tuple(ids))
        return self._delete_rows(org_id, flt)

    def _delete_rows(self, org_id: str, flt: MemoryFilter) -> int:
        """Delete matching memories from the spool and from Arc (flushing Arc's buffer first, since its delete
        only rewrites files). Arc must allow deletes and the admin token must be configured; if not, this
        raises before anything is deleted."""
        # The spool lock stills the spool; the send lock waits out a write on the wire and holds off the next,
        # and the new epoch stops batches claimed before this delete from going out as they were.
        with self._lock, self.flusher.send_lock:
            self.flusher.delete_epoch += 1
            candidates = self.spool.delete_candidates(org_id, flt)
            in_flight = {c.id for c in candidates if c.state == SENT}
            with self._arc("delete memories"):
                shown = self._arc_ids(org_id, flt)
                if shown or in_flight:
                    self._check_deletes_allowed()
                    self._with_admin(self.arc.flush)
                    shown = self._arc_ids(org_id, flt)
                    arc_ids = sorted(set(shown) | in_flight)
                    for start in range(0, len(arc_ids), DELETE_CHUNK):
                        predicate = queries.delete_predicate(arc_ids[start : start + DELETE_CHUNK])
                        self._with_admin(partial(self.arc.delete, self.measurement, predicate))
            keys = {c.dedup_key for c in candidates if c.dedup_key} | {k for k in shown.values() if k}
            all_ids = {c.id for c in candidates} | set(shown)
            self.spool.delete(org_id, candidates, sorted(keys))
            if all_ids:
                self.spool.forget_facts(org_id, sorted(all_ids))
        return len(all_ids)

    def delete_batch(self, org_id: str, flt: MemoryFilter, *, limit: int) -> int:
        """Everything matching `flt`, at once (see `EventStore.delete_batch`): an Arc delete flushes Arc's
        buffer and rewrites the files it touches, a cost paid per call rather than per memory, so splitting it
        would multiply the cost. The spool is held only while its rows are chosen and removed."""
        return self.delete(org_id, flt)

    def _arc_ids(self, org_id: str, flt: MemoryFilter) -> dict[str, str | None]:
        """Id -> dedup key of every matching memory Arc shows. A long id list (a delete may name 1,000) is
        asked about in parts, to stay within Arc's SQL length limit."""
        if len(flt.ids) > IDS_PER_QUERY:
            out: dict[str, str | None] = {}
            for start in range(0, len(flt.ids), IDS_PER_QUERY):
                part = dataclasses.replace(flt, ids=flt.ids[start : start + IDS_PER_QUERY])
                out.update(self._arc_ids(org_id, part))
            return out
        out = {}
        offset = 0
        while True:
            statement = self._sql(
                partial(queries.ids_and_keys, self.measurement, org_id, flt, limit=ID_PAGE, offset=offset)
            )
            result = self._query(statement)
            if not result.columns or not result.data:
                return out
            id_at, key_at = result.columns.index("id"), result.columns.index("dedup_key")
            for row in result.data:
                if isinstance(row[id_at], str) and row[id_at]:
                    out[row[id_at]] = row[key_at] or None
            if len(result.data) < ID_PAGE:
                return out
            offset += ID_PAGE

    def _check_deletes_allowed(self) -> None:
        if not self._with_admin(self.arc.delete_enabled):
            raise PermissionDeniedError(
                f"cannot delete memories: {self.config.redacted()} has deletes disabled. Set "
                "delete.enabled=true in arc.toml (memtrace deletes through Arc's /api/v1/delete)."
            )

    def _with_admin(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except ArcDeleteDisabled as exc:
            raise PermissionDeniedError(
                f"cannot delete memories: {self.config.redacted()} has deletes disabled ({exc.message})"
            ) from exc
        except ArcAuthError as exc:
            raise PermissionDeniedError(
                "cannot delete memories: Arc's delete and flush endpoints need an admin token; configure "
                f"ArcConfig.admin_token ({exc.message})"
            ) from exc

    # -------------------------------------------------------------- lifecycle

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is pending in the spool (sent, not necessarily visible). For tests and tools."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.spool.has_pending():
                return True
            self.flusher.notify(self.config.batch_size)
            time.sleep(0.01)
        return not self.spool.has_pending()

    def status(self) -> dict[str, Any]:
        """The spool's figures and the flusher's health, for metrics and /health."""
        s = self.spool.status()
        stats = self.flusher.stats
        return {
            "arc": self.config.redacted(),
            "healthy": self.flusher.healthy,
            "last_error": self.flusher.last_error,
            "spool_pending": s.pending,
            "spool_sent_unconfirmed": s.sent,
            "spool_rejected": s.rejected,
            "spool_rows": s.total,
            "spool_bound": self.config.max_spool_rows,
            "rows_sent": stats.rows_sent,
            "rows_confirmed": stats.rows_confirmed,
            "rows_resent": stats.rows_resent,
        }

    def stats(self) -> StoreStats:
        """How many memories Arc holds only Arc knows (asking costs a query); locally there is the spool."""
        try:
            size = self.spool.path.stat().st_size
        except OSError:
            size = 0
        return StoreStats(memories=None, bytes=size)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.flusher.stop(self.config.close_timeout)
        self._probe_pool.shutdown(wait=True)
        self.arc.close()
        self._writer.close()
        self.spool.close()


def _has_fact_conditions(flt: MemoryFilter) -> bool:
    return (
        flt.current_only
        or flt.as_of_us is not None
        or flt.fact_key is not None
        or flt.fact_key_prefix is not None
    )


def _valid_in(r: MemoryRecord, flt: MemoryFilter) -> bool:
    """Whether an annotated memory is valid in the view `flt` asks for."""
    if flt.as_of_us is not None:
        start = r.valid_from_us if r.valid_from_us is not None else r.time_us
        return start <= flt.as_of_us and (r.valid_until_us is None or r.valid_until_us > flt.as_of_us)
    return not flt.current_only or r.valid_until_us is None


def _without_facts(flt: MemoryFilter) -> MemoryFilter:
    """`flt` without the conditions only the fact ledger can answer."""
    return dataclasses.replace(flt, current_only=False, as_of_us=None, fact_key=None, fact_key_prefix=None)


def _widest_weights(n: int) -> Weights:
    """Weights whose literals are as long as any real ones, to size the ranked query before the real weights
    are known."""
    wide = -1.2345678901234567e-100
    return Weights(tuple([wide] * n), wide, wide)


__all__ = ["SPOOL_FILENAME", "ArcEventStore"]
