"""CrewAI `MemoryRecord` <-> memtrace memory.

A record's text goes to `content` (what memtrace's keyword search ranks) and its importance to `importance`.
The user's metadata stays at the top level of memtrace's `metadata`, so other memtrace consumers see it as
written (e.g. ``reasoning`` on a decision). What only CrewAI needs (record id, scope, categories, source,
privacy, an optional embedding) lives under the reserved key ``_crewai``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crewai.memory.types import MemoryRecord

from memtrace import Memory

from ._tags import EMBEDDED_TAG, category_tag, normalize_scope, record_id_tag, scope_tags

RESERVED_KEY = "_crewai"
"""The metadata key that holds CrewAI's bookkeeping; user metadata may not use it."""

EVENT_TYPE = "crewai_memory"
"""event_type of memories written through the CrewAI adapter (decisions use ``decision``)."""


def to_naive_utc(value: datetime) -> datetime:
    """CrewAI compares record times with ``datetime.utcnow()`` (naive), so records carry naive UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def to_aware_utc(value: datetime) -> datetime:
    """Naive datetimes from CrewAI are UTC (``utcnow``)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def record_tags(record: MemoryRecord, partition: list[str]) -> list[str]:
    """Partition tags, then one tag per scope ancestor, per category, and the record id."""
    tags = list(partition)
    tags.extend(scope_tags(record.scope))
    tags.extend(category_tag(c) for c in dict.fromkeys(record.categories))
    tags.append(record_id_tag(record.id))
    if record.embedding:
        tags.append(EMBEDDED_TAG)
    return list(dict.fromkeys(tags))


def record_metadata(record: MemoryRecord, *, keep_embedding: bool) -> dict[str, Any]:
    if RESERVED_KEY in record.metadata:
        raise ValueError(f"metadata key {RESERVED_KEY!r} is reserved by memtrace-crewai")
    bookkeeping: dict[str, Any] = {
        "id": record.id,
        "scope": normalize_scope(record.scope),
        "categories": list(record.categories),
    }
    if record.source is not None:
        bookkeeping["source"] = record.source
    if record.private:
        bookkeeping["private"] = True
    if keep_embedding and record.embedding:
        bookkeeping["embedding"] = [float(x) for x in record.embedding]
    return {**record.metadata, RESERVED_KEY: bookkeeping}


def memory_to_record(memory: Memory) -> MemoryRecord:
    """The CrewAI view of a memtrace memory. Memories written by other tools (no ``_crewai`` key) appear at
    the root scope with their memtrace id, so a crew can still recall them."""
    metadata = dict(memory.metadata or {})
    bookkeeping = metadata.pop(RESERVED_KEY, None)
    if not isinstance(bookkeeping, dict):
        bookkeeping = {}
    created = to_naive_utc(memory.time)
    importance = memory.importance if memory.importance is not None else 0.5
    embedding = bookkeeping.get("embedding")
    categories = bookkeeping.get("categories")
    # model_construct: this runs for every listed or searched memory, and every field is normalised here
    # (validation would cost more than the search itself).
    return MemoryRecord.model_construct(
        id=str(bookkeeping.get("id") or memory.id),
        content=memory.content,
        scope=str(bookkeeping.get("scope") or "/"),
        categories=[str(c) for c in categories] if isinstance(categories, list) else [],
        metadata=metadata,
        importance=min(max(float(importance), 0.0), 1.0),
        created_at=created,
        last_accessed=created,
        embedding=embedding if isinstance(embedding, list) else None,
        source=str(bookkeeping["source"]) if bookkeeping.get("source") is not None else None,
        private=bool(bookkeeping.get("private", False)),
    )


def visible(record: MemoryRecord, *, source: str | None, include_private: bool) -> bool:
    """CrewAI's privacy rule: a private record is visible only to the source that wrote it (a ``None``
    source never matches), unless the caller asks for private records."""
    if not record.private or include_private:
        return True
    return source is not None and record.source == source


def matches(
    record: MemoryRecord,
    *,
    categories: list[str] | None = None,
    metadata_filter: dict[str, Any] | None = None,
    older_than: datetime | None = None,
) -> bool:
    """The filters memtrace cannot express as tags: any-of categories, metadata equality, age."""
    if categories and not any(c in record.categories for c in categories):
        return False
    if metadata_filter and not all(record.metadata.get(k) == v for k, v in metadata_filter.items()):
        return False
    return not (older_than is not None and record.created_at >= to_naive_utc(older_than))
