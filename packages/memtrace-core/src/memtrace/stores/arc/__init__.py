"""The Arc event store: memories in an Arc (Basekick Labs) time-series database, behind a durable local spool.

    from memtrace import ArcConfig, Memtrace

    mt = Memtrace.open("./data", arc=ArcConfig(url="http://localhost:8000", token="...", database="memory"))

Modules: `config` (ArcConfig), `client` (Arc's HTTP API), `sql` (the one escaping module) and `queries` (every
statement sent), `wire` (msgpack writes, RFC3339 reads), `terms`/`porter`/`ranking` (keyword search without an
index), `spool` and `flusher` (durability), `store` (the EventStore). See docs/arc.md.
"""

from .client import ArcError
from .config import ArcConfig
from .store import SPOOL_FILENAME, ArcEventStore

__all__ = ["SPOOL_FILENAME", "ArcConfig", "ArcError", "ArcEventStore"]
