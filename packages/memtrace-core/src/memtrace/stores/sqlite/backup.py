"""Online backups of the embedded store: a consistent copy of ``memtrace.db`` while servers keep writing.

`backup_database` runs ``VACUUM INTO`` on its own read-only connection. That is one read transaction: the copy
is the database as it stood when the backup began (every write acknowledged before then is in it, nothing
half-written), and in WAL mode writers carry on meanwhile. VACUUM INTO rather than the page-by-page backup API
because it writes only live rows: the free pages where deleted and forgotten memories may linger (see
docs/lifecycle.md, "What memtrace cannot reach") stay behind, and the copy is compact. The copy is 0600 in a
0700 directory, like the store itself (files.py), and is checked (``PRAGMA quick_check``) before it is reported.

Restoring is copying the file back while no memtrace process has the store open (docs/lifecycle.md).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import StoreError, ValidationError
from . import files
from .database import DB_FILENAME


@dataclass(frozen=True)
class BackupReport:
    """What a backup wrote."""

    source: Path
    path: Path
    bytes: int
    memories: int
    organizations: int
    schema_version: int
    seconds: float


def database_file(location: Path) -> Path:
    """The database file of a store location: a data directory (``memtrace.db`` in it) or a ``.db`` file."""
    return location if location.suffix == ".db" else location / DB_FILENAME


def backup_database(source: Path, dest: Path, *, overwrite: bool = False) -> BackupReport:
    """Copy the store at `source` (a data directory or ``.db`` file) into `dest` (a directory, which gets a
    ``memtrace.db``, or a ``.db`` file). Refuses an existing destination unless `overwrite`."""
    src = database_file(source)
    if not src.is_file():
        raise ValidationError(f"source: no memtrace store at {source} ({src} does not exist)", "source")
    target = database_file(dest)
    if target.resolve() == src.resolve():
        raise ValidationError("DEST: that is the store itself", "DEST")
    if target.exists() and not overwrite:
        raise ValidationError(f"DEST: {target} exists; pass --force to replace it", "DEST")
    files.prepare_directory(target.parent)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # VACUUM INTO wants a new (or empty) file; made here first so it is 0600 before a byte is written.
    partial.touch(mode=files.FILE_MODE)
    files.make_private(partial)
    started = time.perf_counter()
    try:
        conn = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("VACUUM INTO ?", (str(partial),))
        finally:
            conn.close()
        report = _check(src, partial)
        partial.replace(target)  # the finished copy appears whole, or not at all
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup of {src} failed: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupReport(
        source=src,
        path=target,
        bytes=target.stat().st_size,
        memories=report[0],
        organizations=report[1],
        schema_version=report[2],
        seconds=time.perf_counter() - started,
    )


def _check(src: Path, copy: Path) -> tuple[int, int, int]:
    """Check the copy and count what it holds: (memories, organisations, schema version)."""
    conn = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise StoreError(f"the backup of {src} does not check out: {'; '.join(problems)}")
        memories = int(conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0])
        orgs = int(conn.execute("SELECT COUNT(*) FROM orgs").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    return memories, orgs, version


__all__ = ["BackupReport", "backup_database", "database_file"]
