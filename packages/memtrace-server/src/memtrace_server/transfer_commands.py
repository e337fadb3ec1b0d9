"""``memtrace export`` and ``memtrace import``: an organisation as a JSON Lines file, and back.

    memtrace export [-o FILE] [--org ID] [--agent ID] [--session ID] [--types a,b] [--tags a,b]
                    [--since T] [--until T]
    memtrace import FILE [--org ID]

Both work on the store the configuration names (``--data-dir``/``--store-url``), like the other admin commands,
or with ``--url`` against a running server (the API key from ``--api-key`` or MEMTRACE_API_KEY, which must be
an admin key; the organisation is then the key's). They go through the client's `export_memories` and
`import_memories` (an import on the store calls the engine's `import_memories` itself, so the audit trail
records it as the CLI's), so the command, the REST API and the client are one code path.

An import reads the organisation from the file's header unless ``--org`` says otherwise, and creates it when
the store does not have it (restoring into a fresh store). A progress bar is drawn on stderr when it is a
terminal. docs/lifecycle.md describes the file and what an interrupted import leaves.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from memtrace.audit import CLI
from memtrace.backends import LocalBackend
from memtrace.client import DEFAULT_ORG_ID, Memtrace
from memtrace.errors import ValidationError
from memtrace.transfer import ExportOptions, ExportSummary, ImportReport

from .config import ConfigError
from .progress import ProgressBar
from .state import ServerState

CommonOptions = Callable[[argparse.ArgumentParser], None]
WithState = Callable[[argparse.Namespace, Callable[[ServerState], int]], int]


def add_transfer_commands(sub: Any, common: CommonOptions, with_state: WithState) -> None:
    """Register ``export`` and ``import`` on the ``memtrace`` subcommand parser `sub`."""
    export = sub.add_parser("export", help="write an organization (or part of it) as a JSON Lines file")
    export.add_argument("-o", "--output", default="-", help="the file to write (default: standard output)")
    export.add_argument("--org", help=f"organization id (default {DEFAULT_ORG_ID}; with --url: the key's)")
    export.add_argument("--agent", help="only this agent's memories, sessions and registration")
    export.add_argument("--session", help="only this session and its memories")
    export.add_argument("--types", help="only these memory types (comma-separated)")
    export.add_argument("--tags", help="only memories with every one of these tags (comma-separated)")
    export.add_argument("--since", help="only memories after this time (ISO-8601, or relative like 7d)")
    export.add_argument("--until", help="only memories before this time (ISO-8601, or relative like 7d)")
    export.set_defaults(func=lambda args: cmd_export(args, with_state))

    imp = sub.add_parser(
        "import", help="import a JSON Lines export file (memories already there are skipped)"
    )
    imp.add_argument("file", help="the export file ('-' for standard input)")
    imp.add_argument("--org", help="organization id (default: the file's; with --url: the key's)")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    imp.set_defaults(func=lambda args: cmd_import(args, with_state))

    for p in (export, imp):
        common(p)
        p.add_argument("--url", help="a running memtrace server to talk to instead of the store")
        p.add_argument("--api-key", help="an admin key of that server (default: MEMTRACE_API_KEY)")


def _split(value: str | None) -> list[str] | None:
    return [p.strip() for p in value.split(",") if p.strip()] if value else None


def _remote(args: argparse.Namespace) -> Memtrace | None:
    if not args.url:
        return None
    if args.org:
        raise ConfigError("--org cannot be used with --url: a server acts for the API key's organization")
    key = args.api_key or os.environ.get("MEMTRACE_API_KEY")
    if not key:
        raise ConfigError("--url needs an admin API key: --api-key or MEMTRACE_API_KEY")
    return Memtrace(args.url, key, timeout=300.0)


def _local(state: ServerState, org_id: str) -> Memtrace:
    return Memtrace.from_backend(LocalBackend(state.engine, org_id, owns_engine=False))


def _run(
    args: argparse.Namespace, with_state: WithState, org_id: str, body: Callable[[Memtrace], int]
) -> int:
    """`body` with a client: of the server `--url` names, else in-process on the store, for `org_id` (which
    must exist)."""
    remote = _remote(args)
    if remote is not None:
        with remote:
            return body(remote)

    def run(state: ServerState) -> int:
        state.engine.get_org(org_id)
        return body(_local(state, org_id))

    return with_state(args, run)


# ------------------------------------------------------------------ export


def cmd_export(args: argparse.Namespace, with_state: WithState) -> int:
    options = ExportOptions(
        agent_id=args.agent,
        session_id=args.session,
        memory_types=_split(args.types),
        tags=_split(args.tags),
        since=args.since,
        until=args.until,
    )
    bar = ProgressBar("exporting")

    def body(client: Memtrace) -> int:
        def progress(summary: ExportSummary) -> None:
            bar.update(summary.memories, f"{summary.memories:,} memories, {summary.bytes / 1e6:,.1f} MB")

        try:
            with _output(args.output) as out:
                summary = client.export_memories(out, options, progress=progress)
        finally:
            bar.close()
        print(
            f"exported {summary.memories} memories, {summary.agents} agents, {summary.sessions} sessions "
            f"({summary.bytes} bytes)",
            file=sys.stderr,
        )
        return 0

    return _run(args, with_state, args.org or DEFAULT_ORG_ID, body)


@contextlib.contextmanager
def _output(name: str) -> Iterator[Any]:
    if name == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
    else:
        yield name  # the client writes a path whole or not at all


# ------------------------------------------------------------------ import


def cmd_import(args: argparse.Namespace, with_state: WithState) -> int:
    with _input(args.file) as (source, size):
        first = source.readline()
        org_id = args.org or _header_org(first) or DEFAULT_ORG_ID
        lines = itertools.chain([first], source)
        bar = ProgressBar("importing", total=size)

        def progress(report: ImportReport, bytes_read: int) -> None:
            bar.update(bytes_read, f"{report.memories:,} memories in, {report.skipped:,} already there")

        def finish(run_import: Callable[[], ImportReport]) -> int:
            try:
                report = run_import()
            finally:
                bar.close()
            if args.json:
                print(json.dumps(report.model_dump(), indent=2))
            else:
                where = "the key's organization" if args.url else org_id
                print(f"{where}: {report.summary()}")
            return 0

        remote = _remote(args)
        if remote is not None:
            with remote:
                return finish(lambda: remote.import_memories(lines, progress=progress))

        def run(state: ServerState) -> int:
            # On the store directly (not through the client) so the audit trail says the CLI did it.
            state.engine.ensure_org(org_id, org_id)
            return finish(lambda: state.engine.import_memories(org_id, lines, progress=progress, actor=CLI))

        return with_state(args, run)


@contextlib.contextmanager
def _input(name: str) -> Iterator[tuple[BinaryIO, int | None]]:
    if name == "-":
        yield sys.stdin.buffer, None
        return
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below, after the import
    except OSError as exc:
        raise ValidationError(f"cannot read {name}: {exc.strerror}", "file") from None
    with f:
        yield f, os.fstat(f.fileno()).st_size


def _header_org(first: bytes) -> str | None:
    """The org id the file's header names, if it has a readable one (the import checks the header itself)."""
    try:
        header = json.loads(first)
    except ValueError:
        return None
    org_id = header.get("org_id") if isinstance(header, dict) else None
    return org_id if isinstance(org_id, str) and org_id else None


__all__ = ["add_transfer_commands", "cmd_export", "cmd_import"]
