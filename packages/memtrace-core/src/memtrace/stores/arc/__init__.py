"""The Arc event store: memories in an Arc (Basekick Labs) time-series database, behind a durable local spool.

    from memtrace import ArcConfig, Memtrace

    mt = Memtrace.open("./data", arc=ArcConfig(url="http://localhost:8000", token="...", database="memory"))

Modules: `config` (ArcConfig), `client` (Arc's HTTP API), `sql` (the one escaping module) and `queries` (every
statement sent), `wire` (msgpack writes, RFC3339 reads), `terms`/`ranking` (keyword search without an
index), `spool` and `flusher` (durability), `store` (the EventStore). See docs/arc.md.

Only `ArcConfig` is imported eagerly (``import memtrace`` exports it); the store and its HTTP client load on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ArcConfig

if TYPE_CHECKING:
    from .client import ArcError
    from .store import SPOOL_FILENAME, ArcEventStore


def __getattr__(name: str) -> Any:
    if name in ("ArcEventStore", "SPOOL_FILENAME"):
        from . import store

        return getattr(store, name)
    if name == "ArcError":
        from .client import ArcError

        return ArcError
    raise AttributeError(name)


__all__ = ["SPOOL_FILENAME", "ArcConfig", "ArcError", "ArcEventStore"]
