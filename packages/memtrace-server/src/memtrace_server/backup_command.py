"""``memtrace backup DEST``: a consistent online copy of the embedded store, safe while the server runs.

    memtrace backup /backups/memtrace-2026-12-06        # a directory: gets memtrace.db (0600, directory 0700)
    memtrace backup /backups/memtrace.db --force        # a file; --force replaces an existing one

The copy is taken by `memtrace.stores.sqlite.backup` (VACUUM INTO: one read snapshot, writers carry on). To
restore, stop the server and copy the file into the data directory as ``memtrace.db`` (docs/lifecycle.md).
A PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump); the command says so and does nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from memtrace.stores.sqlite.backup import backup_database

from .config import ConfigError, ServerConfig

PG_DUMP_ADVICE = (
    "memtrace backup copies the embedded SQLite store; this store is PostgreSQL. Back it up with PostgreSQL's "
    "tools, e.g. `pg_dump --format=custom --file=memtrace.dump DATABASE_URL` (restore with pg_restore), or take "
    "memtrace's own portable copy with `memtrace export` (docs/lifecycle.md)"
)


def add_backup_command(
    sub: Any,
    common: Callable[[argparse.ArgumentParser], None],
    load_config: Callable[[argparse.Namespace], ServerConfig],
) -> None:
    """Register ``memtrace backup`` on the ``memtrace`` subcommand parser `sub`."""
    backup = sub.add_parser(
        "backup", help="copy the embedded store consistently while it is in use (restore: docs/lifecycle.md)"
    )
    common(backup)
    backup.add_argument("dest", metavar="DEST", help="a directory (gets memtrace.db) or a .db file")
    backup.add_argument("--force", action="store_true", help="replace DEST's memtrace.db if it exists")
    backup.add_argument("--json", action="store_true", help="print JSON")

    def cmd_backup(args: argparse.Namespace) -> int:
        config = load_config(args)
        if config.store.kind == "postgresql":
            print(f"memtrace: {PG_DUMP_ADVICE}", file=sys.stderr)
            return 2
        report = backup_database(_store_location(config), Path(args.dest).expanduser(), overwrite=args.force)
        if args.json:
            body = {
                "path": str(report.path),
                "source": str(report.source),
                "bytes": report.bytes,
                "memories": report.memories,
                "organizations": report.organizations,
                "schema_version": report.schema_version,
                "seconds": round(report.seconds, 3),
            }
            print(json.dumps(body, indent=2))
        else:
            print(
                f"Backed up {report.source} to {report.path}: {report.bytes:,} bytes, {report.memories:,} "
                f"memories, {report.organizations} organizations, schema version {report.schema_version}, "
                f"checked, in {report.seconds:.1f} s"
            )
        return 0

    backup.set_defaults(func=cmd_backup)


def _store_location(config: ServerConfig) -> Path:
    """The data directory or ``.db`` file the configuration's store is in."""
    url = config.store.url
    if not url:
        return config.data_dir
    if "://" not in url:
        return Path(url).expanduser()
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        raise ConfigError(
            f"store.url: memtrace backup copies the embedded SQLite store, not {parts.scheme}://"
        )
    return Path(unquote(parts.path[1:])).expanduser()


__all__ = ["PG_DUMP_ADVICE", "add_backup_command"]
