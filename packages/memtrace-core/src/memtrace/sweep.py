"""The sweep: physically delete what expired and what fell out of a retention policy, in bounded batches.

Reads leave out an expired memory from the moment it expires (``MemoryFilter.alive_at_us``); the sweep is what
makes it gone. One pass, per organisation:

1. expired memories (``expires_us <= now``), looked up through the stores' expiry index;
2. for each memory type the org's retention policy limits (`memtrace.retention.max_ages`), memories older
   than its age, oldest first.

Each batch is a lookup of at most `batch` memories and a delete of those by id: one short transaction per
memory type in the batch (SQLite's write lock is held for one batch, a few milliseconds at the default size, so
concurrent writes wait about that long; bench/sweep.py measures it). An expired batch is deleted by ids *and*
``expired_by_us``, so a store knows nothing but expired memories go: SQLite then commits it without waiting for
the disk (lost to a power cut, they are still expired, hidden, and the next sweep deletes them again). The pass checks `should_stop` between batches and can be
bounded by `max_batches`; what it leaves is taken by the next pass.

A dry run counts instead of deleting (the retention counts leave out memories the expiry count has), so
``memtrace retention run --dry-run`` says what a real pass would delete now.

Who runs it: the server's leader (one replica at a time, memtrace_server/retention.py), the embedded client's
background thread (`memtrace.sweeper`), and ``memtrace retention run``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import MemtraceError
from .records import MemoryFilter, MemoryRecord
from .retention import max_ages
from .stores.base import EventStore, MetadataStore
from .timeparse import from_us

DEFAULT_SWEEP_BATCH = 100
"""Memories per delete transaction. FTS5 pays for each deleted row (its words leave the keyword index): 100 rows
hold SQLite's write lock for about 1 ms of statements plus the commit, so concurrent single writes wait little
behind a batch (bench/sweep.py: larger batches raised the writers' p99 with the time each batch holds the lock,
1,000 rows 60-100 ms)."""
MAX_SWEEP_BATCH = 10_000
BATCH_PAUSE_SECONDS = 0.005
"""A breath between two batches, so writers queued on the store's lock get it before the next batch does (the
lock is not fair: the sweeping thread would otherwise take it straight back)."""
EXPIRED = "expired"
RETENTION = "retention"


@dataclass
class SweepReport:
    """What one sweep deleted (or, dry, would delete): counts by organisation, reason and memory type.

    This is the one record of a sweep: `Engine.sweep` writes its audit entries from it, the server logs it
    (memtrace_server/retention.py ``record_sweep``) and the CLI and admin API print it."""

    started_us: int
    dry_run: bool
    finished_us: int = 0
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(org_id, reason, memory_type) -> memories; reason is ``expired`` or ``retention``."""
    batches: int = 0
    complete: bool = True
    """False when the pass stopped early (`should_stop`, `max_batches`): the next pass takes the rest."""
    errors: dict[str, str] = field(default_factory=dict)
    """org_id -> why its sweep failed (e.g. an Arc that refuses deletes); the other orgs are swept."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_org(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{org: {reason: {memory_type: n}}}``, sorted."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (org, reason, memory_type), n in sorted(self.counts.items()):
            out.setdefault(org, {}).setdefault(reason, {})[memory_type] = n
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "started_at": from_us(self.started_us).isoformat().replace("+00:00", "Z"),
            "finished_at": from_us(self.finished_us or self.started_us).isoformat().replace("+00:00", "Z"),
            "total": self.total,
            "complete": self.complete,
            "batches": self.batches,
            "orgs": self.by_org(),
            "errors": dict(sorted(self.errors.items())),
        }

    def lines(self) -> list[str]:
        """A human summary, one line per org, reason and type."""
        verb = "would delete" if self.dry_run else "deleted"
        out = [f"{verb} {self.total} memories" + ("" if self.complete else " (stopped early; more remain)")]
        for (org, reason, memory_type), n in sorted(self.counts.items()):
            out.append(f"  {org:<24} {reason:<10} {memory_type:<9} {n}")
        for org, error in sorted(self.errors.items()):
            out.append(f"  {org:<24} failed: {error}")
        return out


class _Budget:
    def __init__(self, max_batches: int | None, should_stop: Callable[[], bool] | None) -> None:
        self.left = max_batches
        self.should_stop = should_stop

    def take(self) -> bool:
        """True if another batch may run."""
        if self.should_stop is not None and self.should_stop():
            return False
        if self.left is not None:
            if self.left <= 0:
                return False
            self.left -= 1
        return True


def run_sweep(
    events: EventStore,
    metadata: MetadataStore,
    *,
    now_us: int,
    org_ids: list[str],
    batch: int = DEFAULT_SWEEP_BATCH,
    dry_run: bool = False,
    max_batches: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SweepReport:
    """One sweep over `org_ids` as of `now_us` (see the module docstring). Errors of one org are reported in
    `SweepReport.errors`, and the others are still swept."""
    report = SweepReport(started_us=now_us, dry_run=dry_run)
    budget = _Budget(max_batches, should_stop)
    rules = metadata.list_retention(org_ids[0] if len(org_ids) == 1 else None)
    for org_id in org_ids:
        ages = max_ages([r for r in rules if r.org_id == org_id])
        try:
            if dry_run:
                _count(events, org_id, now_us, ages, report)
            else:
                report.complete &= _delete(events, org_id, now_us, ages, batch, budget, report)
        except MemtraceError as exc:
            report.errors[org_id] = exc.message
        if not report.complete:
            break
    return report


def _count(events: EventStore, org_id: str, now_us: int, ages: dict[str, int], report: SweepReport) -> None:
    for memory_type, n in events.count_by_type(org_id, MemoryFilter(expired_by_us=now_us)).items():
        report.counts[(org_id, EXPIRED, memory_type)] += n
    for memory_type, age in ages.items():
        flt = MemoryFilter(memory_types=(memory_type,), until_us=now_us - age, alive_at_us=now_us)
        n = events.count(org_id, flt)
        if n:
            report.counts[(org_id, RETENTION, memory_type)] += n


def _delete(
    events: EventStore,
    org_id: str,
    now_us: int,
    ages: dict[str, int],
    batch: int,
    budget: _Budget,
    report: SweepReport,
) -> bool:
    """Delete the org's expired and out-of-policy memories; False if the budget ran out first."""
    plans = [(EXPIRED, MemoryFilter(expired_by_us=now_us))]
    plans += [(RETENTION, MemoryFilter(memory_types=(t,), until_us=now_us - age)) for t, age in ages.items()]
    for reason, flt in plans:
        while True:
            if not budget.take():
                return False
            found = events.query(org_id, flt, order="asc", limit=batch, offset=0)
            if not found:
                break
            report.batches += 1
            deleted = _delete_batch(events, org_id, found, flt.expired_by_us)
            time.sleep(BATCH_PAUSE_SECONDS)
            for memory_type, n in deleted.items():
                report.counts[(org_id, reason, memory_type)] += n
            if len(found) < batch or not deleted:
                break  # the last batch; or nothing could be deleted (gone meanwhile), so do not spin
            if reason == RETENTION:
                # Oldest first: the next batch starts where this one ended, not again at the org's oldest
                # memory (kept types in between would be read again every batch).
                flt = MemoryFilter(
                    memory_types=flt.memory_types, until_us=flt.until_us, since_us=found[-1].time_us - 1
                )
    return True


def _delete_batch(
    events: EventStore, org_id: str, found: list[MemoryRecord], expired_by_us: int | None
) -> Counter[str]:
    """Delete `found` by id, one transaction per memory type (so the counts by type are what was deleted). Expired
    ones are deleted only if still expired by `expired_by_us` (stores may then skip waiting for the disk)."""
    ids_by_type: dict[str, list[str]] = {}
    for r in found:
        ids_by_type.setdefault(r.memory_type, []).append(r.id)
    deleted: Counter[str] = Counter()
    for memory_type, ids in ids_by_type.items():
        flt = MemoryFilter(ids=tuple(ids), memory_types=(memory_type,), expired_by_us=expired_by_us)
        n = events.delete(org_id, flt)
        if n:
            deleted[memory_type] += n
    return deleted


__all__ = ["DEFAULT_SWEEP_BATCH", "EXPIRED", "MAX_SWEEP_BATCH", "RETENTION", "SweepReport", "run_sweep"]
