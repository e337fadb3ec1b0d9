"""What SQLite's failures mean to a caller: each `sqlite3.Error` as the `MemtraceError` that says what happened
and what to do. The embedded client raises only `MemtraceError`s, and the server answers each with its status
(507 disk full, 503 damaged or busy, 422 query too expensive, 500 otherwise)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ...errors import (
    MemtraceError,
    QueryTooExpensiveError,
    ServiceUnavailableError,
    StorageFullError,
    StoreCorruptedError,
    StoreError,
)

# Primary result codes (https://sqlite.org/rescode.html); the extended code's low byte is the primary one.
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_INTERRUPT = 9
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

DAMAGED_ADVICE = (
    "stop memtrace and restore the file from a backup (or salvage it with "
    "`sqlite3 {path} .recover | sqlite3 recovered.db`); memtrace will not serve a damaged store"
)


def storage_full(path: Path | str) -> StorageFullError:
    return StorageFullError(
        f"the disk holding {path} is full: nothing was written. Free some space and retry; reads still work"
    )


def damaged(path: Path | str, detail: str) -> StoreCorruptedError:
    detail = " ".join(detail.split())[:300]  # one line, however SQLite worded it
    return StoreCorruptedError(f"{path} is damaged ({detail}): " + DAMAGED_ADVICE.format(path=path))


def translate(exc: sqlite3.Error, path: Path | str, *, interrupted_by_budget: bool = False) -> MemtraceError:
    """The `MemtraceError` for `exc`, raised by an operation on the database at `path`."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code == SQLITE_FULL or "database or disk is full" in text:
        return storage_full(path)
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in text or "not a database" in text:
        return damaged(path, text)
    if code == SQLITE_INTERRUPT and interrupted_by_budget:
        return QueryTooExpensiveError(
            "the query took longer than the store allows for one query; narrow it (an agent, a session, "
            "a time range, fewer or longer words) and try again"
        )
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return ServiceUnavailableError(f"{path} is busy (another writer holds it): {text}", retry_after=1.0)
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN) and not os.access(Path(path).parent, os.W_OK):
        return StoreError(
            f"{Path(path).parent} is read-only: memtrace must write there (the database, its -wal and -shm files)"
        )
    if code == SQLITE_READONLY:
        return StoreError(f"{path} cannot be written (read-only file or file system): {text}")
    if code in (SQLITE_CANTOPEN, SQLITE_PERM):
        return StoreError(f"cannot open {path}: {text} (check that it exists, is a file, and is readable)")
    if code == SQLITE_IOERR:
        return StoreError(f"the disk failed while using {path}: {text}")
    return StoreError(f"the store at {path} failed: {text}")


__all__ = ["damaged", "storage_full", "translate"]
