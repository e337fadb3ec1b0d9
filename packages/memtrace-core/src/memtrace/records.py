"""The store-level shapes: a memory as stored (`MemoryRecord`) and a filter over memories (`MemoryFilter`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .models import Memory
from .timeparse import MAX_TIME_US, MIN_TIME_US, from_us


@dataclass(slots=True)
class MemoryRecord:
    """A validated memory, ready to store. `metadata_json` is compact JSON or None; `tags` is a tuple."""

    id: str
    org_id: str
    time_us: int
    agent_id: str
    session_id: str | None
    memory_type: str
    event_type: str
    content: str
    metadata_json: str | None
    tags: tuple[str, ...]
    dedup_key: str | None
    importance: float | None
    parent_id: str | None
    score: float | None = None
    # Lifecycle (issue #16): when the memory stops being returned; None never expires.
    expires_us: int | None = None
    # Facts that change (issue #17): the fact's key, when the version became valid (None: `time_us`), when it
    # stopped being current (None: still current) and the memory that replaced it.
    fact_key: str | None = None
    valid_from_us: int | None = None
    valid_until_us: int | None = None
    superseded_by: str | None = None
    supersedes: tuple[str, ...] = ()
    """Write-only: the ids this memory replaces explicitly (`memtrace.facts`); never read back."""

    def to_memory(self) -> Memory:
        metadata_json = self.metadata_json
        tags = self.tags
        expires_us = self.expires_us
        valid_from_us = self.valid_from_us
        valid_until_us = self.valid_until_us
        time_us = self.time_us
        # from_us inline for a time in range (every one memtrace wrote): a call fewer per memory read.
        time = (
            _EPOCH + timedelta(0, 0, time_us) if MIN_TIME_US <= time_us <= MAX_TIME_US else from_us(time_us)
        )
        # The dict is built in `Memory`'s field order (what model_dump and the JSON keep). Every memory has a
        # valid_from: its time unless set explicitly (a backfill); datetimes are immutable, so it may be the
        # same object as `time`, one conversion fewer on every read.
        values = {
            "id": self.id,
            "time": time,
            "org_id": self.org_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "memory_type": self.memory_type,
            "event_type": self.event_type,
            "content": self.content,
            "metadata": _metadata(metadata_json) if metadata_json else None,
            "tags": list(tags) if tags else None,
            "dedup_key": self.dedup_key,
            "importance": self.importance,
            "parent_id": self.parent_id,
            "score": self.score,
            "expires_at": from_us(expires_us) if expires_us is not None else None,
            "key": self.fact_key,
            "valid_from": time
            if valid_from_us is None or valid_from_us == time_us
            else from_us(valid_from_us),
            "valid_until": from_us(valid_until_us) if valid_until_us is not None else None,
            "superseded_by": self.superseded_by,
        }
        return _build_memory(values)


# The decoder's scanner is public (json.decoder sets it in __init__) but missing from typeshed's stub.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _metadata(text: str) -> Any:
    """`json.loads(text)` for the compact JSON the engine stores, by the C scanner directly: `json.loads` adds
    two regex matches and three Python calls around it, as much again as the parse of a small object. Anything
    the scanner does not take whole goes through `json.loads` (same value, or its error)."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


_MEMORY_FIELDS = frozenset(Memory.model_fields)
_new_model = Memory.__new__
_set_attr = object.__setattr__
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _build_memory(values: dict[str, Any]) -> Memory:
    """A `Memory` from already-validated values, without pydantic's validation.

    The record was validated on the way in, and every field is given, so this does what `model_construct` does
    minus its per-field default handling: ~10x cheaper, which is a third of the cost of a large read or batch.
    tests/core/test_records.py checks the result equals a validated `Memory`.
    """
    memory = _new_model(Memory)
    _set_attr(memory, "__dict__", values)
    _set_attr(memory, "__pydantic_fields_set__", set(_MEMORY_FIELDS))
    _set_attr(memory, "__pydantic_extra__", None)
    _set_attr(memory, "__pydantic_private__", None)
    return memory


BRIEF_COLUMNS = (
    "id",
    "time_us",
    "agent_id",
    "memory_type",
    "event_type",
    "content",
    "metadata_json",
    "importance",
)
"""The columns a brief read selects (`EventStore.query`'s `brief`, for session context), in `brief_record`'s order:
what context renders, less the org and the session, which the filter fixes."""


def brief_record(org_id: str, session_id: str, row: tuple[Any, ...]) -> MemoryRecord:
    """A memory from a brief read's row (`BRIEF_COLUMNS`) of `org_id` and `session_id`; the fields context does not
    render are left empty."""
    return MemoryRecord(
        row[0],  # id
        org_id,  # every row is the org's and the session's (the read's WHERE clause)
        row[1],  # time_us
        row[2],  # agent_id
        session_id,
        row[3],  # memory_type
        row[4],  # event_type
        row[5],  # content
        row[6],  # metadata_json
        (),  # tags
        None,  # dedup_key
        row[7],  # importance
        None,  # parent_id
    )


@dataclass(slots=True)
class MemoryFilter:
    """Conditions ANDed together. Empty/None fields do not filter. Times are UTC microseconds;
    `since_us` is exclusive (time > since) and `until_us` exclusive (time < until), as in the original."""

    agent_id: str | None = None
    session_id: str | None = None
    memory_types: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since_us: int | None = None
    until_us: int | None = None
    content_contains: str | None = None
    min_importance: float | None = None
    ids: tuple[str, ...] = field(default_factory=tuple)
    alive_at_us: int | None = None
    """Leave out memories that expired at or before this time (``expires_us <= alive_at_us``). The engine sets it
    to now on every read; None (deletes, sweeps, exports) sees expired memories too."""
    expired_by_us: int | None = None
    """Only memories that have expired by this time (``expires_us <= expired_by_us``): what a sweep deletes. A
    query with it may come back in expiry order rather than time order (a sweep needs no order, and the stores'
    expiry index gives that one without a sort)."""
    current_only: bool = False
    """Only memories no later version has superseded (``valid_until_us IS NULL``); reads set it by default."""
    as_of_us: int | None = None
    """Only the versions valid at this time: ``valid_from <= as_of < valid_until`` (valid_from defaulting to the
    memory's time, valid_until to forever)."""
    fact_key: str | None = None
    """Only the versions of this fact."""
    fact_key_prefix: str | None = None
    """Only keyed memories whose key starts with this (``""``: every keyed memory)."""
