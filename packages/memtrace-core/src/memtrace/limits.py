"""Bounds on what one request may ask of memtrace, with their defaults in one place.

Every list, size and depth a caller controls has a bound here; going over it is a `ValidationError` naming the
field (a 400 on the server), never a store error. The engine takes them through `EngineConfig.limits`; the server
reads them from its ``[limits]`` configuration section, whose defaults are these.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_FILTER_TAGS = 64
"""Tags in one list, search or delete filter (each is a condition; SQLite refuses ~1000 of them)."""
MAX_FILTER_TYPES = 64
"""Entries in one search's ``event_types`` or ``memory_types``."""
MAX_MEMORY_TAGS = 256
"""Tags on one memory."""
MAX_METADATA_BYTES = 1024 * 1024
"""A memory's (or session's, or agent's config) metadata as compact UTF-8 JSON, in bytes. As large as the content
limit's order (1,000,000 characters) because the framework adapters keep a whole message in metadata."""
MAX_METADATA_DEPTH = 32
"""Nesting of metadata objects and arrays; the top-level object is depth 1."""
QUERY_TIME_BUDGET_SECONDS = 10.0
"""Wall time one store query may take before it is stopped with `QueryTooExpensiveError` (SQLite store)."""


@dataclass(frozen=True)
class InputLimits:
    """The bounds the engine enforces; see the module constants for what each means."""

    max_filter_tags: int = MAX_FILTER_TAGS
    max_filter_types: int = MAX_FILTER_TYPES
    max_memory_tags: int = MAX_MEMORY_TAGS
    max_metadata_bytes: int = MAX_METADATA_BYTES
    max_metadata_depth: int = MAX_METADATA_DEPTH


__all__ = [
    "MAX_FILTER_TAGS",
    "MAX_FILTER_TYPES",
    "MAX_MEMORY_TAGS",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "QUERY_TIME_BUDGET_SECONDS",
    "InputLimits",
]
