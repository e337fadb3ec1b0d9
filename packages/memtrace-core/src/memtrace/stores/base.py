"""What a store must do. Stores are dumb and scoped: every method takes `org_id`; there is no unscoped query.

The engine owns the rules (validation, ids, time, dedup keys, context); a store owns durability and querying.
`tests/conformance/` is the executable definition of these protocols: a new store is done when it passes.

Several server replicas may share one store (PostgreSQL), so every metadata write that two replicas could race
is one atomic step: create-if-absent returns the row that is stored (whoever created it), and an update returns
the row as updated, never a separate read that another writer could slip in front of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from ..records import MemoryFilter, MemoryRecord

Order = Literal["asc", "desc"]


class EventStore(Protocol):
    """Memories of every organisation, kept apart by `org_id`."""

    def append(self, org_id: str, records: list[MemoryRecord], *, dedup_since_us: int | None) -> list[int]:
        """Durably store `records`, all or nothing, and return the indexes skipped as duplicates.

        When `dedup_since_us` is set, a record whose `dedup_key` matches a stored memory of the org with
        ``time_us > dedup_since_us``, or an earlier record of the same batch, is skipped. The check and the write
        are one atomic step: no concurrent writer can slip a duplicate in between.
        """
        ...

    def import_records(
        self, org_id: str, records: list[MemoryRecord], *, dedup_horizon_us: int | None = None
    ) -> tuple[int, int]:
        """Store `records` as they are (ids, times, dedup keys), all or nothing, skipping those whose id the org
        already holds (and repeats of an id within `records`); return (inserted, skipped).

        For import and store-to-store copies: no dedup window applies and nothing is re-derived, so running it
        twice on the same records inserts them once. Checking ids and inserting are one atomic step against
        other importers of the org.

        `dedup_horizon_us`: where the dedup window starts now (None: no window). A memory at or before it can
        never be a later write's duplicate (the window only moves forward), so a store may leave it out of what
        its dedup lookups read; a store whose lookups cost nothing per stored memory ignores it.
        """
        ...

    def query(
        self,
        org_id: str,
        flt: MemoryFilter,
        *,
        order: Order,
        limit: int,
        offset: int,
        brief: bool = False,
    ) -> list[MemoryRecord]:
        """Memories matching `flt`, ordered by time (ties in insertion order).

        `brief`: the caller reads only what session context renders (id, org, time, agent, session, types,
        content, metadata, importance), so the store may leave the rest unread: tags empty, and dedup key,
        parent, expiry and the fact fields None. A store that gains nothing from it may ignore it."""
        ...

    def search(
        self, org_id: str, flt: MemoryFilter, text: str, *, limit: int, offset: int
    ) -> list[MemoryRecord]:
        """Memories matching `flt` and the keywords of `text`, best first, each with `score` set."""
        ...

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None: ...

    def delete(self, org_id: str, flt: MemoryFilter) -> int:
        """Delete what matches `flt` (the engine never passes an empty filter by accident); return the count."""
        ...

    def delete_batch(self, org_id: str, flt: MemoryFilter, *, limit: int) -> int:
        """Delete at most `limit` of the memories matching `flt`, all or nothing, in one short step that holds
        the store (and its keyword statistics) no longer than that takes; return how many went. A large delete
        (forget, retention) repeats it until it returns less than `limit`, so readers and writers get the store
        between steps, and a crash leaves each step done or not done: running the delete again finishes it.
        A store whose deletes cost the same whatever their size (Arc) may delete everything at once."""
        ...

    def count(self, org_id: str, flt: MemoryFilter) -> int: ...

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> dict[str, int]: ...

    def stats(self) -> StoreStats:
        """Cheap figures for the server's gauges, read at scrape time (no scan of every memory)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StoreStats:
    """What an event store can say about its size without a scan."""

    memories: int | None
    """Memories held, all organisations; None when the store cannot tell cheaply (Arc: only Arc knows)."""
    bytes: int
    """Bytes the store occupies on this machine's disk (database file, or the write spool)."""


@dataclass(frozen=True)
class OrgRow:
    id: str
    name: str
    created_us: int


@dataclass(frozen=True)
class AgentRow:
    id: str
    org_id: str
    name: str
    description: str | None
    config_json: str | None
    created_us: int
    last_active_us: int | None


@dataclass(frozen=True)
class SessionRow:
    id: str
    org_id: str
    agent_id: str
    status: str
    metadata_json: str | None
    created_us: int
    updated_us: int
    closed_us: int | None


SessionOrder = Literal["created", "updated"]
"""How a page of sessions is ordered, newest first: by creation (``created_us, id``) or by last update
(``updated_us``, then by creation)."""


@dataclass(frozen=True)
class SessionPage:
    """One page of an organisation's sessions and how many sessions the same filter matches in all."""

    rows: list[SessionRow]
    total: int


@dataclass(frozen=True)
class AgentSessionCounts:
    """How many sessions one agent has, how many of them are ``active``, and when its newest one was created."""

    agent_id: str
    sessions: int
    active: int
    newest_created_us: int


@dataclass(frozen=True)
class ApiKeyRow:
    id: int
    org_id: str
    name: str
    key_hash: str
    key_prefix: str
    permissions: str
    created_us: int
    expires_us: int | None
    enabled: bool


@dataclass(frozen=True)
class ArcInstanceRow:
    """An organisation's own Arc instance. The tokens are stored encrypted (the server encrypts them under its
    master key, AES-256-GCM); the store keeps the bytes and never sees a token."""

    id: str
    org_id: str
    url: str
    database: str
    measurement: str
    token_cipher: bytes
    token_nonce: bytes
    admin_cipher: bytes | None
    admin_nonce: bytes | None
    created_us: int
    updated_us: int


@dataclass(frozen=True)
class AuditRow:
    """One entry of the audit trail (`memtrace.audit`): who did what destructive or privileged thing, when.

    `key_id` is the API key's id, never the key; None when no key was involved (the CLI, an embedded client, a
    background job), and `actor` says which of those it was. `filter_json` and `counts_json` are compact JSON
    objects (the subject acted on, and what it changed by kind) or None."""

    id: int
    """Assigned by the store (0 before it is stored); increasing in insertion order, the paging cursor."""
    time_us: int
    org_id: str
    key_id: int | None
    actor: str
    action: str
    filter_json: str | None
    counts_json: str | None


@dataclass(frozen=True)
class RetentionRow:
    """One rule of an organisation's retention policy (`memtrace.retention`)."""

    org_id: str
    memory_type: str
    """A memory type, or ``"*"``: every type without a row of its own."""
    max_age_us: int | None
    """Memories older than this (by their time) are deleted; None keeps them forever."""
    updated_us: int


class MetadataStore(Protocol):
    """Organisations, agents, sessions, API keys, the organisations' Arc instances, the audit trail and retention
    policies."""

    # organisations
    def create_org(self, org_id: str, name: str, now_us: int) -> OrgRow:
        """A new organisation; `ConflictError` if the id is taken."""
        ...

    def ensure_org(self, org_id: str, name: str, now_us: int) -> OrgRow:
        """The organisation, created if absent (atomically: concurrent callers all get the one stored row)."""
        ...

    def get_org(self, org_id: str) -> OrgRow | None: ...
    def list_orgs(self) -> list[OrgRow]: ...
    def delete_org(self, org_id: str) -> bool:
        """Delete the organisation with its agents, sessions, API keys, Arc instance and retention policy (not its
        memories: those are the event store's). True if it existed."""
        ...

    # agents
    def create_agent(self, row: AgentRow) -> AgentRow: ...
    def get_agent(self, org_id: str, id_or_name: str) -> AgentRow | None: ...
    def list_agents(self, org_id: str) -> list[AgentRow]: ...
    def delete_agent(self, org_id: str, agent_id: str) -> bool: ...

    # sessions
    def create_session(self, row: SessionRow, *, exist_ok: bool = False) -> SessionRow:
        """Store a new session; if its id is taken in the org: `ConflictError`, or with `exist_ok` the stored
        row (atomically, whoever created it)."""
        ...

    def get_session(self, org_id: str, session_id: str) -> SessionRow | None: ...
    def list_sessions(self, org_id: str, agent_id: str | None) -> list[SessionRow]: ...
    def update_session(
        self,
        org_id: str,
        session_id: str,
        *,
        status: str | None,
        metadata_json: str | None,
        replace_metadata: bool,
        now_us: int,
    ) -> SessionRow | None:
        """Set `status` (``closed`` also sets `closed_us`) and/or replace the metadata; the updated row, or None
        if there is no such session."""
        ...

    def count_sessions(self, org_id: str, agent_id: str, *, status: str | None = None) -> int: ...
    def page_sessions(
        self,
        org_id: str,
        *,
        agent_id: str | None,
        status: str | None,
        order: SessionOrder,
        limit: int,
        offset: int,
    ) -> SessionPage:
        """The org's sessions (of one agent and/or with one status, when given) newest first by `order`, ties
        broken by creation then id, both descending (``created`` is `list_sessions`' order); `limit` of them
        after skipping `offset`, with the count of all that match. Builds only the page's rows."""
        ...

    def count_sessions_by_agent(self, org_id: str) -> list[AgentSessionCounts]:
        """Every agent with sessions in the org, with its session counts, in one grouped query (one row per
        agent, however many sessions); ordered by each agent's newest session, newest first, ties by agent id
        descending."""
        ...

    def delete_sessions(self, org_id: str, *, agent_id: str | None, session_id: str | None) -> int:
        """Delete the org's sessions of `agent_id` and/or with id `session_id` (both given: that session if it is
        the agent's); return how many. At least one must be given."""
        ...

    # API keys
    def create_api_key(
        self,
        org_id: str,
        name: str,
        key_hash: str,
        key_prefix: str,
        permissions: str,
        now_us: int,
        expires_us: int | None = None,
    ) -> ApiKeyRow:
        """A new enabled key; `ConflictError` if the org already has a key with this name."""
        ...

    def find_api_keys(self, key_prefix: str) -> list[ApiKeyRow]:
        """The enabled keys with this lookup prefix (expired ones included: the caller checks the time)."""
        ...

    def get_api_key(self, key_id: int) -> ApiKeyRow | None:
        """A key by id, enabled or revoked."""
        ...

    def list_api_keys(self, org_id: str | None = None) -> list[ApiKeyRow]:
        """Keys (enabled and revoked) of one organisation, or of all; oldest first."""
        ...

    def revoke_api_key(self, key_id: int) -> bool:
        """Disable a key; True if it was enabled."""
        ...

    def keys_version(self) -> int:
        """A number that changes whenever a key is created or revoked or an organisation deleted. One cheap
        read: a server's auth cache polls it and re-reads the key table only when it changed."""
        ...

    # organisations' Arc instances
    def put_arc_instance(self, row: ArcInstanceRow) -> ArcInstanceRow:
        """Set the org's Arc instance, replacing any (atomically). A replacement keeps the stored `id` and
        `created_us`; the stored row is returned."""
        ...

    def get_arc_instance(self, org_id: str) -> ArcInstanceRow | None: ...
    def list_arc_instances(self) -> list[ArcInstanceRow]:
        """Every organisation's Arc instance, by org id."""
        ...

    def delete_arc_instance(self, org_id: str) -> bool: ...
    def arc_instances_version(self) -> int:
        """A number that changes whenever an Arc instance is put or deleted (cheap to poll)."""
        ...

    # the audit trail
    def append_audit(self, row: AuditRow) -> AuditRow:
        """Store an entry (its `id` is ignored) and return it with the id the store gave it."""
        ...

    def list_audit(
        self,
        *,
        org_id: str | None,
        action: str | None,
        since_us: int | None,
        until_us: int | None,
        before_id: int | None,
        limit: int,
    ) -> list[AuditRow]:
        """At most `limit` entries, newest (highest id) first, of one organisation (None: all) and one action
        (None: all), with ``since_us <= time_us < until_us`` where given, and ``id < before_id`` (the next page
        after an entry) where given."""
        ...

    def prune_audit(self, before_us: int, *, limit: int) -> int:
        """Delete at most `limit` of the oldest entries with ``time_us < before_us`` (one short transaction);
        return how many went. Callers loop until it returns less than `limit`."""

    # retention policies
    def put_retention(self, row: RetentionRow) -> RetentionRow:
        """Set the rule for (`row.org_id`, `row.memory_type`), replacing any (atomically); returns it."""
        ...

    def list_retention(self, org_id: str | None = None) -> list[RetentionRow]:
        """The rules of one organisation, or of all (for the sweeper), by org id then memory type."""
        ...

    def delete_retention(self, org_id: str, memory_type: str | None = None) -> int:
        """Remove the org's rule for `memory_type`, or all its rules when None; returns how many went."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot answer a trivial query (readiness)."""
        ...

    def close(self) -> None: ...
