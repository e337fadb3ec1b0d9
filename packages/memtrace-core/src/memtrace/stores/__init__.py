"""Storage: the protocols every store implements, the stores themselves, and `open_stores`, which picks them.

`open_stores(url_or_path)` returns a `StoreBundle` (an `EventStore` and a `MetadataStore`); the engine runs on it.
"""

from .base import (
    AgentRow,
    AgentSessionCounts,
    ApiKeyRow,
    ArcInstanceRow,
    AuditRow,
    EventStore,
    MetadataStore,
    OrgRow,
    RetentionRow,
    SessionOrder,
    SessionPage,
    SessionRow,
    StoreStats,
)
from .bundle import StoreBundle
from .composition import open_stores

__all__ = [
    "AgentRow",
    "AgentSessionCounts",
    "ApiKeyRow",
    "ArcInstanceRow",
    "AuditRow",
    "EventStore",
    "MetadataStore",
    "OrgRow",
    "RetentionRow",
    "SessionOrder",
    "SessionPage",
    "SessionRow",
    "StoreBundle",
    "StoreStats",
    "open_stores",
]
