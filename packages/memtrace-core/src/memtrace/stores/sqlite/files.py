"""The data directory and its files: private modes, and refusing what is not a store before SQLite touches it.

Memories are private to their organisation, so no other local user may read them: memtrace makes its data
directory 0700 and its files (``memtrace.db``, ``-wal``, ``-shm``, the Arc spool) 0600. SQLite creates the
``-wal`` and ``-shm`` files with the database file's mode, so fixing the database file's mode before the first
write covers them. Files left looser by an older version are tightened at start, with a warning.
"""

from __future__ import annotations

import logging
import stat
import time
from pathlib import Path

from ...errors import StoreCorruptedError, StoreError

log = logging.getLogger("memtrace.store")

DIR_MODE = 0o700
FILE_MODE = 0o600
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
"""SQLite's companion files of a database file."""
_EMPTY_FILE_GRACE_SECONDS = 1.0
"""How long a zero-length database may stay empty before it is taken as truncated: another process that just
created it turns it into a WAL database (4 KiB) within microseconds."""


def prepare_directory(directory: Path) -> None:
    """Make `directory` (0700) if missing, or refuse it if it is not a directory we can use."""
    if directory.exists() and not directory.is_dir():
        raise StoreError(
            f"the data directory {directory} is a file, not a directory: point memtrace elsewhere"
        )
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data directory {directory}: {exc.strerror or exc}") from None


def tighten_directory(directory: Path) -> None:
    """Take group and other permissions off a data directory memtrace owns."""
    _tighten(directory)


def tighten_files(db_path: Path) -> None:
    """Take group and other permissions off the database file and its companions, where they exist."""
    for path in (db_path, *(db_path.with_name(db_path.name + s) for s in SIDE_SUFFIXES)):
        _tighten(path)


def _tighten(path: Path) -> None:
    """Remove the group and other permission bits from `path`, if it exists."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077 == 0:
        return
    tightened = current & ~0o077
    try:
        path.chmod(tightened)
    except OSError as exc:
        log.warning(
            "%s is open to other local users (mode %o) and could not be tightened: %s", path, current, exc
        )
        return
    log.warning("%s was open to other local users (mode %o); tightened to %o", path, current, tightened)


def refuse_empty_database(db_path: Path) -> None:
    """A zero-length database file that memtrace did not just create is an operator's truncated file, not a new
    store: refuse it rather than silently start over (which would look like the data was lost)."""
    deadline = time.monotonic() + _EMPTY_FILE_GRACE_SECONDS
    while True:
        try:
            size = db_path.stat().st_size
        except FileNotFoundError:
            return
        wal = db_path.with_name(db_path.name + "-wal")
        if size > 0 or (wal.exists() and wal.stat().st_size > 0):
            return  # a store (a new one may hold everything in its WAL until the first checkpoint)
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    raise StoreCorruptedError(
        f"{db_path} is empty (0 bytes): it is not a memtrace store, and memtrace will not silently start a new "
        "one in its place. Restore it from a backup, or delete the file to start with an empty store"
    )


def make_private(path: Path) -> None:
    """Set a file memtrace just created to 0600, before anything is written to it."""
    path.chmod(FILE_MODE)


__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "make_private",
    "prepare_directory",
    "refuse_empty_database",
    "tighten_directory",
    "tighten_files",
]
