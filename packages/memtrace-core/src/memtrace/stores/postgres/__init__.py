"""The PostgreSQL store: memories and metadata in one shared database, for several processes or server
replicas at once. Install with ``pip install 'memtrace-core[postgres]'``; open with a ``postgresql://`` URL.

Design (schema, ranked search, dedup, migrations) in the module docstrings and docs/postgres.md.
"""

from __future__ import annotations

try:
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the PostgreSQL store needs psycopg 3 and psycopg_pool: pip install 'memtrace-core[postgres]'"
    ) from exc

from dataclasses import fields
from typing import Any

from ...errors import MemtraceError, ValidationError
from ..bundle import StoreBundle
from .database import PoolOptions, PostgresDatabase, PostgresUnavailableError, connect
from .events import PostgresEventStore
from .metadata import PostgresMetadataStore
from .schema import SCHEMA_VERSION, SchemaTooNewError, apply_migrations, schema_version


def migrate(url: str, options: PoolOptions | None = None) -> list[int]:
    """Apply every pending migration to the database at `url` and return the numbers applied (empty if it was
    up to date). Safe to run from several processes at once; refuses a database newer than this code."""
    conn = connect(libpq_url(url), options)
    try:
        return apply_migrations(conn)
    finally:
        conn.close()


def open_postgres_database(
    url: str, options: PoolOptions | None = None, *, migrate_schema: bool = True
) -> PostgresDatabase:
    """A migrated database's connection pool (migrations applied first unless `migrate_schema` is False, in
    which case the schema must already be current)."""
    if migrate_schema:
        migrate(url, options)
    else:
        conn = connect(url, options)
        try:
            version = schema_version(conn)
        finally:
            conn.close()
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"the PostgreSQL schema is at version {version}, newer than this memtrace knows ({SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            raise MemtraceError(
                f"the PostgreSQL schema is at version {version}, this memtrace needs {SCHEMA_VERSION}: "
                "run `memtrace migrate` first"
            )
    return PostgresDatabase(url, options)


_POOL_OPTIONS = frozenset(f.name for f in fields(PoolOptions))


def libpq_url(url: str) -> str:
    """`url` as libpq takes it: ``postgresql+psycopg://`` (SQLAlchemy style) becomes ``postgresql://``."""
    scheme, rest = url.split("://", 1)
    return scheme.split("+", 1)[0] + "://" + rest


def open_postgres_stores(url: str, *, setting: str = "url", **options: Any) -> StoreBundle:
    """The event and metadata stores in the PostgreSQL database at `url`, sharing one connection pool, with the
    schema migrated first (`migrate`).

    Options: the `PoolOptions` fields (``min_size``, ``max_size``, ``connect_timeout``, ``checkout_timeout``,
    ``max_idle``, ``keepalives_idle``), ``rank_limit`` (candidates one ranked search scores per tier), and
    ``migrate_schema=False`` to refuse a database that is not already at this code's schema (when migrations are
    run separately with `migrate`, e.g. by ``memtrace migrate``).

    A server that cannot be reached raises `PostgresUnavailableError` (a 503 with Retry-After on the server); a
    database newer than this code, `SchemaTooNewError`."""
    from .events import PostgresEventStore
    from .metadata import PostgresMetadataStore

    rank_limit = options.pop("rank_limit", 20_000)
    migrate_schema = options.pop("migrate_schema", True)
    unknown = sorted(set(options) - _POOL_OPTIONS)
    if unknown:
        raise ValidationError(
            f"{setting}: unknown PostgreSQL store option(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_POOL_OPTIONS | {'rank_limit', 'migrate_schema'}))})",
            setting,
        )
    url = libpq_url(url)
    db = open_postgres_database(url, PoolOptions(**options), migrate_schema=migrate_schema)
    return StoreBundle(
        PostgresEventStore(db, rank_limit=rank_limit),
        PostgresMetadataStore(db),
        description=f"PostgreSQL {db.description}",
        on_close=[db.close],
    )


__all__ = [
    "SCHEMA_VERSION",
    "PoolOptions",
    "PostgresDatabase",
    "PostgresEventStore",
    "PostgresMetadataStore",
    "PostgresUnavailableError",
    "SchemaTooNewError",
    "libpq_url",
    "migrate",
    "open_postgres_database",
    "open_postgres_stores",
]
