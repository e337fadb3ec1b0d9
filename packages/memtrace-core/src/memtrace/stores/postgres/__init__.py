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

from ...errors import MemtraceError
from .database import PoolOptions, PostgresDatabase, PostgresUnavailableError, connect
from .events import PostgresEventStore
from .metadata import PostgresMetadataStore
from .schema import SCHEMA_VERSION, SchemaTooNewError, apply_migrations, schema_version


def migrate(url: str, options: PoolOptions | None = None) -> list[int]:
    """Apply every pending migration to the database at `url` and return the numbers applied (empty if it was
    up to date). Safe to run from several processes at once; refuses a database newer than this code."""
    conn = connect(url, options)
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


__all__ = [
    "SCHEMA_VERSION",
    "PoolOptions",
    "PostgresDatabase",
    "PostgresEventStore",
    "PostgresMetadataStore",
    "PostgresUnavailableError",
    "SchemaTooNewError",
    "migrate",
    "open_postgres_database",
]
