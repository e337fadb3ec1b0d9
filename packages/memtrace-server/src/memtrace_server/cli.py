"""The ``memtrace`` command: run the server, manage organisations and keys on a data directory, run MCP.

    memtrace serve [--host 127.0.0.1] [--port 9100] [--data-dir ./data] [--store-url URL] [--config memtrace.toml]
    memtrace org create NAME [--id ID] | org list | org delete ORG_ID
    memtrace key create --org ID --name NAME [--permissions read,write] | key list [--org ID] | key revoke ID
    memtrace audit list [--org ID] [--action A] [--since 7d]   # the audit trail (audit_commands.py)
    memtrace backup DEST [--force]        # a consistent copy of the embedded store, online (backup_command.py)
    memtrace config                       # the effective configuration, as TOML
    memtrace migrate [--store-url URL]    # apply pending schema migrations (store_commands.py)
    memtrace migrate-store FROM TO        # copy one store into another, e.g. a data dir into PostgreSQL
    memtrace retention set|show|clear|run # how long memories are kept; sweep now (retention_commands.py)
    memtrace export [-o FILE] [filters]   # an organization as JSON Lines (transfer_commands.py)
    memtrace import FILE [--org ID]       # ... and back; memories already there are skipped
    memtrace mcp [...]                    # the MCP server (arguments are its own)

Running ``memtrace`` with no command (or only options) means ``serve``, as in the original.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from memtrace.errors import MemtraceError
from memtrace.timeparse import check_time_us, now_us, parse_relative, parse_time

from . import __version__
from .arc_admin import add_org_commands
from .audit_commands import add_audit_commands
from .backup_command import add_backup_command
from .config import ConfigError, ServerConfig, load_config, to_toml
from .keys import FIRST_RUN_BANNER, bootstrap
from .retention_commands import add_retention_commands
from .state import ServerState, open_state
from .store_commands import add_store_commands
from .transfer_commands import add_transfer_commands
from .wire import key_view, org_view

log = logging.getLogger("memtrace_server")

COMMANDS = (
    "serve",
    "org",
    "key",
    "audit",
    "backup",
    "config",
    "migrate",
    "migrate-store",
    "retention",
    "export",
    "import",
    "mcp",
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="memtrace.toml to read (default: search . /etc/memtrace ~/.memtrace)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="data directory (default ./data, or MEMTRACE_DATA_DIR)"
    )
    parser.add_argument(
        "--store-url",
        metavar="URL",
        help="where memories and metadata live: a directory, sqlite:///path or postgresql://... "
        "(default: the data directory, or MEMTRACE_STORE_URL)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memtrace", description="memtrace server: memory for AI agents, over REST and MCP."
    )
    parser.add_argument("--version", action="version", version=f"memtrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the REST server")
    _common(serve)
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 9100)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-format", choices=["console", "json"])
    serve.set_defaults(func=cmd_serve)

    org = sub.add_parser("org", help="manage organizations").add_subparsers(dest="action", metavar="ACTION")
    org_create = org.add_parser("create", help="create an organization")
    org_create.add_argument("name")
    org_create.add_argument("--id", help="the id (default org_<24 hex>)")
    org_list = org.add_parser("list", help="list organizations")
    org_delete = org.add_parser("delete", help="delete an organization with all its data")
    org_delete.add_argument("org_id")
    for p, fn in ((org_create, cmd_org_create), (org_list, cmd_org_list), (org_delete, cmd_org_delete)):
        _common(p)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=fn)
    add_org_commands(org, _common, _with_state)  # org add-arc / remove-arc / arc (arc_admin.py)

    key = sub.add_parser("key", help="manage API keys").add_subparsers(dest="action", metavar="ACTION")
    key_create = key.add_parser("create", help="create an API key (printed once)")
    key_create.add_argument("--org", required=True, help="organization id")
    key_create.add_argument("--name", required=True, help="a name for the key, unique in its organization")
    key_create.add_argument("--permissions", default="read,write", help="comma-separated: read, write, admin")
    key_create.add_argument("--expires", help="expiry: ISO-8601 time, or relative like 90d")
    key_list = key.add_parser("list", help="list API keys (never the keys themselves)")
    key_list.add_argument("--org", help="only this organization's keys")
    key_revoke = key.add_parser("revoke", help="revoke an API key")
    key_revoke.add_argument("key_id", type=int)
    for p, fn in ((key_create, cmd_key_create), (key_list, cmd_key_list), (key_revoke, cmd_key_revoke)):
        _common(p)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=fn)

    add_audit_commands(sub, _common, _with_state)
    add_backup_command(sub, _common, _config)

    config = sub.add_parser("config", help="print the effective configuration as TOML")
    _common(config)
    config.set_defaults(func=cmd_config)
    add_store_commands(sub, _common, _config)
    add_retention_commands(sub, _common, _with_state)  # retention set / show / clear / run
    add_transfer_commands(sub, _common, _with_state)

    sub.add_parser("mcp", help="run the MCP server (see `memtrace mcp --help`)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "mcp":
        # The MCP server parses its own arguments; import it only when asked (it pulls in the mcp SDK).
        from .mcp_server import main as mcp_main

        return _refusing_in_one_line(lambda: int(mcp_main(args_list[1:]) or 0))
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")):
        args_list = ["serve", *args_list]
    parser = build_parser()
    args = parser.parse_args(args_list)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.parse_args([args_list[0], "--help"])
        return 2
    return _refusing_in_one_line(lambda: func(args))


def _refusing_in_one_line(run: Callable[[], int]) -> int:
    """Run a command; a refusal (bad configuration, a store that cannot be used, a file system error) is one
    line on stderr and a non-zero exit, never a traceback."""
    try:
        return run()
    except ConfigError as exc:
        print(f"memtrace: configuration error: {exc}", file=sys.stderr)
        return 2
    except MemtraceError as exc:
        print(f"memtrace: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"memtrace: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def _config(args: argparse.Namespace, **overrides: Any) -> ServerConfig:
    return load_config(
        args.config,
        overrides={"server.data_dir": args.data_dir, "store.url": args.store_url, **overrides},
    )


# ------------------------------------------------------------------ serve


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .connections import ConnectionLimits, bounded_protocol, connection_bound
    from .logs import configure_logging

    config = _config(
        args,
        **{
            "server.host": args.host,
            "server.port": args.port,
            "log.level": args.log_level,
            "log.format": args.log_format,
        },
    )
    configure_logging(config.log.level, config.log.format)
    state = open_state(config)
    try:
        if config.auth.enabled:
            generated = bootstrap(state.keys, os.environ.get("MEMTRACE_ADMIN_KEY") or None)
            if generated:
                print(FIRST_RUN_BANNER.format(key=generated), file=sys.stderr, flush=True)
        else:
            log.warning("auth is disabled: every request acts as an admin of org_default")
    except BaseException:
        state.close()
        raise
    app = create_app(state)
    limits = ConnectionLimits(
        max_header_bytes=config.server.max_header_bytes,
        header_timeout=config.server.header_timeout,
        body_timeout=config.server.body_timeout,
        max_connections=connection_bound(config.server.max_connections),
    )
    log.info(
        "memtrace %s serving %s on http://%s:%d (at most %d connections)",
        __version__,
        config.data_dir,
        config.server.host,
        config.server.port,
        limits.max_connections,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http=bounded_protocol(limits),
            h11_max_incomplete_event_size=config.server.max_header_bytes,
            host=config.server.host,
            port=config.server.port,
            lifespan="on",
            log_config=None,
            access_log=config.log.access,
            timeout_keep_alive=max(1, int(config.server.keep_alive_timeout)),
            timeout_graceful_shutdown=max(1, int(config.server.shutdown_timeout)),
            server_header=False,
        )
    )
    server.run()
    return 0


# ---------------------------------------------------------------- admin


def _with_state(args: argparse.Namespace, action: Callable[[ServerState], int]) -> int:
    state = open_state(_config(args))
    try:
        return action(state)
    finally:
        state.close()


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def cmd_org_create(args: argparse.Namespace) -> int:
    def run(state: ServerState) -> int:
        org = state.admin.create_org(args.name, args.id)
        if args.json:
            _print_json(org_view(org).model_dump(mode="json"))
        else:
            print(f"Organization created\n  id:   {org.id}\n  name: {org.name}")
        return 0

    return _with_state(args, run)


def cmd_org_list(args: argparse.Namespace) -> int:
    def run(state: ServerState) -> int:
        orgs = [org_view(o).model_dump(mode="json") for o in state.admin.list_orgs()]
        if args.json:
            _print_json(orgs)
        else:
            _table(orgs, ("id", "name", "created_at"))
        return 0

    return _with_state(args, run)


def cmd_org_delete(args: argparse.Namespace) -> int:
    def run(state: ServerState) -> int:
        receipt = state.admin.delete_org(args.org_id)
        state.arc.discard_spool(args.org_id)
        removed = receipt.removed
        if args.json:
            _print_json(
                {
                    "id": args.org_id,
                    "deleted_memories": removed["memories"],
                    **receipt.model_dump(mode="json"),
                }
            )
        else:
            print(
                f"Organization {args.org_id} deleted ({removed['memories']} memories, {removed['sessions']} "
                f"sessions, {removed['agents']} agents, {removed['api_keys']} keys) at "
                f"{receipt.finished_at.isoformat()}"
            )
        return 0

    return _with_state(args, run)


def cmd_key_create(args: argparse.Namespace) -> int:
    expires_us = parse_future(args.expires) if args.expires else None

    def run(state: ServerState) -> int:
        row, key = state.keys.create(args.org, args.name, args.permissions, expires_us=expires_us)
        if args.json:
            _print_json(key_view(row, key).model_dump(mode="json"))
        else:
            print(f"API key created (shown only once — save it now):\n{key}")
            print(
                f"  id: {row.id}  org: {row.org_id}  name: {row.name}  permissions: {row.permissions}",
                file=sys.stderr,
            )
        return 0

    return _with_state(args, run)


def cmd_key_list(args: argparse.Namespace) -> int:
    def run(state: ServerState) -> int:
        keys = [key_view(r).model_dump(mode="json") for r in state.keys.list_keys(args.org)]
        if args.json:
            _print_json(keys)
        else:
            for k in keys:
                k["permissions"] = ",".join(k["permissions"])
            _table(keys, ("id", "org_id", "name", "permissions", "enabled", "created_at", "expires_at"))
        return 0

    return _with_state(args, run)


def cmd_key_revoke(args: argparse.Namespace) -> int:
    def run(state: ServerState) -> int:
        if not state.keys.revoke(args.key_id):
            print(f"memtrace: API key {args.key_id} not found (or already revoked)", file=sys.stderr)
            return 1
        print(f"API key {args.key_id} revoked")
        return 0

    return _with_state(args, run)


def cmd_config(args: argparse.Namespace) -> int:
    print(to_toml(_config(args)), end="")
    return 0


def parse_future(value: str) -> int:
    """An expiry: ISO-8601, or relative like ``90d`` meaning that long from now."""
    rel = parse_relative(value)
    if rel is not None:
        return check_time_us(now_us() + rel, "expires")
    return parse_time(value, "expires")


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


__all__ = ["COMMANDS", "build_parser", "main"]
