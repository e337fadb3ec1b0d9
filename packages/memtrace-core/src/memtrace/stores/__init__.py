"""Storage: the protocols every store implements, the stores themselves, and `open_stores`, which picks them.

`open_stores(url_or_path)` returns a `StoreBundle` (an `EventStore` and a `MetadataStore`); the engine runs on it.
"""

from .base import (
    AgentRow,
    ApiKeyRow,
    ArcInstanceRow,
    AuditRow,
    EventStore,
    MetadataStore,
    OrgRow,
    RetentionRow,
    SessionRow,
    StoreStats,
)
from .bundle import StoreBundle
from .composition import open_stores

__all__ = [
    "AgentRow",
    "ApiKeyRow",
    "ArcInstanceRow",
    "AuditRow",
    "EventStore",
    "MetadataStore",
    "OrgRow",
    "RetentionRow",
    "SessionRow",
    "StoreBundle",
    "StoreStats",
    "open_stores",
]
