"""Forgetting a subject: everything about an agent, a session or a filter goes, and the caller gets a receipt.

`Engine.forget` takes a `ForgetRequest` and removes, in the caller's organisation:

- the memories matching it (from the event store: SQLite with its keyword index, PostgreSQL with its corpus
  statistics, Arc with its spool and Arc itself), so that no list, ranked search, get, stats or context shows
  them and no search score still counts them;
- when the subject is a whole agent (only `agent_id` given): the agent's sessions and its registration (agents
  registered with that id or that name);
- when the subject is a whole session (`session_id`, perhaps with its `agent_id`): the session.

A filter narrower than that (tags, a time range, ids) removes memories only: a session or an agent is not "about"
a tag. The receipt (`ForgetReceipt`) counts what went, by kind, with the subject and the time; the audit trail
gets the same (`memtrace.audit`). Whole-organisation deletion (`Engine.purge_org`) runs the same steps.

Memories go in bounded batches (`delete_in_batches`), each its own short transaction, so forgetting 100,000
memories never holds up a writer for more than one batch, and readers not at all (bench/forget.py measures it).
The price is that a forget is not one atomic step: a crash midway leaves some batches done and the rest not, each
batch whole (its rows and their keyword-index entries together). Metadata goes after the memories, so an
interrupted forget leaves the subject findable and forgetting it again finishes the job; the second receipt
counts only what the second run removed. Memories written for the subject while it is being forgotten may
survive it: stop its writers first, or forget again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from . import validation as v
from .errors import ValidationError
from .records import MemoryFilter
from .stores.base import EventStore
from .timeparse import parse_time

MAX_FORGET_IDS = 1000

FIRST_BATCH = 250
MIN_BATCH = 50
MAX_BATCH = 10_000
BATCH_TARGET_SECONDS = 0.1
"""How long one batch should take. Batches double while they take less than half of it and halve when they take
more, so the batch size fits the machine and the store (a slow disk, FTS removal of long texts). Readers do not
wait for a batch (SQLite runs them on its second connection, `SQLiteDatabase.aside`; PostgreSQL's readers never
wait for a writer), writers do: this is what a write queued behind a forget waits at most, about. It was 25 ms
while SQLite's readers queued too; at 1,000,000 memories that made batches of ~100 memories and a thousand
commits, each paying its fixed cost (bench/RECORDED.md: 100,000 forgotten in 25 s instead of 41 s)."""
PAUSE_SECONDS = 0.002
"""A pause between batches: the write gate (SQLite) is a lock that is not fair, so without it the next batch
could take it again before a waiting writer wakes up."""


class ForgetRequest(BaseModel):
    """What to forget: at least one of `agent_id`, `session_id`, `tags`, `since`, `until`, `memory_ids`; the
    conditions given are ANDed."""

    model_config = ConfigDict(extra="forbid")
    agent_id: str | None = Field(
        None, description="Everything about this agent (alone: sessions, registration)."
    )
    session_id: str | None = Field(None, description="Everything in this session (alone: the session too).")
    tags: list[str] | str | None = Field(None, description="Memories with every one of these tags.")
    since: str | datetime | None = Field(None, description="Memories after this time (relative or ISO-8601).")
    until: str | datetime | None = Field(None, description="Memories before this time.")
    memory_ids: list[str] | None = Field(None, description=f"These memories (at most {MAX_FORGET_IDS}).")


class ForgetReceipt(BaseModel):
    """What a forget (or an organisation's deletion) removed."""

    org_id: str
    subject: dict[str, Any] = Field(description="The subject as given: the filter, or the organisation.")
    removed: dict[str, int] = Field(
        description="Counts by kind: memories, sessions, agents (and api_keys for an organisation)."
    )
    started_at: datetime
    finished_at: datetime
    batches: int = Field(description="Transactions the memories were deleted in.")


@dataclass(frozen=True, slots=True)
class Subject:
    """A validated `ForgetRequest`."""

    filter: MemoryFilter
    given: dict[str, Any]
    """The request's conditions as given (for the receipt and the audit trail)."""
    whole_agent: str | None
    """The agent, when everything about it goes (its sessions and registration too)."""
    whole_session: str | None
    """The session, when it goes whole."""


def subject_of(req: ForgetRequest, *, max_tags: int) -> Subject:
    """Validate `req` (a `ValidationError` names the field); refuse one that names nothing."""
    if not isinstance(req, ForgetRequest):
        raise ValidationError("request: expected a ForgetRequest", "request")
    ids = req.memory_ids
    if ids is not None and (isinstance(ids, str) or not 1 <= len(ids) <= MAX_FORGET_IDS):
        # An empty list must not turn into "no condition on ids", which would widen the subject.
        raise ValidationError(f"memory_ids: a list of 1 to {MAX_FORGET_IDS} ids", "memory_ids")
    since_us = parse_time(req.since, "since") if req.since not in (None, "") else None
    until_us = parse_time(req.until, "until") if req.until not in (None, "", "now") else None
    flt = MemoryFilter(
        agent_id=v.check_id(req.agent_id, "agent_id", required=False),
        session_id=v.check_id(req.session_id, "session_id", required=False),
        tags=v.split_tags(req.tags, limit=max_tags),
        since_us=since_us,
        until_us=until_us,
        ids=tuple(v.check_memory_id(m, f"memory_ids[{i}]") for i, m in enumerate(ids or ())),
    )
    narrowed = bool(flt.tags or flt.ids or since_us is not None or until_us is not None)
    if not (flt.agent_id or flt.session_id or narrowed):
        raise ValidationError(
            "filter: give at least one of agent_id, session_id, tags, since, until, memory_ids", "filter"
        )
    given = {
        k: (val.isoformat() if isinstance(val, datetime) else val)
        for k, val in req.model_dump(exclude_none=True).items()
    }
    return Subject(
        filter=flt,
        given=given,
        whole_agent=flt.agent_id if not (narrowed or flt.session_id) else None,
        whole_session=flt.session_id if not narrowed else None,
    )


def delete_in_batches(events: EventStore, org_id: str, flt: MemoryFilter) -> tuple[int, int]:
    """Delete every memory of `org_id` matching `flt` through `EventStore.delete_batch`, in batches sized to
    take about `BATCH_TARGET_SECONDS` each; return (memories deleted, batches)."""
    size = FIRST_BATCH
    total = batches = 0
    while True:
        started = time.perf_counter()
        deleted = events.delete_batch(org_id, flt, limit=size)
        elapsed = time.perf_counter() - started
        total += deleted
        batches += 1
        if deleted < size:
            return total, batches
        if elapsed < BATCH_TARGET_SECONDS / 2:
            size = min(size * 2, MAX_BATCH)
        elif elapsed > BATCH_TARGET_SECONDS:
            size = max(size // 2, MIN_BATCH)
        time.sleep(PAUSE_SECONDS)


__all__ = ["MAX_FORGET_IDS", "ForgetReceipt", "ForgetRequest", "Subject", "delete_in_batches", "subject_of"]
