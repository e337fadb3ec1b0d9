"""What a store must do. Stores are dumb and scoped: every method takes `org_id`; there is no unscoped query.

The engine owns the rules (validation, ids, time, dedup keys, context); a store owns durability and querying.
`tests/conformance/` is the executable definition of these protocols: a new store is done when it passes.
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

    def query(
        self, org_id: str, flt: MemoryFilter, *, order: Order, limit: int, offset: int
    ) -> list[MemoryRecord]:
        """Memories matching `flt`, ordered by time (ties in insertion order)."""
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

    def count(self, org_id: str, flt: MemoryFilter) -> int: ...

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> dict[str, int]: ...

    def close(self) -> None: ...


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


class MetadataStore(Protocol):
    """Organisations, agents, sessions and API keys."""

    # organisations
    def create_org(self, org_id: str, name: str, now_us: int) -> OrgRow: ...
    def get_org(self, org_id: str) -> OrgRow | None: ...
    def list_orgs(self) -> list[OrgRow]: ...
    def delete_org(self, org_id: str) -> bool: ...

    # agents
    def create_agent(self, row: AgentRow) -> AgentRow: ...
    def get_agent(self, org_id: str, id_or_name: str) -> AgentRow | None: ...
    def list_agents(self, org_id: str) -> list[AgentRow]: ...
    def delete_agent(self, org_id: str, agent_id: str) -> bool: ...

    # sessions
    def create_session(self, row: SessionRow) -> SessionRow: ...
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
    ) -> SessionRow | None: ...
    def count_sessions(self, org_id: str, agent_id: str, *, status: str | None = None) -> int: ...

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
    ) -> ApiKeyRow: ...
    def find_api_keys(self, key_prefix: str) -> list[ApiKeyRow]: ...
    def list_api_keys(self, org_id: str | None = None) -> list[ApiKeyRow]: ...
    def revoke_api_key(self, key_id: int) -> bool: ...

    def close(self) -> None: ...
