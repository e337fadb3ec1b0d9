"""The embedded store: one SQLite file (WAL) holding memories, their FTS5 index, and metadata."""

from .database import SQLiteDatabase
from .events import SQLiteEventStore
from .metadata import SQLiteMetadataStore

__all__ = ["SQLiteDatabase", "SQLiteEventStore", "SQLiteMetadataStore"]
