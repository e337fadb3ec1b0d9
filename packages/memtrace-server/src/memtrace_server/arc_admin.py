"""Managing organisations' Arc instances: ``memtrace org add-arc|remove-arc|arc`` (REST: `arc_routes`).

    memtrace org add-arc ORG --url http://arc:8000 --token TOKEN --database memory [--measurement events]
                             [--admin-token ADMIN]
    MEMTRACE_ARC_TOKEN=... [MEMTRACE_ARC_ADMIN_TOKEN=...] memtrace org add-arc ORG --url ... --database ...
    memtrace org remove-arc ORG
    memtrace org arc [ORG]

The token needs ``read,write`` on Arc; deleting memories also needs an admin token (``--admin-token``, or an
admin ``--token``). Either token may come from the environment instead (``MEMTRACE_ARC_TOKEN``,
``MEMTRACE_ARC_ADMIN_TOKEN``), which keeps it out of the process list and shell history; on the command line a
token that starts with ``-`` has to be written ``--token=-...``, as with any argparse option. Tokens are encrypted with ``MEMTRACE_MASTER_KEY`` before they are stored. Removing an organisation's Arc sends
its future memories back to the default store; what is already in Arc stays there.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

from memtrace.audit import CLI, Actor, AuditAction
from memtrace.errors import NotFoundError
from memtrace.stores.base import ArcInstanceRow
from memtrace.timeparse import from_us

from .arc import new_instance, public_view, require_master_key
from .state import ServerState

ARC_TOKEN_ENV = "MEMTRACE_ARC_TOKEN"
ARC_ADMIN_TOKEN_ENV = "MEMTRACE_ARC_ADMIN_TOKEN"

# --------------------------------------------------------------------------------------------- logic


def set_org_arc(
    state: ServerState,
    org_id: str,
    *,
    url: str,
    token: str,
    database: str,
    measurement: str = "events",
    admin_token: str | None = None,
    actor: Actor = CLI,
) -> ArcInstanceRow:
    """Point `org_id`'s memories at an Arc instance (the organisation must exist). Recorded in the audit trail
    (the URL, database and measurement; never a token)."""
    state.admin.get_org(org_id)
    row = new_instance(
        require_master_key(state.arc.master),
        org_id,
        url=url,
        token=token,
        database=database,
        measurement=measurement,
        admin_token=admin_token,
    )
    stored = state.arc.metadata.put_arc_instance(row)
    state.arc.refresh(force=True)
    state.engine.audit.record(
        org_id,
        AuditAction.ARC_SET,
        actor=actor,
        filter={
            "url": stored.url,
            "database": stored.database,
            "measurement": stored.measurement,
            "admin_token": stored.admin_cipher is not None,
        },
    )
    return stored


def remove_org_arc(state: ServerState, org_id: str, *, actor: Actor = CLI) -> None:
    """Send `org_id`'s future memories back to the default store. Recorded in the audit trail."""
    if not state.arc.metadata.delete_arc_instance(org_id):
        raise NotFoundError(f"organization '{org_id}' has no Arc instance")
    state.arc.refresh(force=True)
    state.engine.audit.record(org_id, AuditAction.ARC_REMOVE, actor=actor)


def get_org_arc(state: ServerState, org_id: str) -> ArcInstanceRow:
    instance = state.arc.metadata.get_arc_instance(org_id)
    if instance is None:
        raise NotFoundError(f"organization '{org_id}' has no Arc instance")
    return instance


def list_org_arcs(state: ServerState) -> list[ArcInstanceRow]:
    return state.arc.metadata.list_arc_instances()


def view(instance: ArcInstanceRow, status: dict[str, Any] | None = None) -> dict[str, Any]:
    body = public_view(instance)
    body["created_at"] = from_us(body.pop("created_us")).isoformat()
    body["updated_at"] = from_us(body.pop("updated_us")).isoformat()
    if status is not None:
        body["status"] = status
    return body


# ----------------------------------------------------------------------------------------------- CLI


def add_org_commands(
    org: Any,
    common: Callable[[argparse.ArgumentParser], None],
    with_state: Callable[[argparse.Namespace, Callable[[ServerState], int]], int],
) -> None:
    """Add ``add-arc``, ``remove-arc`` and ``arc`` to the ``memtrace org`` subcommands."""
    add = org.add_parser("add-arc", help="keep an organization's memories in an Arc instance")
    add.add_argument("org_id")
    add.add_argument("--url", required=True, help="Arc base URL, e.g. http://arc:8000")
    add.add_argument(
        "--token",
        default=os.environ.get(ARC_TOKEN_ENV),
        help=f"Arc token with read,write permissions (default ${ARC_TOKEN_ENV}; write --token=VALUE "
        "if it starts with '-')",
    )
    add.add_argument("--database", required=True, help="Arc database (x-arc-database)")
    add.add_argument("--measurement", default="events", help="measurement (table) name (default events)")
    add.add_argument(
        "--admin-token",
        default=os.environ.get(ARC_ADMIN_TOKEN_ENV),
        help=f"Arc admin token, needed to delete memories if --token is not admin (default ${ARC_ADMIN_TOKEN_ENV})",
    )
    remove = org.add_parser(
        "remove-arc", help="store an organization's new memories in the default store again"
    )
    remove.add_argument("org_id")
    show = org.add_parser("arc", help="show organizations' Arc instances (never the tokens)")
    show.add_argument("org_id", nargs="?")

    def cmd_add(args: argparse.Namespace) -> int:
        if not args.token:
            add.error(f"an Arc token is needed: --token=TOKEN or ${ARC_TOKEN_ENV}")

        def run(state: ServerState) -> int:
            instance = set_org_arc(
                state,
                args.org_id,
                url=args.url,
                token=args.token,
                database=args.database,
                measurement=args.measurement,
                admin_token=args.admin_token,
            )
            _print(
                args,
                view(instance),
                f"Organization {args.org_id} now keeps its memories in {instance.url} "
                f"(database {instance.database}, measurement {instance.measurement})",
            )
            return 0

        return with_state(args, run)

    def cmd_remove(args: argparse.Namespace) -> int:
        def run(state: ServerState) -> int:
            remove_org_arc(state, args.org_id)
            _print(
                args,
                {"org_id": args.org_id, "arc": None},
                f"Organization {args.org_id} has no Arc instance now",
            )
            return 0

        return with_state(args, run)

    def cmd_show(args: argparse.Namespace) -> int:
        def run(state: ServerState) -> int:
            instances = [get_org_arc(state, args.org_id)] if args.org_id else list_org_arcs(state)
            views = [view(i) for i in instances]
            if args.json:
                print(json.dumps(views, indent=2))
            elif not views:
                print("(none)")
            else:
                for v in views:
                    admin = "yes" if v["admin_token"] else "no"
                    print(
                        f"{v['org_id']}  {v['url']}  database={v['database']}  measurement={v['measurement']}  "
                        f"admin_token={admin}"
                    )
            return 0

        return with_state(args, run)

    for parser, fn in ((add, cmd_add), (remove, cmd_remove), (show, cmd_show)):
        common(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(func=fn)


def _print(args: argparse.Namespace, body: dict[str, Any], text: str) -> None:
    print(json.dumps(body, indent=2) if args.json else text)


__all__ = ["add_org_commands", "get_org_arc", "list_org_arcs", "remove_org_arc", "set_org_arc", "view"]
