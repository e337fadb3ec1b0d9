"""Storage: the protocols every store implements, and the stores themselves."""

from .base import AgentRow, ApiKeyRow, EventStore, MetadataStore, OrgRow, SessionRow

__all__ = ["AgentRow", "ApiKeyRow", "EventStore", "MetadataStore", "OrgRow", "SessionRow"]
