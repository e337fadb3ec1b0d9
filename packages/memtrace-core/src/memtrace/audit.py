"""The audit trail: a record of every destructive or privileged action, kept in the metadata store.

Each entry says when, in which organisation, by whom (the API key's id, never the key, or which tool acted without
a key), what (`AuditAction`), on what (the filter or subject, as JSON) and how much it changed (counts by kind).
It lives in the metadata store, so server replicas sharing a database write and read one trail, and it has its
own retention (`AuditTrail.prune`, run by the server's leader).

What is recorded: deletes (by id, by filter, forget), organisation deletion and creation, API key creation and
revocation, Arc instance changes, retention runs and imports. Reads are not: a busy server answers thousands of
reads a second, so auditing them would multiply the metadata store's write load many times over and bury the
destructive entries an operator looks for; who read what is the access log's job (``log.access``).

An entry is written after its action succeeded. If writing it fails (a full disk), the action is not undone and
the caller still hears success (nothing answers an error after writing), and the entry goes to the error log
instead, whole, so it is not lost without a trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from . import validation as v
from .errors import ValidationError
from .stores.base import AuditRow, MetadataStore
from .timeparse import from_us, parse_time

log = logging.getLogger("memtrace.audit")

DEFAULT_AUDIT_LIMIT = 100
MAX_AUDIT_LIMIT = 1000
PRUNE_BATCH = 1000
"""Entries deleted per transaction when pruning, so pruning never holds the metadata store for long."""


class AuditAction(StrEnum):
    """What an audit entry records."""

    MEMORY_DELETE = "memory.delete"
    """One memory deleted by id."""
    MEMORIES_DELETE = "memories.delete"
    """Memories deleted by filter."""
    FORGET = "subject.forget"
    """Everything about a subject (agent, session or filter) forgotten, with its receipt."""
    AGENT_DELETE = "agent.delete"
    ORG_CREATE = "org.create"
    ORG_DELETE = "org.delete"
    """An organisation deleted with everything in it."""
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"
    ARC_SET = "arc.set"
    """An organisation's Arc instance set or replaced."""
    ARC_REMOVE = "arc.remove"
    RETENTION_RUN = "retention.run"
    """A retention or expiry sweep deleted memories."""
    RETENTION_POLICY = "retention.policy"
    """An organisation's retention policy set or removed."""
    IMPORT = "import"
    """Memories, agents or sessions imported."""
    AUDIT_PRUNE = "audit.prune"
    """Entries older than the audit trail's own retention deleted."""


ActorKind = Literal["api", "mcp", "ui", "cli", "embedded", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: over the server an API key (`key_id`); otherwise the tool that acted without one."""

    via: ActorKind
    """``api``/``mcp``/``ui``: a request to the server with a key; ``cli``: the ``memtrace`` command on the
    store; ``embedded``: an in-process client (`Memtrace.open`); ``system``: a background job."""
    key_id: int | None = None


EMBEDDED = Actor("embedded")
CLI = Actor("cli")
SYSTEM = Actor("system")


class AuditEntry(BaseModel):
    """An audit entry as the API returns it."""

    id: int = Field(description="Increasing; pass it as `before` to read the page after this entry.")
    time: datetime
    org_id: str = Field(description="The organisation acted on.")
    key_id: int | None = Field(None, description="The id of the API key that acted (never the key).")
    actor: ActorKind = Field(description="How the action came: api, mcp, ui, cli, embedded or system.")
    action: str
    filter: dict[str, Any] | None = Field(None, description="The subject or filter acted on.")
    counts: dict[str, int] | None = Field(None, description="What changed, by kind.")


class AuditPage(BaseModel):
    """Audit entries, newest first."""

    entries: list[AuditEntry]
    count: int
    next_before: int | None = Field(
        None, description="Pass as `before` for the next (older) page; absent on the last page."
    )


def _compact(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(dict(value), separators=(",", ":"), sort_keys=True, default=str)


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        time=from_us(row.time_us),
        org_id=row.org_id,
        key_id=row.key_id,
        actor=row.actor,
        action=row.action,
        filter=json.loads(row.filter_json) if row.filter_json else None,
        counts=json.loads(row.counts_json) if row.counts_json else None,
    )


class AuditTrail:
    """Writes and reads the audit trail of one metadata store. Thread-safe (the store is)."""

    def __init__(self, metadata: MetadataStore, clock: Callable[[], int]) -> None:
        self.metadata = metadata
        self.clock = clock

    def record(
        self,
        org_id: str,
        action: AuditAction,
        *,
        actor: Actor,
        filter: Mapping[str, Any] | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> AuditEntry | None:
        """Record that `actor` did `action` in `org_id` on `filter`, changing `counts`. Call it after the action
        succeeded. Never raises: if the entry cannot be stored it is logged as an error (see the module)."""
        row = AuditRow(
            0,
            self.clock(),
            org_id,
            actor.key_id,
            actor.via,
            str(action),
            _compact(filter),
            _compact(counts),
        )
        try:
            return _entry(self.metadata.append_audit(row))
        except Exception:
            log.exception("audit entry not stored: %s", json.dumps(row.__dict__, default=str))
            return None

    def list(
        self,
        *,
        org_id: str | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> AuditPage:
        """Entries newest first, of one organisation (None: all) and/or one action, within ``[since, until)``
        (relative like ``7d`` or ISO-8601), older than entry `before` (the previous page's `next_before`)."""
        org = v.check_id(org_id, "org_id", required=False)
        if action is not None and action not in set(AuditAction):
            known = ", ".join(sorted(AuditAction))
            raise ValidationError(f"invalid action: {action!r} is not one of {known}", "action")
        since_us = parse_time(since, "since") if since not in (None, "") else None
        until_us = parse_time(until, "until") if until not in (None, "", "now") else None
        if before is not None and (isinstance(before, bool) or not isinstance(before, int) or before < 1):
            raise ValidationError("invalid before: an entry id (a positive integer)", "before")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValidationError("invalid limit: must be a positive integer", "limit")
        if limit is not None and not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise ValidationError(f"invalid limit: from 1 to {MAX_AUDIT_LIMIT}", "limit")
        size = limit or DEFAULT_AUDIT_LIMIT
        rows = self.metadata.list_audit(
            org_id=org,
            action=action,
            since_us=since_us,
            until_us=until_us,
            before_id=before,
            limit=size + 1,
        )
        entries = [_entry(r) for r in rows[:size]]
        more = len(rows) > size
        return AuditPage(entries=entries, count=len(entries), next_before=entries[-1].id if more else None)

    def prune(self, older_than_us: int) -> int:
        """Delete the entries older than `older_than_us`, in short batches; record the pruning (when anything
        went) and return how many went."""
        total = 0
        while True:
            removed = self.metadata.prune_audit(older_than_us, limit=PRUNE_BATCH)
            total += removed
            if removed < PRUNE_BATCH:
                break
        if total:
            self.record(
                "*",
                AuditAction.AUDIT_PRUNE,
                actor=SYSTEM,
                filter={"before": from_us(older_than_us).isoformat()},
                counts={"entries": total},
            )
        return total


__all__ = [
    "CLI",
    "EMBEDDED",
    "SYSTEM",
    "Actor",
    "AuditAction",
    "AuditEntry",
    "AuditPage",
    "AuditTrail",
]
