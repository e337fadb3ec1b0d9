"""``memtrace retention``: retention policies and sweeps from the command line (the admin API's twin).

    memtrace retention set KEEP [--org ORG] [--type TYPE]   # KEEP: 30d, 12w, 36h (at least 1h) or forever
    memtrace retention show [--org ORG | --all]
    memtrace retention clear [--org ORG] [--type TYPE]      # without --type: every rule of the org
    memtrace retention run [--org ORG] [--dry-run]          # sweep now; --dry-run only counts

``--org`` defaults to ``org_default``; ``--type`` to ``*``, the rule for every type without its own. ``run``
without ``--org`` sweeps every organisation. While a server runs on the same store its leader sweeps on its own
(``retention.sweep_interval_seconds``); ``run`` is for now, or for a store no server runs on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from memtrace.audit import CLI
from memtrace.retention import RetentionRule

from .keys import BOOTSTRAP_ORG_ID
from .retention import record_sweep
from .state import ServerState

CommonOptions = Callable[[argparse.ArgumentParser], None]
WithState = Callable[[argparse.Namespace, Callable[[ServerState], int]], int]


def add_retention_commands(sub: Any, common: CommonOptions, with_state: WithState) -> None:
    """Register ``retention set|show|clear|run`` on the ``memtrace`` subcommand parser `sub`."""
    group = sub.add_parser("retention", help="how long memories are kept; sweep now").add_subparsers(
        dest="action", metavar="ACTION"
    )
    set_ = group.add_parser("set", help="keep an organization's memories (of one type) for a duration")
    set_.add_argument("keep", help="a duration (30d, 12w, 36h; at least 1h) or 'forever'")
    set_.add_argument("--type", dest="memory_type", help="episodic, session, decision or entity (default: *)")
    show = group.add_parser("show", help="show retention policies")
    show.add_argument("--all", action="store_true", help="every organization's")
    clear = group.add_parser("clear", help="remove a rule (or, without --type, all of an organization's)")
    clear.add_argument("--type", dest="memory_type", help="only this type's rule (* for the default rule)")
    run = group.add_parser("run", help="delete expired and out-of-policy memories now")
    run.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    for parser, command in ((set_, _set), (show, _show), (clear, _clear), (run, _run)):
        common(parser)
        parser.add_argument("--org", help=f"organization id (default {BOOTSTRAP_ORG_ID}; run: every one)")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(func=lambda args, command=command: with_state(args, lambda s: command(args, s)))


def _rule_line(rule: RetentionRule) -> str:
    return f"{rule.org_id:<24} {rule.memory_type:<9} {rule.keep}"


def _set(args: argparse.Namespace, state: ServerState) -> int:
    rule = state.engine.set_retention(args.org or BOOTSTRAP_ORG_ID, args.memory_type, args.keep)
    print(json.dumps(rule.as_dict(), indent=2) if args.json else f"retention set: {_rule_line(rule)}")
    return 0


def _show(args: argparse.Namespace, state: ServerState) -> int:
    orgs = [o.id for o in state.engine.list_orgs()] if args.all else [args.org or BOOTSTRAP_ORG_ID]
    rules = [rule for org in orgs for rule in state.engine.get_retention(org)]
    if args.json:
        print(json.dumps([r.as_dict() for r in rules], indent=2))
    elif not rules:
        print("(no retention rules: memories are kept until they expire or are deleted)")
    else:
        print(f"{'ORG':<24} {'TYPE':<9} KEEP")
        for rule in rules:
            print(_rule_line(rule))
    return 0


def _clear(args: argparse.Namespace, state: ServerState) -> int:
    org = args.org or BOOTSTRAP_ORG_ID
    removed = state.engine.clear_retention(org, args.memory_type)
    if args.json:
        print(json.dumps({"org_id": org, "removed": removed}))
    else:
        print(f"removed {removed} retention rule{'s' if removed != 1 else ''} of {org}")
    return 0


def _run(args: argparse.Namespace, state: ServerState) -> int:
    report = state.engine.sweep(
        org_id=args.org, dry_run=args.dry_run, batch=state.config.retention.sweep_batch, actor=CLI
    )
    record_sweep(report, trigger="cli")
    print(json.dumps(report.as_dict(), indent=2) if args.json else "\n".join(report.lines()))
    return 1 if report.errors else 0


__all__ = ["add_retention_commands"]
