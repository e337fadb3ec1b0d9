"""The Arc store's fact ledger: which memory is a version of which fact, and which versions were superseded.

Arc is an append-only time series: a row cannot be changed, only deleted (and only with an admin token). The
one thing that changes about a version, its ``valid_until``/``superseded_by``, therefore lives beside the spool,
in a ``facts`` table of the spool file, written in the same ``BEGIN IMMEDIATE`` transaction as the memory
itself. That makes supersession exact for every process sharing the spool file (one machine); server replicas
with spools of their own do not see each other's ledgers, so with Arc keep the writers of keyed facts on one
machine, or use PostgreSQL (docs/core.md says this too). The table is never pruned: it holds one small row per
keyed or superseded memory, and it must be backed up with the spool file.

Reads ask Arc and the spool for memories as before and use the ledger to set each memory's fact fields and to
leave out the versions that are not valid at the time read (`ArcEventStore`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ...facts import Version, fingerprint, key_prefix_bounds, valid_from
from ...records import MemoryFilter, MemoryRecord

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS facts (
        seq INTEGER PRIMARY KEY,
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        fact_key TEXT,
        agent_id TEXT NOT NULL,
        session_id TEXT,
        time_us INTEGER NOT NULL,
        valid_from_us INTEGER NOT NULL,
        valid_until_us INTEGER,
        superseded_by TEXT,
        fingerprint TEXT NOT NULL,
        UNIQUE (org_id, id)
    )""",
    "CREATE INDEX IF NOT EXISTS facts_key ON facts(org_id, fact_key, valid_from_us) WHERE fact_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS facts_ended ON facts(org_id, valid_until_us) WHERE valid_until_us IS NOT NULL",
]
MAX_KEYED_IDS = 10_000
"""The most versions one read by key or key prefix considers (the newest by valid_from)."""
_CHUNK = 500
_VERSION = "SELECT id, valid_from_us, valid_until_us, superseded_by, fingerprint FROM facts"
_INSERT = (
    "INSERT INTO facts (org_id, id, fact_key, agent_id, session_id, time_us, valid_from_us, valid_until_us, "
    "superseded_by, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


class SpoolFactLedger:
    """`memtrace.facts.FactLedger` over the spool's write transaction. `lookup` finds a memory the ledger does
    not hold yet (an unkeyed memory superseded by id), in the spool or in Arc."""

    def __init__(
        self, conn: sqlite3.Connection, org_id: str, lookup: Callable[[str], MemoryRecord | None]
    ) -> None:
        self.conn = conn
        self.org_id = org_id
        self.lookup = lookup
        self._outside: dict[str, MemoryRecord] = {}

    def _one(self, sql: str, params: tuple[Any, ...]) -> Version | None:
        row = self.conn.execute(sql, params).fetchone()
        return Version(*row) if row is not None else None

    def at(self, key: str, t: int) -> Version | None:
        return self._one(
            f"{_VERSION} WHERE org_id = ? AND fact_key = ? AND valid_from_us <= ? "
            "ORDER BY valid_from_us DESC, seq DESC LIMIT 1",
            (self.org_id, key, t),
        )

    def after(self, key: str, t: int) -> Version | None:
        return self._one(
            f"{_VERSION} WHERE org_id = ? AND fact_key = ? AND valid_from_us > ? ORDER BY valid_from_us, seq LIMIT 1",
            (self.org_id, key, t),
        )

    def by_id(self, memory_id: str) -> Version | None:
        found = self._one(f"{_VERSION} WHERE org_id = ? AND id = ?", (self.org_id, memory_id))
        if found is not None:
            return found
        record = self.lookup(memory_id)
        if record is None:
            return None
        self._outside[memory_id] = record
        return Version(
            record.id, valid_from(record), None, None, fingerprint(record.content, record.metadata_json)
        )

    def cut(self, memory_id: str, valid_until_us: int, superseded_by: str) -> None:
        outside = self._outside.pop(memory_id, None)
        if outside is not None:
            self.record(outside)
        self.conn.execute(
            "UPDATE facts SET valid_until_us = ?, superseded_by = ? WHERE org_id = ? AND id = ?",
            (valid_until_us, superseded_by, self.org_id, memory_id),
        )

    def record(self, r: MemoryRecord) -> None:
        """Enter a placed version (or a memory about to be superseded) into the ledger."""
        self.conn.execute(
            _INSERT,
            (
                self.org_id,
                r.id,
                r.fact_key,
                r.agent_id,
                r.session_id,
                r.time_us,
                valid_from(r),
                r.valid_until_us,
                r.superseded_by,
                fingerprint(r.content, r.metadata_json),
            ),
        )


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def annotate(conn: sqlite3.Connection, org_id: str, records: Sequence[MemoryRecord]) -> None:
    """Set the fact fields of `records` from the ledger (a memory it does not hold is unkeyed and current)."""
    ids = [r.id for r in records]
    found: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            "SELECT id, fact_key, valid_from_us, valid_until_us, superseded_by FROM facts "
            f"WHERE org_id = ? AND id IN ({','.join('?' * len(chunk))})",
            [org_id, *chunk],
        ).fetchall()
        found.update((row[0], row[1:]) for row in rows)
    for r in records:
        row = found.get(r.id)
        if row is not None:
            r.fact_key, r.valid_from_us, r.valid_until_us, r.superseded_by = row


def _scope(org_id: str, flt: MemoryFilter) -> tuple[list[str], list[Any]]:
    """Conditions on the ledger's copies of the memory columns, to narrow what a read must look at."""
    clauses: list[str] = ["org_id = ?"]
    params: list[Any] = [org_id]
    for column, value in (("agent_id", flt.agent_id), ("session_id", flt.session_id)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if flt.since_us is not None:
        clauses.append("time_us > ?")
        params.append(flt.since_us)
    if flt.until_us is not None:
        clauses.append("time_us < ?")
        params.append(flt.until_us)
    return clauses, params


def _valid(flt: MemoryFilter) -> tuple[list[str], list[Any]]:
    """The ledger conditions for "valid in the view `flt` asks for"."""
    if flt.as_of_us is not None:
        return (
            ["valid_from_us <= ?", "(valid_until_us IS NULL OR valid_until_us > ?)"],
            [flt.as_of_us, flt.as_of_us],
        )
    if flt.current_only:
        return ["valid_until_us IS NULL"], []
    return [], []


def keyed_ids(conn: sqlite3.Connection, org_id: str, flt: MemoryFilter) -> list[str]:
    """The versions `flt` asks for by key or key prefix, valid in its view (newest `MAX_KEYED_IDS`)."""
    clauses, params = _scope(org_id, flt)
    if flt.fact_key is not None:
        clauses.append("fact_key = ?")
        params.append(flt.fact_key)
    if flt.fact_key_prefix:
        clauses.append("fact_key >= ? AND fact_key < ?")
        params.extend(key_prefix_bounds(flt.fact_key_prefix))
    elif flt.fact_key_prefix is not None:
        clauses.append("fact_key IS NOT NULL")
    valid, valid_params = _valid(flt)
    sql = f"SELECT id FROM facts WHERE {' AND '.join([*clauses, *valid])} ORDER BY valid_from_us DESC LIMIT ?"
    return [row[0] for row in conn.execute(sql, [*params, *valid_params, MAX_KEYED_IDS])]


def invalid_ids(conn: sqlite3.Connection, org_id: str, flt: MemoryFilter) -> list[str]:
    """The memories in scope of `flt` that are not valid in its view (superseded, or not yet or no longer
    valid at `as_of`): a read leaves them out."""
    clauses, params = _scope(org_id, flt)
    if flt.as_of_us is not None:
        clauses.append("(valid_from_us > ? OR valid_until_us <= ?)")
        params.extend((flt.as_of_us, flt.as_of_us))
    else:
        clauses.append("valid_until_us IS NOT NULL")
    return [row[0] for row in conn.execute(f"SELECT id FROM facts WHERE {' AND '.join(clauses)}", params)]


def late_ids(conn: sqlite3.Connection, org_id: str, flt: MemoryFilter) -> list[str]:
    """For an as-of read: the memories valid at `as_of` that were written after it (backfills with an earlier
    valid_from), which a time bound of ``time <= as_of`` would miss."""
    assert flt.as_of_us is not None
    clauses, params = _scope(org_id, flt)
    valid, valid_params = _valid(flt)
    clauses += [*valid, "time_us > ?"]
    params += [*valid_params, flt.as_of_us]
    return [row[0] for row in conn.execute(f"SELECT id FROM facts WHERE {' AND '.join(clauses)}", params)]


def forget(conn: sqlite3.Connection, org_id: str, ids: Sequence[str]) -> None:
    """Remove deleted memories from the ledger (versions they superseded stay superseded, as in every store)."""
    for chunk in _chunks(ids):
        conn.execute(
            f"DELETE FROM facts WHERE org_id = ? AND id IN ({','.join('?' * len(chunk))})", [org_id, *chunk]
        )


__all__ = [
    "MAX_KEYED_IDS",
    "SCHEMA",
    "SpoolFactLedger",
    "annotate",
    "forget",
    "invalid_ids",
    "keyed_ids",
    "late_ids",
]
