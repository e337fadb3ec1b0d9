"""Wire models, compatible with memtrace-sdk 0.2.0 (spec §9.4), plus memtrace's extensions.

Extensions are additive and optional, so payloads written for the original SDK still validate:
`Memory.id` and `Memory.score`, `AddMemoryRequest.time`, `SearchQuery.query`/`offset`,
`CreateSessionRequest.id`, `ContextOptions.max_content_chars`, `SessionContext.omitted`,
`AddMemoryRequest.ttl`/`expires_at` and `Memory.expires_at`, and the facts fields
(`AddMemoryRequest.key`/`supersedes`/`valid_from`, `include_superseded`/`as_of` on lists and searches).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class MemoryType(StrEnum):
    """The four kinds of memory."""

    EPISODIC = "episodic"
    """Something that happened: an action, an observation, a tool result."""
    SESSION = "session"
    """Conversation turns and other session-scoped working memory."""
    DECISION = "decision"
    """A choice the agent made, with its reasoning in ``metadata["reasoning"]``."""
    ENTITY = "entity"
    """A fact about a person, thing or place."""


MemoryTypeName = Literal["episodic", "session", "decision", "entity"]
Order = Literal["asc", "desc"]


class _Model(BaseModel):
    # Unknown fields are ignored, like the SDK's models: a newer server may add fields.
    model_config = ConfigDict(extra="ignore")


class Memory(_Model):
    """A stored memory."""

    id: str = Field(description="Stable, time-ordered id, prefix `mem_`.")
    time: datetime
    org_id: str
    agent_id: str
    session_id: str | None = None
    memory_type: MemoryTypeName
    event_type: str
    content: str
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    dedup_key: str | None = None
    importance: float | None = None
    parent_id: str | None = None
    score: float | None = Field(default=None, description="Relevance, set only on ranked search results.")
    expires_at: datetime | None = Field(default=None, description="When it expires; absent for never.")
    key: str | None = Field(default=None, description="The fact this memory is a version of (keyed facts).")
    valid_from: datetime | None = Field(
        default=None,
        description="When this version became valid: its `time`, or an earlier time for a backfill.",
    )
    valid_until: datetime | None = Field(
        default=None, description="When a later version replaced it; absent: current."
    )
    superseded_by: str | None = Field(
        default=None, description="The id of the memory that replaced this one."
    )


class AddMemoryRequest(_Model):
    """A memory to write. ``memory_type`` defaults to episodic and ``event_type`` to general."""

    agent_id: str
    content: str
    session_id: str | None = None
    memory_type: MemoryTypeName = "episodic"
    event_type: str = "general"
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    dedup_key: str | None = None
    importance: float | None = Field(default=None, ge=0, le=1)
    parent_id: str | None = None
    time: datetime | None = Field(default=None, description="When it happened; default now. For backfills.")
    key: str | None = Field(
        default=None,
        description="(extension) The fact this memory is a version of, e.g. `user:ada/city`: it supersedes the "
        "key's current memory. 1-256 characters of A-Z a-z 0-9 _ . : / @ -, starting and ending with a letter "
        "or digit.",
    )
    supersedes: list[str] | None = Field(
        default=None, description="(extension) Ids of current memories this one replaces (at most 100)."
    )
    valid_from: datetime | None = Field(
        default=None,
        description="(extension) When the fact became true, if earlier than `time` (a backfill); default `time`.",
    )
    ttl: str | None = Field(
        default=None,
        description="Expire this long after it is written: `30m`, `12h`, `7d`, `4w` (1 second to 10 years). "
        "An expired memory is never returned and is deleted soon after.",
    )
    expires_at: datetime | None = Field(
        default=None, description="Expire at this time (in the future, at most 9999-12-31). Not with `ttl`."
    )


class ListOptions(_Model):
    """Filters for listing memories. ``tags`` is comma-separated (or a list); each tag must match whole."""

    agent_id: str | None = None
    session_id: str | None = None
    memory_type: str | None = None
    event_type: str | None = None
    tags: str | list[str] | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None
    offset: int | None = None
    order: Order | None = None
    include_superseded: bool | None = Field(
        default=None, description="(extension) Also return memories a later version replaced."
    )
    as_of: str | None = Field(
        default=None, description="(extension) What was current at this time (relative like 2h, or ISO-8601)."
    )


class MemoryList(_Model):
    memories: list[Memory]
    count: int
    has_more: bool


class SearchQuery(_Model):
    """Structured search. With ``query`` set, results are ranked by keyword relevance (BM25),
    then recency and importance; without it they are ordered by time."""

    agent_id: str | None = None
    session_id: str | None = None
    memory_types: list[str] | None = None
    event_types: list[str] | None = None
    tags: list[str] | None = None
    content_contains: str | None = None
    since: str | None = None
    until: str | None = None
    min_importance: float | None = None
    limit: int | None = None
    order: Order | None = None
    query: str | None = None
    offset: int | None = None
    include_superseded: bool | None = Field(
        default=None, description="(extension) Also return memories a later version replaced."
    )
    as_of: str | None = Field(
        default=None, description="(extension) What was current at this time (relative like 2h, or ISO-8601)."
    )


class SearchResult(_Model):
    results: list[Memory]
    count: int
    query_time_ms: int


class Agent(_Model):
    id: str
    org_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] | None = None
    created_at: datetime
    last_active_at: datetime | None = None


class RegisterAgentRequest(_Model):
    name: str
    description: str | None = None
    config: dict[str, Any] | None = None


class AgentList(_Model):
    agents: list[Agent]
    count: int


class AgentStats(_Model):
    agent_id: str
    memory_count: int
    memories_24h: int
    errors_24h: int
    session_count: int
    active_sessions: int
    last_active_at: datetime | None = None
    memory_types: dict[str, int]


class Session(_Model):
    id: str
    org_id: str
    agent_id: str
    status: str
    metadata: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None


class SessionList(_Model):
    sessions: list[Session]
    count: int


class CreateSessionRequest(_Model):
    """A session to open. ``id`` (extension) picks the id instead of a generated ``sess_…`` one;
    a taken id raises `ConflictError`."""

    agent_id: str
    metadata: dict[str, Any] | None = None
    id: str | None = None


class ContextOptions(_Model):
    """Options for `get_session_context`.

    ``max_tokens`` is a budget in estimated tokens (``ceil(len(text) / 4)``); ``since`` is relative
    (``30m``, ``2h``, ``7d``) or ISO-8601, default 24h; ``max_content_chars`` cuts each memory's content.
    """

    max_tokens: int | None = None
    include_types: list[str] | None = None
    since: str | None = None
    max_content_chars: int | None = None


class SessionContext(_Model):
    session_id: str
    context: str
    memory_count: int
    omitted: int = Field(default=0, description="Memories left out to fit max_tokens.")


class BatchResult(list[Memory]):
    """The memories a batch wrote, in request order. A list, so SDK-style code keeps working;
    ``skipped`` counts items dropped as duplicates and ``skipped_indexes`` says which."""

    def __init__(
        self, memories: list[Memory] | None = None, skipped: int = 0, skipped_indexes: list[int] | None = None
    ) -> None:
        super().__init__(memories or [])
        self.skipped = skipped
        self.skipped_indexes: list[int] = skipped_indexes if skipped_indexes is not None else []
        """Positions in the request of the items skipped as duplicates (empty when the server does not say)."""

    # The 0.2.0 wire API names the number of memories added `count`; that shadows `list.count` on purpose.
    @property
    def count(self) -> int:  # type: ignore[override]
        return len(self)


__all__ = [
    "AddMemoryRequest",
    "Agent",
    "AgentList",
    "AgentStats",
    "BatchResult",
    "ContextOptions",
    "CreateSessionRequest",
    "ListOptions",
    "Memory",
    "MemoryList",
    "MemoryType",
    "MemoryTypeName",
    "RegisterAgentRequest",
    "SearchQuery",
    "SearchResult",
    "Session",
    "SessionContext",
    "SessionList",
]
