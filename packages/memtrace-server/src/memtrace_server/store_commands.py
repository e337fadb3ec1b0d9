"""``memtrace migrate`` and ``memtrace migrate-store``: the commands that prepare and fill a store.

    memtrace migrate [--store-url URL]          # apply pending schema migrations, then exit
    memtrace migrate-store FROM TO              # copy everything FROM holds into TO (store_copy.py)

FROM and TO are what ``--store-url`` takes: a data directory, ``sqlite:///path`` or ``postgresql://...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from memtrace.errors import MemtraceError, ValidationError
from memtrace.stores import open_stores

from .config import ConfigError, ServerConfig
from .leadership import postgres_url_of
from .state import store_url_problem

CommonOptions = Callable[[argparse.ArgumentParser], None]
LoadConfig = Callable[[argparse.Namespace], ServerConfig]


def add_store_commands(sub: Any, common: CommonOptions, load_config: LoadConfig) -> None:
    """Register ``migrate`` and ``migrate-store`` on the ``memtrace`` subcommand parser `sub`."""
    migrate = sub.add_parser(
        "migrate", help="apply the store's pending schema migrations (safe while other replicas run)"
    )
    common(migrate)
    migrate.set_defaults(func=lambda args: cmd_migrate(load_config(args)))

    copy = sub.add_parser(
        "migrate-store",
        help="copy every memory, organization, agent, session, API key and Arc setting from one store to another",
    )
    copy.add_argument("source", metavar="FROM", help="a data directory, sqlite:///path or postgresql://...")
    copy.add_argument("target", metavar="TO", help="a data directory, sqlite:///path or postgresql://...")
    copy.set_defaults(func=cmd_migrate_store)


def cmd_migrate(config: ServerConfig) -> int:
    url = postgres_url_of(config.store.url)
    if url is None:
        # The embedded store brings its schema up to date whenever it is opened.
        _open(config.store.url or str(config.data_dir), "store.url").close()
        print(f"store at {config.store.url or config.data_dir} is up to date")
        return 0
    from memtrace.stores.postgres import migrate
    from memtrace.stores.postgres.database import describe_url

    try:
        applied = migrate(url)
    except MemtraceError as exc:
        raise ConfigError(store_url_problem(exc)) from None
    where = describe_url(url)
    if applied:
        print(f"applied migrations {', '.join(map(str, applied))} to {where}")
    else:
        print(f"{where} is up to date")
    return 0


def cmd_migrate_store(args: argparse.Namespace) -> int:
    from .store_copy import copy_stores

    if args.source == args.target:
        raise ConfigError("migrate-store: FROM and TO are the same store")
    source = _open(args.source, "FROM")
    try:
        target = _open(args.target, "TO")
        try:
            report = copy_stores(source, target, progress=lambda line: print(line, file=sys.stderr))
        finally:
            target.close()
    finally:
        source.close()
    print(report.summary())
    return 0


def _open(url: str, setting: str) -> Any:
    try:
        return open_stores(url, setting=setting)
    except ValidationError as exc:
        raise ConfigError(exc.message) from None
    except MemtraceError as exc:
        raise ConfigError(f"{setting}: " + " ".join(exc.message.split())) from None


__all__ = ["add_store_commands", "cmd_migrate", "cmd_migrate_store"]
