"""`copy_stores`: move everything one store holds into another (``memtrace migrate-store FROM TO``), e.g. an
embedded SQLite data directory into PostgreSQL.

What is copied, intact: organisations (id, name, creation time), agents (id, name, description, config, times),
sessions (id, agent, status, metadata, times), API keys (the bcrypt hash and lookup prefix, so every old key
authenticates against the new store; permissions, expiry, revoked keys stay revoked), the organisations' Arc
settings (tokens still encrypted under the server's master key), and every memory (id, time, org, agent, session,
types, content, metadata JSON text, tags, dedup key, importance, parent), in time order so ties keep their order.

Key ids are the one thing that may differ: the target numbers its keys itself (``memtrace key revoke`` takes the
new id; ``memtrace key list`` shows it).

Resumable and idempotent: every row is looked up in the target first and skipped when present (memories by id,
agents by id, sessions by id, keys by organisation and name, orgs by id), so running the command again after an
interruption finishes the copy and running it on a finished copy changes nothing. Agents, sessions and memories
go in through the same steps as ``memtrace import`` (`memtrace.transfer`: `ensure_agent`, `ensure_session`, the
event store's `import_records`, memories read with `iter_records`), so a copy keeps exactly what an export and
import would. Memories go in batches, each one transaction in the target. The source is only read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memtrace.records import MemoryFilter, MemoryRecord
from memtrace.stores import StoreBundle
from memtrace.transfer import ensure_agent, ensure_session, iter_records

BATCH = 500


@dataclass
class CopyReport:
    """What one run copied (rows already in the target are counted as skipped)."""

    orgs: int = 0
    agents: int = 0
    sessions: int = 0
    keys: int = 0
    arc_instances: int = 0
    memories: int = 0
    audit_entries: int = 0
    skipped: int = 0

    def summary(self) -> str:
        return (
            f"copied {self.memories} memories, {self.orgs} organizations, {self.agents} agents, "
            f"{self.sessions} sessions, {self.keys} API keys, {self.arc_instances} Arc settings, "
            f"{self.audit_entries} audit entries ({self.skipped} rows already in the target)"
        )


def copy_stores(
    source: StoreBundle, target: StoreBundle, *, progress: Callable[[str], None] | None = None
) -> CopyReport:
    """Copy every row of `source` into `target` (see the module docstring); the rows copied."""
    report = CopyReport()
    src, dst = source.metadata, target.metadata
    for org in src.list_orgs():
        if dst.get_org(org.id) is None:
            dst.ensure_org(org.id, org.name, org.created_us)
            report.orgs += 1
        else:
            report.skipped += 1
        for agent in src.list_agents(org.id):
            if ensure_agent(dst, agent):
                report.agents += 1
            else:
                report.skipped += 1
        for session in src.list_sessions(org.id, None):
            if ensure_session(dst, session):
                report.sessions += 1
            else:
                report.skipped += 1
        present = {k.name for k in dst.list_api_keys(org.id)}
        for key in src.list_api_keys(org.id):
            if key.name in present:
                report.skipped += 1
                continue
            row = dst.create_api_key(
                key.org_id,
                key.name,
                key.key_hash,
                key.key_prefix,
                key.permissions,
                key.created_us,
                key.expires_us,
            )
            if not key.enabled:
                dst.revoke_api_key(row.id)
            present.add(key.name)
            report.keys += 1
        arc = src.get_arc_instance(org.id)
        if arc is not None:
            if dst.get_arc_instance(org.id) is None:
                dst.put_arc_instance(arc)
                report.arc_instances += 1
            else:
                report.skipped += 1
        copied_before = report.memories
        _copy_memories(source, target, org.id, report)
        if progress is not None:
            progress(f"{org.id}: {report.memories - copied_before} memories copied")
    _copy_audit(source, target, report)
    return report


def _copy_audit(source: StoreBundle, target: StoreBundle, report: CopyReport) -> None:
    """The audit trail, oldest first, when the target has none yet (entries carry no natural key, so a re-run
    after a finished copy must not add them twice; entries get the target's ids, in the same order)."""
    if target.metadata.list_audit(
        org_id=None, action=None, since_us=None, until_us=None, before_id=None, limit=1
    ):
        return
    entries = []
    before: int | None = None
    while True:
        page = source.metadata.list_audit(
            org_id=None, action=None, since_us=None, until_us=None, before_id=before, limit=BATCH
        )
        entries += page
        if len(page) < BATCH:
            break
        before = page[-1].id
    for entry in reversed(entries):
        target.metadata.append_audit(entry)
        report.audit_entries += 1


def _copy_memories(source: StoreBundle, target: StoreBundle, org_id: str, report: CopyReport) -> None:
    """Every memory of the org, oldest first, through the import path (`import_records`: ids, times and dedup
    keys kept, ids already in the target skipped), a batch per transaction."""
    page: list[MemoryRecord] = []
    for record in iter_records(source.events, org_id, MemoryFilter(), BATCH):
        page.append(record)
        if len(page) == BATCH:
            _import_page(target, org_id, page, report)
            page = []
    if page:
        _import_page(target, org_id, page, report)


def _import_page(target: StoreBundle, org_id: str, page: list[MemoryRecord], report: CopyReport) -> None:
    inserted, skipped = target.events.import_records(org_id, page)
    report.memories += inserted
    report.skipped += skipped


__all__ = ["CopyReport", "copy_stores"]
