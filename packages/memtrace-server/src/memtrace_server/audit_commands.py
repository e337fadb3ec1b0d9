"""``memtrace audit``: read the audit trail of a store (REST: ``GET /api/v1/audit``).

    memtrace audit list [--org ORG] [--action ACTION] [--since 7d] [--until T] [--before ID] [--limit N] [--json]

Entries come newest first, a page at a time; ``--before`` with the id the previous page ended on (printed at its
foot) reads the next one. The command reads the store directly, like ``memtrace key list``: whoever can read the
data directory or the database can read its trail.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from memtrace.audit import AuditAction, AuditEntry

from .state import ServerState


def add_audit_commands(
    sub: Any,
    common: Callable[[argparse.ArgumentParser], None],
    with_state: Callable[[argparse.Namespace, Callable[[ServerState], int]], int],
) -> None:
    """Register ``memtrace audit list`` on the ``memtrace`` subcommand parser `sub`."""
    audit = sub.add_parser("audit", help="read the audit trail").add_subparsers(
        dest="action", metavar="ACTION"
    )
    show = audit.add_parser("list", help="audit entries, newest first")
    common(show)
    show.add_argument("--org", help="only this organization's entries")
    show.add_argument("--action", dest="audit_action", choices=sorted(AuditAction), help="only this action")
    show.add_argument("--since", help="only entries at or after: relative like 7d, or ISO-8601")
    show.add_argument("--until", help="only entries before: relative like 1d, or ISO-8601")
    show.add_argument("--before", type=int, help="only entries older than this entry id (the next page)")
    show.add_argument("--limit", type=int, help="entries per page (1..1000, default 100)")
    show.add_argument("--json", action="store_true", help="print JSON")

    def cmd_list(args: argparse.Namespace) -> int:
        def run(state: ServerState) -> int:
            page = state.engine.audit.list(
                org_id=args.org,
                action=args.audit_action,
                since=args.since,
                until=args.until,
                before=args.before,
                limit=args.limit,
            )
            if args.json:
                print(page.model_dump_json(indent=2, exclude_none=True))
                return 0
            if not page.entries:
                print("(none)")
            for entry in page.entries:
                print(_line(entry))
            if page.next_before is not None:
                print(f"(more: --before {page.next_before})")
            return 0

        return with_state(args, run)

    show.set_defaults(func=cmd_list)


def _line(entry: AuditEntry) -> str:
    who = f"key {entry.key_id}" if entry.key_id is not None else entry.actor
    parts = [str(entry.id), entry.time.isoformat(), entry.org_id, entry.action, f"by {who}"]
    if entry.filter:
        parts.append(json.dumps(entry.filter, separators=(",", ":"), sort_keys=True))
    if entry.counts:
        parts.append(" ".join(f"{kind}={n}" for kind, n in sorted(entry.counts.items())))
    return "  ".join(parts)


__all__ = ["add_audit_commands"]
