"""The engine: every rule memtrace has, over an `EventStore` and a `MetadataStore`.

Validation, ids, timestamps, dedup, context rendering and deletion live here and nowhere else; the server maps
HTTP onto these methods and the clients call them in-process. Every method takes the caller's `org_id` first;
where it comes from (the API key, or the client's configuration) is the caller's business.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import facts, retention
from . import validation as v
from .audit import EMBEDDED, Actor, AuditAction, AuditTrail
from .context import DEFAULT_MAX_CONTENT_CHARS, render_session_context
from .dedup import dedup_key
from .errors import ConflictError, NotFoundError, ValidationError
from .forget import ForgetReceipt, ForgetRequest, delete_in_batches, subject_of
from .ids import MemoryIdGenerator, new_entity_id
from .limits import InputLimits
from .models import (
    AddMemoryRequest,
    Agent,
    AgentList,
    AgentStats,
    BatchResult,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    MemoryList,
    RegisterAgentRequest,
    SearchQuery,
    SearchResult,
    Session,
    SessionContext,
    SessionList,
)
from .records import MemoryFilter, MemoryRecord
from .retention import RetentionRule
from .stores.base import (
    AgentRow,
    AgentSessionCounts,
    EventStore,
    MetadataStore,
    OrgRow,
    RetentionRow,
    SessionOrder,
    SessionRow,
    StoreStats,
)
from .stores.bundle import StoreBundle
from .sweep import DEFAULT_SWEEP_BATCH, MAX_SWEEP_BATCH, SweepReport, run_sweep
from .timeparse import from_us, now_us, parse_time, to_checked_us
from .transfer import ExportOptions, ExportPlan, Importer, ImportFailed, ImportReport, Progress, ReadLimits

DEFAULT_LIST_LIMIT = 100
DEFAULT_SEARCH_LIMIT = 50
CONTEXT_FETCH_LIMIT = 1000
DAY_US = 86_400_000_000
MAX_NAME_LENGTH = 256
MAX_DELETE_IDS = 1000
MAX_HISTOGRAM_BUCKETS = 100
_SESSION_ORDERS: frozenset[str] = frozenset(("created", "updated"))
MAX_HISTORY = 10_000
"""The most versions `fact_history` reads for one key."""
KNOWN_FACTS_LIMIT = 50
"""The most current facts session context lists under "Known facts"."""


class MonotonicClock:
    """Wall-clock microseconds that never repeat or go backwards within a process.

    Two memories written one after the other always get increasing times, so "in the order written" and
    "in time order" agree even within one microsecond.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def now(self) -> int:
        with self._lock:
            t = max(now_us(), self._last + 1)
            self._last = t
            return t

    def reserve(self, n: int) -> int:
        """The first of `n` consecutive microseconds, all later than any time given before and after none given
        since: what `n` calls of `now` in a row would give on a clock that did not move (a batch's times, taken
        once)."""
        with self._lock:
            t = max(now_us(), self._last + 1)
            self._last = t + n - 1
            return t


@dataclass(frozen=True)
class SessionsPage:
    """A page of sessions (`Engine.page_sessions`) and how many sessions its filter matches in all."""

    sessions: list[Session]
    total: int


@dataclass(frozen=True)
class EngineConfig:
    dedup_enabled: bool = True
    dedup_window_hours: float = 24.0
    max_content_length: int | None = None
    """Longest accepted content, in characters; None for no limit (the server sets one)."""
    limits: InputLimits = field(default_factory=InputLimits)
    """Bounds on filters and metadata (`memtrace.limits`)."""


def _dt_us(value: int | None) -> Any:
    return from_us(value) if value is not None else None


class Engine:
    """memtrace's rules over a pair of stores. Thread-safe; share one per process.

    Build it with `Engine.from_stores(open_stores(...))`; callers talk to the engine, never to its stores."""

    def __init__(
        self, events: EventStore, metadata: MetadataStore, config: EngineConfig | None = None
    ) -> None:
        self.stores = StoreBundle(events, metadata, description=type(events).__name__)
        self.events = events
        self.metadata = metadata
        self.config = config or EngineConfig()
        self.clock = MonotonicClock()
        self.wall_clock: Callable[[], int] = now_us
        """The time reads compare expiry with (reads leave out memories with ``expires_us <= wall_clock()``) and a
        sweep deletes by; tests set it to move time without sleeping."""
        self._ids = MemoryIdGenerator()
        self.audit = AuditTrail(metadata, self.clock.now)
        """The audit trail (`memtrace.audit`): the engine records its own destructive actions; callers record
        the privileged ones it does not see (key administration, Arc instances, retention runs, imports)."""

    @classmethod
    def from_stores(cls, stores: StoreBundle, config: EngineConfig | None = None) -> Engine:
        """An engine on `stores` (from `memtrace.stores.open_stores`); closing the engine closes them."""
        engine = cls(stores.events, stores.metadata, config)
        engine.stores = stores
        return engine

    # ----------------------------------------------------------------- writes

    def _record(
        self, org_id: str, req: AddMemoryRequest, prefix: str, now: int, with_id: bool = True
    ) -> MemoryRecord:
        """`req` checked and made a record. Field names in errors start with `prefix`; a batch validates with no
        prefix (no field name is built for a valid item) and again with its item's prefix for an invalid one
        (`_records`). `with_id=False` leaves the id empty, for the caller to set (`_records`: a batch's ids are
        made together)."""
        if not isinstance(req, AddMemoryRequest):
            raise ValidationError(f"{prefix or 'request'}: expected an AddMemoryRequest", prefix or "request")
        p = prefix  # `"" + name` is `name` itself: no string is built per field for the common, valid item
        agent_id = v.check_id(req.agent_id, p + "agent_id")
        content = v.check_content(req.content, p + "content", self.config.max_content_length)
        memory_type = v.check_memory_type(req.memory_type or "episodic", p + "memory_type")
        event_type = v.check_event_type(req.event_type or "general", p + "event_type")
        session_id = v.check_id(req.session_id, p + "session_id", required=False)
        tags = v.check_tags(req.tags, p + "tags", self.config.limits.max_memory_tags)
        importance = v.check_importance(req.importance, p + "importance")
        metadata_json = self._metadata(req.metadata, p + "metadata") if req.metadata is not None else None
        parent_id = v.check_text(req.parent_id, p + "parent_id", max_length=256)
        fact_key = facts.check_key(req.key, p + "key") if req.key is not None else None
        supersedes = self._supersedes(req.supersedes, p + "supersedes") if req.supersedes is not None else ()
        key = v.check_dedup_key(req.dedup_key, p + "dedup_key")
        # A keyed memory is deduplicated per key (`memtrace.facts`), not by the content hash: "Paris" after
        # "Berlin" after "Paris" is a real change, however soon it comes.
        if key is None and fact_key is None and self.config.dedup_enabled:
            key = dedup_key(agent_id, event_type, content)
        t = to_checked_us(req.time, p + "time") if req.time is not None else now
        valid_from_us = None
        if req.valid_from is not None:
            valid_from_us = to_checked_us(req.valid_from, p + "valid_from")
            if valid_from_us > t:
                raise ValidationError(
                    f"invalid {p}valid_from: must not be after the memory's time", p + "valid_from"
                )
        elif fact_key is not None or supersedes:
            valid_from_us = t  # stored explicitly for versions, so the (key, valid_from) index finds them
        expires_us = (
            v.check_expiry(req.ttl, req.expires_at, p, now)
            if req.ttl is not None or req.expires_at is not None
            else None
        )
        # Positional, in MemoryRecord's field order (keyword arguments cost twice as much).
        return MemoryRecord(
            self._ids.new(t) if with_id else "",
            org_id,
            t,
            agent_id,
            session_id,
            memory_type,
            event_type,
            content,
            metadata_json,
            tags,
            key,
            importance,
            parent_id,
            None,  # score
            expires_us,
            fact_key,
            valid_from_us,
            None,  # valid_until_us
            None,  # superseded_by
            supersedes,
        )

    def _records(self, org_id: str, reqs: Sequence[AddMemoryRequest]) -> list[MemoryRecord]:
        """A batch's records, with increasing times taken from the clock once. An invalid item is checked again
        with its ``memories[i].`` prefix, so the error names it (validation is deterministic: same error)."""
        now = self.clock.reserve(len(reqs))
        record = self._record
        try:
            records = [record(org_id, r, "", now + i, False) for i, r in enumerate(reqs)]
        except ValidationError:
            for i, r in enumerate(reqs):
                record(org_id, r, f"memories[{i}].", now + i, False)
            raise
        for rec, memory_id in zip(records, self._ids.new_many([rec.time_us for rec in records]), strict=True):
            rec.id = memory_id
        return records

    @staticmethod
    def _supersedes(value: Any, field: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ValidationError(f"invalid {field}: a list of memory ids", field)
        if len(value) > facts.MAX_SUPERSEDES:
            raise ValidationError(f"invalid {field}: at most {facts.MAX_SUPERSEDES} ids", field)
        ids = tuple(v.check_memory_id(m, f"{field}[{i}]") for i, m in enumerate(value))
        if len(set(ids)) != len(ids):
            raise ValidationError(f"invalid {field}: an id is named twice", field)
        return ids

    def _check_superseded(self, org_id: str, records: Sequence[MemoryRecord], prefix: str) -> None:
        """Name the field of a `supersedes` target that is missing, already superseded or valid too late, before
        anything is written (the store checks again inside its transaction, for concurrent writers)."""
        for n, r in enumerate(records):
            if not r.supersedes:
                continue  # nearly every memory: no field name built for it
            p = prefix.format(n)
            for i, target_id in enumerate(r.supersedes):
                field = f"{p}supersedes[{i}]"
                target = self.events.get(org_id, target_id)
                if target is None:
                    raise NotFoundError(f"{field}: memory {target_id} not found")
                if target.valid_until_us is not None:
                    raise ConflictError(
                        f"{field}: memory {target_id} was already superseded by {target.superseded_by}"
                    )
                target_from = target.valid_from_us if target.valid_from_us is not None else target.time_us
                if target_from > facts.valid_from(r):
                    raise ValidationError(
                        f"invalid {field}: memory {target_id} became valid after this memory's valid_from",
                        field,
                    )

    def _metadata(self, value: Any, field: str) -> str | None:
        limits = self.config.limits
        return v.encode_metadata(
            value, field, max_bytes=limits.max_metadata_bytes, max_depth=limits.max_metadata_depth
        )

    def _dedup_since(self) -> int | None:
        if not self.config.dedup_enabled:
            return None
        return now_us() - int(self.config.dedup_window_hours * 3_600_000_000)

    def add_memory(self, org_id: str, req: AddMemoryRequest) -> Memory:
        """Store one memory. A duplicate within the dedup window raises `ConflictError`.

        With `req.key` it is the new version of that fact (`memtrace.facts`): the current version is superseded in
        the same transaction, and the same content again for the key is a duplicate. `req.supersedes` replaces
        the named memories the same way."""
        record = self._record(org_id, req, "", self.clock.now())
        self._check_superseded(org_id, [record], "")
        if self.events.append(org_id, [record], dedup_since_us=self._dedup_since()):
            raise ConflictError("duplicate memory")
        return record.to_memory()

    def add_memories(self, org_id: str, reqs: Sequence[AddMemoryRequest]) -> BatchResult:
        """Store a batch, all or nothing: one invalid item fails the batch (the error names its index) and
        nothing is written. Duplicates, against stored memories or earlier items, are skipped and counted."""
        if not isinstance(reqs, Sequence) or isinstance(reqs, (str, bytes)):
            raise ValidationError("memories: expected a list of memories", "memories")
        if not reqs:
            raise ValidationError("memories: the batch is empty", "memories")
        records = self._records(org_id, reqs)
        self._check_superseded(org_id, records, "memories[{}].")
        skipped = set(self.events.append(org_id, records, dedup_since_us=self._dedup_since()))
        written = [r.to_memory() for i, r in enumerate(records) if i not in skipped]
        return BatchResult(written, skipped=len(skipped), skipped_indexes=sorted(skipped))

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _view(include_superseded: Any, as_of: Any) -> tuple[bool, int | None]:
        """(current_only, as_of_us) for a read: current memories by default, every version with
        `include_superseded`, or those valid at `as_of`."""
        if include_superseded is not None and not isinstance(include_superseded, bool):
            raise ValidationError("invalid include_superseded: must be true or false", "include_superseded")
        if as_of in (None, ""):
            return not include_superseded, None
        if include_superseded:
            raise ValidationError("as_of: give as_of or include_superseded, not both", "as_of")
        return False, parse_time(as_of, "as_of")

    def _time_bounds(self, since: Any, until: Any) -> tuple[int | None, int | None]:
        since_us = parse_time(since, "since") if since not in (None, "") else None
        until_us = parse_time(until, "until") if until not in (None, "", "now") else None
        return since_us, until_us

    def _list_filter(self, opts: ListOptions) -> MemoryFilter:
        since_us, until_us = self._time_bounds(opts.since, opts.until)
        current_only, as_of_us = self._view(opts.include_superseded, opts.as_of)
        return MemoryFilter(
            current_only=current_only,
            as_of_us=as_of_us,
            agent_id=v.check_id(opts.agent_id, "agent_id", required=False),
            session_id=v.check_id(opts.session_id, "session_id", required=False),
            memory_types=(v.check_memory_type(opts.memory_type, "memory_type"),) if opts.memory_type else (),
            event_types=(v.check_event_type(opts.event_type, "event_type"),) if opts.event_type else (),
            tags=v.split_tags(opts.tags, limit=self.config.limits.max_filter_tags),
            since_us=since_us,
            until_us=until_us,
            alive_at_us=self.wall_clock(),
        )

    def list_memories(self, org_id: str, opts: ListOptions | None = None) -> MemoryList:
        """Memories matching `opts`, newest first unless ``order="asc"``; `has_more` says whether a next page
        (offset + limit) has anything."""
        opts = opts or ListOptions()
        flt = self._list_filter(opts)
        limit = v.check_limit(opts.limit, "limit", DEFAULT_LIST_LIMIT)
        offset = v.check_offset(opts.offset)
        order = v.check_order(opts.order)
        rows = self.events.query(org_id, flt, order=order, limit=limit + 1, offset=offset)
        memories = [r.to_memory() for r in rows[:limit]]
        return MemoryList.model_construct(memories=memories, count=len(memories), has_more=len(rows) > limit)

    def search_memories(self, org_id: str, q: SearchQuery) -> SearchResult:
        """Structured search; ranked by keyword relevance when `q.query` is set, else ordered by time."""
        started = time.perf_counter()
        since_us, until_us = self._time_bounds(q.since, q.until)
        min_importance = q.min_importance
        if min_importance is not None and (
            isinstance(min_importance, bool) or not math.isfinite(min_importance)
        ):
            raise ValidationError("invalid min_importance: must be a number", "min_importance")
        v.check_count(q.memory_types, "memory_types", self.config.limits.max_filter_types)
        v.check_count(q.event_types, "event_types", self.config.limits.max_filter_types)
        current_only, as_of_us = self._view(q.include_superseded, q.as_of)
        flt = MemoryFilter(
            current_only=current_only,
            as_of_us=as_of_us,
            agent_id=v.check_id(q.agent_id, "agent_id", required=False),
            session_id=v.check_id(q.session_id, "session_id", required=False),
            memory_types=tuple(
                v.check_memory_type(t, f"memory_types[{i}]") for i, t in enumerate(q.memory_types or ())
            ),
            event_types=tuple(
                v.check_event_type(t, f"event_types[{i}]") for i, t in enumerate(q.event_types or ())
            ),
            tags=v.check_tags(q.tags, "tags", self.config.limits.max_filter_tags),
            since_us=since_us,
            until_us=until_us,
            content_contains=v.check_text(q.content_contains, "content_contains"),
            # Like the original, only a positive threshold filters.
            min_importance=min_importance if min_importance and min_importance > 0 else None,
            alive_at_us=self.wall_clock(),
        )
        limit = v.check_limit(q.limit, "limit", DEFAULT_SEARCH_LIMIT)
        offset = v.check_offset(q.offset)
        text = v.check_text(q.query, "query")
        if text is not None:
            rows = self.events.search(org_id, flt, text, limit=limit, offset=offset)
        else:
            order = v.check_order(q.order)
            rows = self.events.query(org_id, flt, order=order, limit=limit, offset=offset)
        results = [r.to_memory() for r in rows]
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        return SearchResult.model_construct(results=results, count=len(results), query_time_ms=elapsed_ms)

    def get_fact(self, org_id: str, key: str) -> Memory:
        """The current version of fact `key`; `NotFoundError` when it has none."""
        fact_key = facts.check_key(key) if key is not None else None
        if fact_key is None:
            raise ValidationError("key is required", "key")
        rows = self.events.query(
            org_id,
            MemoryFilter(fact_key=fact_key, current_only=True, alive_at_us=self.wall_clock()),
            order="desc",
            limit=1,
            offset=0,
        )
        if not rows:
            raise NotFoundError(f"fact '{fact_key}' not found")
        return rows[0].to_memory()

    def fact_history(
        self, org_id: str, key: str, *, limit: int | None = None, offset: int | None = None
    ) -> MemoryList:
        """Every version of fact `key` in the order they were valid (by valid_from, then time), the current one
        last; empty when the key has none. Pages with `limit` (default 100, at most 1,000) and `offset`."""
        fact_key = facts.check_key(key) if key is not None else None
        if fact_key is None:
            raise ValidationError("key is required", "key")
        limit_ = v.check_limit(limit, "limit", DEFAULT_LIST_LIMIT)
        offset_ = v.check_offset(offset)
        if offset_ + limit_ > MAX_HISTORY:
            raise ValidationError(f"offset: a history reads at most {MAX_HISTORY} versions", "offset")
        # Stores order by time; a backfill's valid_from can be earlier than versions written before it, so the
        # whole (bounded) history is read and put in validity order here.
        rows = self.events.query(
            org_id,
            MemoryFilter(fact_key=fact_key, alive_at_us=self.wall_clock()),
            order="asc",
            limit=MAX_HISTORY,
            offset=0,
        )
        rows.sort(key=lambda r: (facts.valid_from(r), r.time_us, r.id))
        page = rows[offset_ : offset_ + limit_]
        return MemoryList.model_construct(
            memories=[r.to_memory() for r in page], count=len(page), has_more=len(rows) > offset_ + limit_
        )

    def list_facts(
        self,
        org_id: str,
        *,
        prefix: str | None = None,
        agent_id: str | None = None,
        as_of: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> MemoryList:
        """The current keyed memories (or those valid at `as_of`), of one agent or all, whose key starts with
        `prefix`; newest first."""
        if prefix is not None and (not isinstance(prefix, str) or len(prefix) > facts.MAX_KEY_LENGTH):
            raise ValidationError(f"invalid prefix: at most {facts.MAX_KEY_LENGTH} characters", "prefix")
        current_only, as_of_us = self._view(None, as_of)
        limit_ = v.check_limit(limit, "limit", DEFAULT_LIST_LIMIT)
        offset_ = v.check_offset(offset)
        flt = MemoryFilter(
            agent_id=v.check_id(agent_id, "agent_id", required=False),
            fact_key_prefix=prefix or "",
            current_only=current_only,
            as_of_us=as_of_us,
            alive_at_us=self.wall_clock(),
        )
        rows = self.events.query(org_id, flt, order="desc", limit=limit_ + 1, offset=offset_)
        memories = [r.to_memory() for r in rows[:limit_]]
        return MemoryList.model_construct(memories=memories, count=len(memories), has_more=len(rows) > limit_)

    def get_memory(self, org_id: str, memory_id: str) -> Memory:
        record = self.events.get(org_id, v.check_memory_id(memory_id))
        # Expiry is checked here rather than in every store's get: one rule, one place.
        if record is None or (record.expires_us is not None and record.expires_us <= self.wall_clock()):
            raise NotFoundError("memory not found")
        return record.to_memory()

    def delete_memory(self, org_id: str, memory_id: str, *, actor: Actor = EMBEDDED) -> None:
        """Delete one memory by id (`NotFoundError` if there is none); recorded in the audit trail."""
        memory_id = v.check_memory_id(memory_id)
        if self.events.delete(org_id, MemoryFilter(ids=(memory_id,))) == 0:
            raise NotFoundError("memory not found")
        self.audit.record(
            org_id,
            AuditAction.MEMORY_DELETE,
            actor=actor,
            filter={"memory_ids": [memory_id]},
            counts={"memories": 1},
        )

    def delete_memories(
        self,
        org_id: str,
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        memory_type: str | None = None,
        event_type: str | None = None,
        tags: str | list[str] | None = None,
        memory_ids: list[str] | None = None,
        actor: Actor = EMBEDDED,
    ) -> int:
        """Delete every memory matching all the given filters, atomically; at least one of agent_id, session_id,
        since, until or memory_ids is required (type and tag filters only narrow). Returns the count. Recorded
        in the audit trail with the filter as given."""
        flt = self._delete_filter(
            agent_id, session_id, since, until, memory_type, event_type, tags, memory_ids
        )
        deleted = 0 if flt is None else self.events.delete(org_id, flt)
        given = {
            "agent_id": agent_id,
            "session_id": session_id,
            "since": since,
            "until": until,
            "memory_type": memory_type,
            "event_type": event_type,
            "tags": tags,
            "memory_ids": memory_ids,
        }
        self.audit.record(
            org_id,
            AuditAction.MEMORIES_DELETE,
            actor=actor,
            filter={k: val for k, val in given.items() if val is not None},
            counts={"memories": deleted},
        )
        return deleted

    def count_memories(
        self,
        org_id: str,
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        memory_type: str | None = None,
        event_type: str | None = None,
        tags: str | list[str] | None = None,
        memory_ids: list[str] | None = None,
    ) -> int:
        """How many memories match these filters, with the rules of `delete_memories` (at least one of agent_id,
        session_id, since, until or memory_ids): exactly what a delete with the same arguments would remove now,
        so a confirmation can say how many will go. Expired memories are not counted (they are not there for any
        read); the delete removes those awaiting the sweep too."""
        flt = self._delete_filter(
            agent_id, session_id, since, until, memory_type, event_type, tags, memory_ids
        )
        return (
            0
            if flt is None
            else self.events.count(org_id, dataclasses.replace(flt, alive_at_us=self.wall_clock()))
        )

    def _delete_filter(
        self,
        agent_id: str | None,
        session_id: str | None,
        since: str | None,
        until: str | None,
        memory_type: str | None,
        event_type: str | None,
        tags: str | list[str] | None,
        memory_ids: list[str] | None,
    ) -> MemoryFilter | None:
        """The filter of a delete, validated; None when it matches nothing (an empty id list)."""
        since_us, until_us = self._time_bounds(since, until)
        if memory_ids is not None and (isinstance(memory_ids, str) or len(memory_ids) > MAX_DELETE_IDS):
            raise ValidationError(f"memory_ids: a list of at most {MAX_DELETE_IDS} ids", "memory_ids")
        flt = MemoryFilter(
            agent_id=v.check_id(agent_id, "agent_id", required=False),
            session_id=v.check_id(session_id, "session_id", required=False),
            since_us=since_us,
            until_us=until_us,
            memory_types=(v.check_memory_type(memory_type, "memory_type"),) if memory_type else (),
            event_types=(v.check_event_type(event_type, "event_type"),) if event_type else (),
            tags=v.split_tags(tags, limit=self.config.limits.max_filter_tags),
            ids=tuple(v.check_memory_id(m, f"memory_ids[{i}]") for i, m in enumerate(memory_ids or ())),
        )
        scoped = flt.agent_id or flt.session_id or flt.since_us is not None or flt.until_us is not None
        if memory_ids == []:
            return None
        if not (scoped or flt.ids):
            raise ValidationError(
                "filter: give at least one of agent_id, session_id, since, until, memory_ids", "filter"
            )
        return flt

    def forget(self, org_id: str, req: ForgetRequest, *, actor: Actor = EMBEDDED) -> ForgetReceipt:
        """Remove everything about a subject (an agent, a session, or any filter of tags, time and ids): its
        memories, and for a whole agent or session its sessions and registration. Returns the receipt, which the
        audit trail records too. Runs in bounded batches (see `memtrace.forget`): re-run it if it was cut off."""
        subject = subject_of(req, max_tags=self.config.limits.max_filter_tags)
        started = self.clock.now()
        memories, batches = delete_in_batches(self.events, org_id, subject.filter)
        sessions = agents = 0
        if subject.whole_session is not None or subject.whole_agent is not None:
            sessions = self.metadata.delete_sessions(
                org_id, agent_id=subject.filter.agent_id, session_id=subject.whole_session
            )
        if subject.whole_agent is not None:
            # Memories name agents freely; a registered agent has an id and a name, and either may be the one
            # its memories use.
            for _ in range(2):  # one agent with that id, one with that name: at most two
                row = self.metadata.get_agent(org_id, subject.whole_agent)
                if row is None:
                    break
                agents += int(self.metadata.delete_agent(org_id, row.id))
        receipt = ForgetReceipt(
            org_id=org_id,
            subject=subject.given,
            removed={"memories": memories, "sessions": sessions, "agents": agents},
            started_at=from_us(started),
            finished_at=from_us(self.clock.now()),
            batches=batches,
        )
        self.audit.record(
            org_id, AuditAction.FORGET, actor=actor, filter=subject.given, counts=receipt.removed
        )
        return receipt

    # ----------------------------------------------------------------- counts

    def count_memories_by_type(
        self, org_id: str, *, agent_id: str | None = None, since: str | None = None
    ) -> dict[str, int]:
        """The organisation's (or one agent's) memories per memory type, all of them or those after `since`."""
        since_us, _ = self._time_bounds(since, None)
        flt = MemoryFilter(
            agent_id=v.check_id(agent_id, "agent_id", required=False),
            since_us=since_us,
            alive_at_us=self.wall_clock(),
            current_only=True,
        )
        return self.events.count_by_type(org_id, flt)

    def memory_histogram(
        self,
        org_id: str,
        *,
        start_us: int,
        bucket_us: int,
        buckets: int,
        agent_id: str | None = None,
    ) -> list[int]:
        """How many memories (of one agent, or all) fall in each of `buckets` consecutive intervals of
        `bucket_us` microseconds from `start_us`: the dashboard's "memories over time". Each interval is
        ``[start, end)``, counted by the store with the same filter as a list."""
        if not 1 <= buckets <= MAX_HISTOGRAM_BUCKETS:
            raise ValidationError(f"buckets: between 1 and {MAX_HISTOGRAM_BUCKETS}", "buckets")
        if bucket_us < 1_000_000:
            raise ValidationError("bucket: at least one second", "bucket")
        agent = v.check_id(agent_id, "agent_id", required=False)
        alive = self.wall_clock()
        counts = []
        for i in range(buckets):
            lo = start_us + i * bucket_us
            # Stores compare since/until strictly: (lo - 1, lo + bucket) is [lo, lo + bucket).
            flt = MemoryFilter(
                agent_id=agent, since_us=lo - 1, until_us=lo + bucket_us, alive_at_us=alive, current_only=True
            )
            counts.append(self.events.count(org_id, flt))
        return counts

    # ----------------------------------------------------------------- agents

    @staticmethod
    def _agent(row: AgentRow) -> Agent:
        return Agent(
            id=row.id,
            org_id=row.org_id,
            name=row.name,
            description=row.description,
            config=json.loads(row.config_json) if row.config_json else None,
            created_at=from_us(row.created_us),
            last_active_at=_dt_us(row.last_active_us),
        )

    def register_agent(self, org_id: str, req: RegisterAgentRequest) -> Agent:
        name = req.name
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name is required", "name")
        if len(name) > MAX_NAME_LENGTH or "\x00" in name:
            raise ValidationError(f"invalid name: at most {MAX_NAME_LENGTH} characters, no NUL", "name")
        v.check_unicode(name, "name")
        description = v.check_text(req.description, "description")
        config_json = self._metadata(req.config, "config")
        row = AgentRow(new_entity_id("agent"), org_id, name, description, config_json, self.clock.now(), None)
        return self._agent(self.metadata.create_agent(row))

    def list_agents(self, org_id: str) -> AgentList:
        agents = [self._agent(r) for r in self.metadata.list_agents(org_id)]
        return AgentList(agents=agents, count=len(agents))

    def get_agent(self, org_id: str, agent_id: str) -> Agent:
        """An agent by id, or by name."""
        if not isinstance(agent_id, str) or not agent_id or len(agent_id) > MAX_NAME_LENGTH:
            raise ValidationError("invalid agent_id", "agent_id")
        v.check_unicode(agent_id, "agent_id")
        row = self.metadata.get_agent(org_id, agent_id)
        if row is None:
            raise NotFoundError("agent not found")
        return self._agent(row)

    def delete_agent(self, org_id: str, agent_id: str, *, actor: Actor = EMBEDDED) -> None:
        """Delete a registered agent by id. Its memories stay (delete them with `delete_memories`, or everything
        about the agent with `forget`)."""
        if not isinstance(agent_id, str) or len(agent_id) > MAX_NAME_LENGTH:
            raise NotFoundError("agent not found")
        if not self.metadata.delete_agent(org_id, v.check_unicode(agent_id, "agent_id")):
            raise NotFoundError("agent not found")
        self.audit.record(
            org_id, AuditAction.AGENT_DELETE, actor=actor, filter={"agent_id": agent_id}, counts={"agents": 1}
        )

    def get_agent_stats(self, org_id: str, agent_id: str) -> AgentStats:
        v.check_id(agent_id, "agent_id")
        # Counts are of current memories, like every read; the last activity is any write still alive.
        now = self.wall_clock()
        base = MemoryFilter(agent_id=agent_id, alive_at_us=now, current_only=True)
        day_ago = now - DAY_US
        newest = self.events.query(
            org_id, MemoryFilter(agent_id=agent_id, alive_at_us=now), order="desc", limit=1, offset=0
        )
        return AgentStats(
            agent_id=agent_id,
            memory_count=self.events.count(org_id, base),
            memories_24h=self.events.count(
                org_id, MemoryFilter(agent_id=agent_id, since_us=day_ago, alive_at_us=now, current_only=True)
            ),
            errors_24h=self.events.count(
                org_id,
                MemoryFilter(
                    agent_id=agent_id,
                    since_us=day_ago,
                    event_types=("error",),
                    alive_at_us=now,
                    current_only=True,
                ),
            ),
            session_count=self.metadata.count_sessions(org_id, agent_id),
            active_sessions=self.metadata.count_sessions(org_id, agent_id, status="active"),
            last_active_at=from_us(newest[0].time_us) if newest else None,
            memory_types=self.events.count_by_type(org_id, base),
        )

    def get_agent_memories(self, org_id: str, agent_id: str, opts: ListOptions | None = None) -> MemoryList:
        """An agent's memories; like the original, the last 24 hours unless `opts.since` says otherwise."""
        v.check_id(agent_id, "agent_id")
        opts = (opts or ListOptions()).model_copy(update={"agent_id": agent_id})
        if opts.since is None:
            opts.since = "24h"
        return self.list_memories(org_id, opts)

    # --------------------------------------------------------------- sessions

    @staticmethod
    def _session(row: SessionRow) -> Session:
        return Session(
            id=row.id,
            org_id=row.org_id,
            agent_id=row.agent_id,
            status=row.status,
            metadata=json.loads(row.metadata_json) if row.metadata_json else None,
            created_at=from_us(row.created_us),
            updated_at=from_us(row.updated_us),
            closed_at=_dt_us(row.closed_us),
        )

    def create_session(self, org_id: str, req: CreateSessionRequest) -> Session:
        """Open a session for any agent id (registration is not required). `req.id` picks the id."""
        agent_id = v.check_id(req.agent_id, "agent_id")
        assert agent_id is not None
        session_id = v.check_id(req.id, "id", required=False) or new_entity_id("sess")
        metadata_json = self._metadata(req.metadata, "metadata")
        now = self.clock.now()
        row = SessionRow(session_id, org_id, agent_id, "active", metadata_json, now, now, None)
        return self._session(self.metadata.create_session(row))

    def get_session(self, org_id: str, session_id: str) -> Session:
        row = self.metadata.get_session(org_id, v.check_id(session_id, "session_id") or "")
        if row is None:
            raise NotFoundError("session not found")
        return self._session(row)

    def list_sessions(self, org_id: str, agent_id: str | None = None) -> SessionList:
        rows = self.metadata.list_sessions(org_id, v.check_id(agent_id, "agent_id", required=False))
        sessions = [self._session(r) for r in rows]
        return SessionList(sessions=sessions, count=len(sessions))

    def page_sessions(
        self,
        org_id: str,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        order: SessionOrder = "updated",
        limit: int,
        offset: int = 0,
    ) -> SessionsPage:
        """One page of the organisation's sessions (of one agent and/or with one status), newest first by
        `order`, and how many match in all: the dashboard's session lists, whose work is the page and a count,
        not every session of the organisation (`list_sessions`)."""
        agent = v.check_id(agent_id, "agent_id", required=False)
        if status is not None:
            v.check_event_type(status, "status")
        if order not in _SESSION_ORDERS:
            raise ValidationError("invalid order: must be 'created' or 'updated'", "order")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= v.MAX_LIMIT:
            raise ValidationError(f"invalid limit: must be an integer from 1 to {v.MAX_LIMIT}", "limit")
        found = self.metadata.page_sessions(
            org_id, agent_id=agent, status=status, order=order, limit=limit, offset=v.check_offset(offset)
        )
        return SessionsPage([self._session(r) for r in found.rows], found.total)

    def count_sessions_by_agent(self, org_id: str) -> list[AgentSessionCounts]:
        """Each agent with sessions in the organisation: how many it has and how many are ``active``; ordered by
        its newest session, newest first. One grouped read (a row per agent, not per session)."""
        return self.metadata.count_sessions_by_agent(org_id)

    def update_session(
        self,
        org_id: str,
        session_id: str,
        *,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        """Set the status and/or replace the metadata. ``status="closed"`` also sets `closed_at`."""
        v.check_id(session_id, "session_id")
        if status is not None:
            v.check_event_type(status, "status")
        metadata_json = self._metadata(metadata, "metadata")
        row = self.metadata.update_session(
            org_id,
            session_id,
            status=status,
            metadata_json=metadata_json,
            replace_metadata=metadata is not None,
            now_us=self.clock.now(),
        )
        if row is None:
            raise NotFoundError("session not found")
        return self._session(row)

    def close_session(self, org_id: str, session_id: str) -> Session:
        return self.update_session(org_id, session_id, status="closed")

    def _known_facts(
        self, org_id: str, session_id: str, records: list[MemoryRecord], row: SessionRow | None
    ) -> list[MemoryRecord]:
        """The current facts of the session's agent (keyed memories it wrote in any session), newest first: what
        the agent knows now, whichever conversation it learnt it in. Facts of other agents stay out, so one
        agent's context does not grow with everything its organisation knows. `row`: the session, as
        `_require_session` found it."""
        agent_id = row.agent_id if row is not None else (records[0].agent_id if records else None)
        if agent_id is None:
            found = self.events.query(
                org_id, MemoryFilter(session_id=session_id), order="desc", limit=1, offset=0
            )
            if not found:
                return []
            agent_id = found[0].agent_id
        flt = MemoryFilter(
            agent_id=agent_id, fact_key_prefix="", current_only=True, alive_at_us=self.wall_clock()
        )
        return self.events.query(org_id, flt, order="desc", limit=KNOWN_FACTS_LIMIT, offset=0)

    def _require_session(self, org_id: str, session_id: str) -> SessionRow | None:
        """A session exists if it was created, or if any memory names it (memories may use free-form ids).
        Returns its row (None for one that only memories name), so callers need not read it again."""
        row = self.metadata.get_session(org_id, session_id)
        if row is None:
            self._require_named(org_id, session_id)
        return row

    def _require_named(self, org_id: str, session_id: str) -> None:
        """`NotFoundError` unless some live memory names the session (one without a session row)."""
        if not self.events.query(
            org_id,
            MemoryFilter(session_id=session_id, alive_at_us=self.wall_clock()),
            order="desc",
            limit=1,
            offset=0,
        ):
            raise NotFoundError("session not found")

    def get_session_memories(
        self, org_id: str, session_id: str, opts: ListOptions | None = None
    ) -> MemoryList:
        v.check_id(session_id, "session_id")
        self._require_session(org_id, session_id)
        opts = (opts or ListOptions()).model_copy(update={"session_id": session_id})
        return self.list_memories(org_id, opts)

    def get_session_context(
        self, org_id: str, session_id: str, opts: ContextOptions | None = None
    ) -> SessionContext:
        """The session's memories as markdown (see `memtrace.context`), within `opts.max_tokens`."""
        v.check_id(session_id, "session_id")
        opts = opts or ContextOptions()
        since_us = parse_time(opts.since or "24h", "since")
        v.check_count(opts.include_types, "include_types", self.config.limits.max_filter_types)
        types = tuple(
            v.check_memory_type(t, f"include_types[{i}]") for i, t in enumerate(opts.include_types or ())
        )
        max_tokens = opts.max_tokens
        if max_tokens is not None and (isinstance(max_tokens, bool) or max_tokens <= 0):
            raise ValidationError("invalid max_tokens: must be a positive integer", "max_tokens")
        max_chars = opts.max_content_chars or DEFAULT_MAX_CONTENT_CHARS
        if not 1 <= max_chars <= 100_000:
            raise ValidationError(
                "invalid max_content_chars: must be between 1 and 100000", "max_content_chars"
            )
        session = self.metadata.get_session(org_id, session_id)
        records = self.events.query(
            org_id,
            MemoryFilter(
                session_id=session_id,
                since_us=since_us,
                memory_types=types,
                alive_at_us=self.wall_clock(),
                current_only=True,
            ),
            order="desc",
            limit=CONTEXT_FETCH_LIMIT,
            offset=0,
            brief=True,
        )
        if session is None and not records:
            # Asked only when nothing was found: a session with memories in the window exists, and proving it
            # again cost a query (a round trip, a tenth of a 500-memory context on PostgreSQL).
            self._require_named(org_id, session_id)
        rendered = render_session_context(
            session_id,
            records,
            max_tokens=max_tokens,
            max_content_chars=max_chars,
            facts=self._known_facts(org_id, session_id, records, session),
        )
        return SessionContext(
            session_id=session_id,
            context=rendered.text,
            memory_count=rendered.included,
            omitted=rendered.omitted,
        )

    # ---------------------------------------------------------- organisations

    def ensure_org(self, org_id: str, name: str) -> OrgRow:
        """The organisation, created if absent (concurrent callers all get the one stored row)."""
        return self.metadata.ensure_org(v.check_id(org_id, "org_id") or "", name, now_us())

    def create_org(self, org_id: str, name: str, *, actor: Actor = EMBEDDED) -> OrgRow:
        """A new organisation; `ConflictError` if the id is taken. Recorded in the audit trail."""
        org = self.metadata.create_org(v.check_id(org_id, "id") or "", name, now_us())
        self.audit.record(org.id, AuditAction.ORG_CREATE, actor=actor, filter={"name": org.name})
        return org

    def get_org(self, org_id: str) -> OrgRow:
        org = self.metadata.get_org(org_id)
        if org is None:
            raise NotFoundError(f"organization '{org_id}' not found")
        return org

    def list_orgs(self) -> list[OrgRow]:
        return self.metadata.list_orgs()

    def purge_org(self, org_id: str, *, actor: Actor = EMBEDDED) -> ForgetReceipt:
        """Delete an organisation with everything in it: memories, agents, sessions, keys and its Arc settings,
        so a later org with the same id starts empty. Returns the receipt (as `forget` does), which the audit
        trail records too. Memories go in bounded batches; if it is cut off, run it again."""
        self.get_org(org_id)
        started = self.clock.now()
        sessions = len(self.metadata.list_sessions(org_id, None))
        agents = len(self.metadata.list_agents(org_id))
        keys = len(self.metadata.list_api_keys(org_id))
        # An empty filter means "every memory of this org"; `delete_memories` refuses one on purpose, and only
        # this operator action needs it. Memories go first: an org row without memories is harmless, the reverse
        # would leave memories nobody can reach.
        memories, batches = delete_in_batches(self.events, org_id, MemoryFilter())
        self.metadata.delete_org(org_id)
        receipt = ForgetReceipt(
            org_id=org_id,
            subject={"org_id": org_id},
            removed={"memories": memories, "sessions": sessions, "agents": agents, "api_keys": keys},
            started_at=from_us(started),
            finished_at=from_us(self.clock.now()),
            batches=batches,
        )
        self.audit.record(org_id, AuditAction.ORG_DELETE, actor=actor, counts=receipt.removed)
        return receipt

    # ------------------------------------------------------- export and import

    def plan_export(self, org_id: str, options: ExportOptions | None = None) -> ExportPlan:
        """A validated export of the organisation, or of the part `options` selects (a bad filter raises here,
        before anything is written); its ``chunks(engine.events, engine.metadata)`` are the file."""
        options = options if options is not None else ExportOptions()
        if not isinstance(options, ExportOptions):
            raise ValidationError("options: expected ExportOptions", "options")
        limits = self.config.limits
        since_us, until_us = self._time_bounds(options.since, options.until)
        v.check_count(options.memory_types, "memory_types", limits.max_filter_types)
        flt = MemoryFilter(
            agent_id=v.check_id(options.agent_id, "agent_id", required=False),
            session_id=v.check_id(options.session_id, "session_id", required=False),
            memory_types=tuple(
                v.check_memory_type(t, f"memory_types[{i}]") for i, t in enumerate(options.memory_types or ())
            ),
            tags=v.check_tags(options.tags, "tags", limits.max_filter_tags),
            since_us=since_us,
            until_us=until_us,
        )
        return ExportPlan(org_id, options, flt, now_us())

    def export_memories(self, org_id: str, options: ExportOptions | None = None) -> Iterator[bytes]:
        """The organisation (or the part `options` selects) as an export file, in chunks of whole lines
        (`memtrace.transfer`); the filter is checked before the first chunk."""
        return self.plan_export(org_id, options).chunks(self.events, self.metadata)

    def import_memories(
        self,
        org_id: str,
        lines: Iterable[bytes],
        *,
        progress: Progress | None = None,
        first_line: int | None = None,
        actor: Actor = EMBEDDED,
    ) -> ImportReport:
        """Import an export file (its lines, e.g. an open binary file) into the organisation, keeping ids and
        times; memories already there are skipped. Committed in batches: a bad line raises `ImportFailed`
        naming it, with a report of what was imported before it (`memtrace.transfer.importer`). `first_line`:
        the lines are one part of a larger file, whose line numbers errors should use (see `Importer`).
        Recorded in the audit trail, complete or stopped, with its counts."""
        limits = self.config.limits
        importer = Importer(
            self.events,
            self.metadata,
            org_id,
            limits=ReadLimits(
                max_content_length=self.config.max_content_length,
                max_tags=limits.max_memory_tags,
                max_metadata_bytes=limits.max_metadata_bytes,
                max_metadata_depth=limits.max_metadata_depth,
                recompute_dedup_keys=self.config.dedup_enabled,
            ),
            progress=progress,
            first_line=first_line,
            dedup_horizon_us=self._dedup_since(),
        )
        try:
            report = importer.run(lines)
        except ImportFailed as exc:
            self._audit_import(org_id, importer, exc.report, actor, stopped_at=exc.line)
            raise
        self._audit_import(org_id, importer, report, actor)
        return report

    def _audit_import(
        self,
        org_id: str,
        importer: Importer,
        report: ImportReport,
        actor: Actor,
        *,
        stopped_at: int | None = None,
    ) -> None:
        """Every import passes here once, complete or stopped at a line, and is recorded with what it wrote
        (an import that changed nothing too: someone tried)."""
        subject: dict[str, object] = {"complete": report.complete}
        header = importer.header
        if header is not None:
            subject["file_org_id"] = header.org_id
            subject["exported_at"] = header.exported_at
        if importer.first_line is not None:
            subject["first_line"] = importer.first_line
        if stopped_at is not None:
            subject["stopped_at_line"] = stopped_at
        self.audit.record(
            org_id,
            AuditAction.IMPORT,
            actor=actor,
            filter=subject,
            counts={
                "memories": report.memories,
                "skipped": report.skipped,
                "agents": report.agents,
                "sessions": report.sessions,
                "lines": report.lines,
            },
        )

    # ------------------------------------------------------ retention and sweep

    def set_retention(
        self, org_id: str, memory_type: str | None, keep: str, *, actor: Actor = EMBEDDED
    ) -> RetentionRule:
        """Keep the org's memories of `memory_type` (``*`` or None: every type without a rule of its own) for
        `keep` (``30d``, ``12w``..., or ``forever``); the next sweep deletes older ones. Audited: a policy
        decides what gets deleted."""
        self.get_org(org_id)
        row = RetentionRow(
            org_id, retention.check_rule_type(memory_type), retention.parse_keep(keep), now_us()
        )
        rule = retention.rule_of(self.metadata.put_retention(row))
        self.audit.record(
            org_id,
            AuditAction.RETENTION_POLICY,
            actor=actor,
            filter={"memory_type": row.memory_type},
            counts={"set": 1, "keep_us": row.max_age_us if row.max_age_us is not None else -1},
        )
        return rule

    def get_retention(self, org_id: str) -> list[RetentionRule]:
        """The org's retention rules (empty: everything is kept until it expires or is deleted)."""
        self.get_org(org_id)
        return [retention.rule_of(r) for r in self.metadata.list_retention(org_id)]

    def clear_retention(self, org_id: str, memory_type: str | None = None, *, actor: Actor = EMBEDDED) -> int:
        """Remove the org's rule for `memory_type` (``*`` is the default rule), or every rule when None."""
        self.get_org(org_id)
        if memory_type is not None:
            memory_type = retention.check_rule_type(memory_type)
        removed = self.metadata.delete_retention(org_id, memory_type)
        if removed:
            self.audit.record(
                org_id,
                AuditAction.RETENTION_POLICY,
                actor=actor,
                filter={"memory_type": memory_type} if memory_type is not None else {},
                counts={"cleared": removed},
            )
        return removed

    def sweep(
        self,
        *,
        org_id: str | None = None,
        now: int | None = None,
        batch: int = DEFAULT_SWEEP_BATCH,
        dry_run: bool = False,
        max_batches: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        actor: Actor = EMBEDDED,
    ) -> SweepReport:
        """Delete (or with `dry_run` count) what expired by `now` (default: the current time) and what fell out
        of a retention policy, of one organisation or of all, in batches of `batch` (see `memtrace.sweep`).
        Each organisation it deleted from gets a ``retention.run`` audit entry (counts by reason and type)."""
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_SWEEP_BATCH:
            raise ValidationError(f"batch: between 1 and {MAX_SWEEP_BATCH}", "batch")
        # The organisations the metadata store knows: every memory is written under one (a server's key belongs
        # to one; the embedded client ensures its own).
        orgs = [o.id for o in self.metadata.list_orgs()] if org_id is None else [self.get_org(org_id).id]
        report = run_sweep(
            self.events,
            self.metadata,
            now_us=self.wall_clock() if now is None else now,
            org_ids=orgs,
            batch=batch,
            dry_run=dry_run,
            max_batches=max_batches,
            should_stop=should_stop,
        )
        report.finished_us = now_us()
        if not dry_run:
            for org, by_reason in report.by_org().items():
                counts = {f"{reason}.{t}": n for reason, types in by_reason.items() for t, n in types.items()}
                counts["memories"] = sum(counts.values())
                self.audit.record(
                    org,
                    AuditAction.RETENTION_RUN,
                    actor=actor,
                    filter={"as_of": from_us(report.started_us).isoformat(), "complete": report.complete},
                    counts=counts,
                )
        return report

    # --------------------------------------------------------------- lifecycle

    def ping(self) -> None:
        """Raise if the stores do not answer (readiness)."""
        self.stores.ping()

    def stats(self) -> StoreStats:
        """The stores' size figures, cheap enough for every metrics scrape."""
        return self.stores.stats()

    def close(self) -> None:
        self.stores.close()
