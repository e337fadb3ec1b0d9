"""`open_stores`: the one place that turns "where the data is" into stores.

    open_stores("./data")                          # the embedded SQLite store in a directory (memtrace.db in it)
    open_stores("./memories.db")                   # ... or in that file
    open_stores("sqlite:///data")                  # the same as a URL: relative path (SQLAlchemy's convention)
    open_stores("sqlite:////var/lib/memtrace")     # ... absolute path (four slashes)
    open_stores("./data", arc=ArcConfig(...))      # memories in Arc; metadata and the write spool in ./data
    open_stores("postgresql://user@host/db")       # PostgreSQL (needs memtrace-core[postgres])

The engine, `Memtrace.open`, the server, the MCP server and the CLI all build their stores here, so a new kind of
store is one entry in `_SCHEMES`. A location that cannot be opened fails here, at start-up, with a
`ValidationError` naming the setting it came from (`setting`, e.g. ``store.url``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from ..errors import ValidationError
from ..limits import QUERY_TIME_BUDGET_SECONDS
from .bundle import StoreBundle

if TYPE_CHECKING:
    from .arc.config import ArcConfig
    from .arc.store import ArcEventStore

Synchronous = Literal["FULL", "NORMAL"]
Opener = Callable[..., StoreBundle]


def open_stores(url_or_path: str | Path, *, setting: str = "url", **options: Any) -> StoreBundle:
    """The stores at `url_or_path`: a directory or ``.db`` file, or a URL whose scheme says which store.

    `options` go to the store's opener. SQLite takes ``synchronous`` ("FULL"/"NORMAL"), ``busy_timeout_ms``,
    ``query_budget_s`` (the time one query may take, `memtrace.limits`),
    ``arc`` (an `ArcConfig`: memories in Arc) and ``separate_metadata_connection`` (metadata reads never queue
    behind a large write; the server uses it for key lookups). Other stores ignore SQLite's tuning
    (`SQLITE_TUNING`) and say what else they take.
    """
    if isinstance(url_or_path, Path):
        return open_sqlite_stores(url_or_path, setting=setting, **options)
    if not isinstance(url_or_path, str) or not url_or_path.strip():
        raise ValidationError(f"{setting}: give a directory, a .db file or a store URL", setting)
    if "://" not in url_or_path:
        return open_sqlite_stores(Path(url_or_path).expanduser(), setting=setting, **options)
    scheme = url_or_path.split("://", 1)[0].lower()
    opener = _SCHEMES.get(scheme.split("+", 1)[0])
    if opener is None:
        known = ", ".join(f"{s}://" for s in sorted(_SCHEMES))
        raise ValidationError(
            f"{setting}: unsupported store URL scheme '{scheme}://' (use a directory or one of {known})",
            setting,
        )
    return opener(url_or_path, setting=setting, **options)


def open_sqlite_stores(
    path: Path,
    *,
    setting: str = "url",
    synchronous: Synchronous = "FULL",
    busy_timeout_ms: int = 30_000,
    arc: ArcConfig | None = None,
    separate_metadata_connection: bool = False,
    query_budget_s: float = QUERY_TIME_BUDGET_SECONDS,
) -> StoreBundle:
    """The embedded store in directory `path` (``memtrace.db`` in it) or in the ``.db`` file `path`; with `arc`,
    memories in Arc behind a durable spool beside the metadata."""
    from .sqlite import SQLiteDatabase, SQLiteEventStore, SQLiteMetadataStore

    if synchronous not in ("FULL", "NORMAL"):
        raise ValidationError(f"synchronous: must be FULL or NORMAL, not {synchronous!r}", "synchronous")
    if path.exists() and not path.is_dir() and path.suffix != ".db":
        raise ValidationError(f"{setting}: {path} is a file, not a directory or a .db file", setting)

    def connect(write_gate: threading.Lock | None = None) -> SQLiteDatabase:
        return SQLiteDatabase(
            path,
            synchronous=synchronous,
            busy_timeout_ms=busy_timeout_ms,
            query_budget_s=query_budget_s,
            write_gate=write_gate,
        )

    db = connect()
    # One write gate for both: a metadata write queued behind a memory write (or a forget's batch) waits at the
    # gate, not holding the metadata connection its key lookups read through.
    metadata_db = connect(db.write_gate) if separate_metadata_connection else db
    metadata = SQLiteMetadataStore(metadata_db)
    if arc is None:
        return StoreBundle(SQLiteEventStore(db), metadata, description=f"embedded store in {db.path}")
    from .arc import SPOOL_FILENAME

    spool = path.with_name(SPOOL_FILENAME) if path.suffix == ".db" else path
    events = open_arc_event_store(arc, spool, synchronous=synchronous)
    return StoreBundle(
        events,
        metadata,
        description=f"Arc {arc.redacted()} (metadata and spool in {path})",
        on_close=[db.close],  # the event store does not use the SQLite database
    )


def open_arc_event_store(
    config: ArcConfig, spool: Path, *, synchronous: Synchronous = "FULL"
) -> ArcEventStore:
    """An Arc event store alone, its durable spool in directory (or ``.db`` file) `spool`: for a server that
    routes organisations to Arc instances of their own, beside one metadata store."""
    from .arc import ArcEventStore

    return ArcEventStore(config, spool, synchronous=synchronous)


def _open_sqlite_url(url: str, *, setting: str = "url", **options: Any) -> StoreBundle:
    parts = urlsplit(url)
    if parts.netloc or not parts.path or parts.query or parts.fragment:
        raise ValidationError(
            f"{setting}: a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path, not {url!r}",
            setting,
        )
    return open_sqlite_stores(Path(unquote(parts.path[1:])).expanduser(), setting=setting, **options)


SQLITE_TUNING = frozenset(
    {"synchronous", "busy_timeout_ms", "separate_metadata_connection", "query_budget_s"}
)
"""Options that tune the embedded store only; a caller may pass them whatever the URL (the server does)."""


def _open_postgres_url(url: str, *, setting: str = "url", **options: Any) -> StoreBundle:
    if options.get("arc") is not None:
        raise ValidationError(f"{setting}: Arc (arc=) goes with the embedded store's directory", setting)
    options = {k: v for k, v in options.items() if k not in SQLITE_TUNING and k != "arc"}
    try:
        from .postgres import open_postgres_stores
    except ImportError as exc:
        raise ValidationError(
            f"{setting}: a postgresql:// store needs the PostgreSQL driver: "
            f"install memtrace-core[postgres] ({exc})",
            setting,
        ) from None
    bundle: StoreBundle = open_postgres_stores(url, **options)
    return bundle


_SCHEMES: dict[str, Opener] = {
    "sqlite": _open_sqlite_url,
    "postgresql": _open_postgres_url,
    "postgres": _open_postgres_url,
}
"""Store URL schemes and their openers (a ``scheme+driver://`` URL is looked up by ``scheme``)."""


__all__ = ["SQLITE_TUNING", "open_arc_event_store", "open_sqlite_stores", "open_stores"]
