"""One FTS5 keyword index per organisation, so that search statistics are per organisation (invariant 2).

FTS5's ``bm25()`` takes the number of rows, the average row length and each term's document frequency over its
whole table. With every organisation in one table, another organisation's memories changed my scores and
rankings, and a score for a rare word told me whether anyone else had stored it. With a table per organisation,
those statistics are exactly mine.

``fts_orgs`` maps an organisation to the number of its table, ``memories_fts_<n>`` (a number from our own table,
never text from a caller, so it is safe in SQL). Each table is external-content over ``memories``, like the
single table was; rows get in through `KeywordIndexes.index_after` and out through `KeywordIndexes.remove`.
Tables are made on an organisation's first indexed memory and kept (empty) when its memories go.

Cost: a store with many organisations has many tables (FTS5 keeps four shadow tables for each), which makes
opening a connection slower by about a millisecond per hundred organisations; PostgreSQL is the store for
thousands of tenants. Searches are as fast as before, or faster: a search reads only its organisation's doclists.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict

FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

# Keys. A memory's row in its org's index is not its rowid but a key that keeps each agent's memories together
# within blocks of 2**BLOCK_BITS rowids: (block, agent slot, rowid within the block). FTS5 keeps every doclist
# in key order, so an agent's search reads, per block, only that agent's stretch of each doclist (a seek with
# the doclist index) instead of every entry: at 1,000,000 memories and 100 agents, a hundredth of the work.
# Blocks keep key order close to time order, so a rank window ("the newest N matches") stays exact at the cost
# of one block's matches (`rank_window` in events.py). Agent slots are numbered per org in ``fts_agents``.
BLOCK_BITS = 20
SLOT_BITS = 20
_LOW = (1 << BLOCK_BITS) - 1
_HIGH_SHIFT = BLOCK_BITS + SLOT_BITS
MAX_SLOT = (1 << SLOT_BITS) - 1
"""Agents past this many in one org share slot 0 (their searches narrow by the scope token alone)."""


def key_sql(slot: str, rowid: str) -> str:
    """SQL for the index key of the memory `rowid` of the agent in slot `slot` (both SQL expressions)."""
    return f"((({rowid} >> {BLOCK_BITS}) << {_HIGH_SHIFT}) | ({slot} << {BLOCK_BITS}) | ({rowid} & {_LOW}))"


def rowid_sql(key: str) -> str:
    """SQL for the memory rowid of the index key `key`."""
    return f"((({key} >> {_HIGH_SHIFT}) << {BLOCK_BITS}) | ({key} & {_LOW}))"


def key_rowid(key: int) -> int:
    return ((key >> _HIGH_SHIFT) << BLOCK_BITS) | (key & _LOW)


def block_start(key: int) -> int:
    """The lowest key of the block `key` is in."""
    return (key >> _HIGH_SHIFT) << _HIGH_SHIFT


def agent_ranges(slot: int, newest_rowid: int) -> list[tuple[int, int]]:
    """The key ranges holding the memories of the agent in `slot`, newest block first."""
    out = []
    for block in range(newest_rowid >> BLOCK_BITS, -1, -1):
        lo = (block << _HIGH_SHIFT) | (slot << BLOCK_BITS)
        out.append((lo, lo | _LOW))
    return out


def table_ddl(name: str) -> str:
    """The CREATE statement of a keyword index table named `name` (content and scope columns, as searched).
    Contentless: its rows are keyed by `key_sql`, not by the memories' rowid, and it never reads the content
    back (removal passes the old values, as FTS5 requires)."""
    return f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5(content, scope, content='', tokenize='{FTS_TOKENIZER}')"


def table_name(number: int) -> str:
    return f"memories_fts_{int(number)}"


_CHUNK = 50_000
"""Rows indexed per statement: each chunk's keys go in ascending order (FTS5 writes a segment whenever a key is
not above the previous one), and a chunk is sorted in memory."""

_KEYED = (
    f"SELECT {key_sql('a.slot', 'm.rowid')} AS k, m.content, m.scope FROM memories m "
    "JOIN fts_agents a ON a.org_id = m.org_id AND a.agent_id = m.agent_id"
)


_OPTIMIZE_FROM = 100_000
"""A full indexing of at least this many rows ends with FTS5's 'optimize' (all segments merged into one)."""


def newest_rowid(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM memories").fetchone()[0])


class KeywordIndexes:
    """Finds (and on first use makes) each organisation's keyword index table and agent slots. The org -> table
    and agent -> slot mappings never change once made, so they are cached for the life of the store."""

    def __init__(self) -> None:
        self._tables: dict[str, str] = {}
        self._slots: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def table(self, conn: sqlite3.Connection, org_id: str) -> str | None:
        """The org's table, or None if nothing of the org was ever indexed."""
        name = self._tables.get(org_id)
        if name is None:
            row = conn.execute("SELECT n FROM fts_orgs WHERE org_id = ?", (org_id,)).fetchone()
            if row is None:
                return None
            name = table_name(row[0])
            if (
                not conn.in_transaction
            ):  # only a committed mapping is cached; a rolled-back one could be reused
                with self._lock:
                    self._tables[org_id] = name
        return name

    def slot(self, conn: sqlite3.Connection, org_id: str, agent_id: str) -> int | None:
        """The agent's slot in its org's index, or None if nothing of the agent was ever indexed."""
        found = self._slots.get((org_id, agent_id))
        if found is None:
            row = conn.execute(
                "SELECT slot FROM fts_agents WHERE org_id = ? AND agent_id = ?", (org_id, agent_id)
            ).fetchone()
            if row is None:
                return None
            found = int(row[0])
            if not conn.in_transaction:
                with self._lock:
                    self._slots[(org_id, agent_id)] = found
        return found

    def _table_for_write(self, conn: sqlite3.Connection, org_id: str) -> str:
        """The org's table, made if needed. Call inside a write transaction."""
        name = self.table(conn, org_id)
        if name is not None:
            return name
        number = conn.execute("INSERT INTO fts_orgs (org_id) VALUES (?) RETURNING n", (org_id,)).fetchone()[0]
        conn.execute(table_ddl(table_name(number)))
        return table_name(number)

    @staticmethod
    def _drop_unmapped(conn: sqlite3.Connection) -> None:
        """Drop keyword index tables no org maps to (the layout before keys, after its migration)."""
        mapped = {table_name(n) for (n,) in conn.execute("SELECT n FROM fts_orgs")}
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'memories_fts_[0-9]*' "
            "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        ).fetchall():
            if name not in mapped:
                conn.execute(f"DROP TABLE {name}")

    def index_after(self, conn: sqlite3.Connection, indexed: int) -> None:
        """Index every memory with rowid > `indexed` into its organisation's table. Call inside a write
        transaction."""
        if indexed == 0:
            self._drop_unmapped(conn)
        tables = self._index_chunks(conn, indexed)
        if indexed == 0 and newest_rowid(conn) >= _OPTIMIZE_FROM:
            # Indexing a whole store (after the migration to keys): one segment instead of one per chunk, so a
            # search looks each term up once per block rather than once per segment.
            for table in tables:
                conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")

    def _index_chunks(self, conn: sqlite3.Connection, indexed: int) -> set[str]:
        """Index the rows after `indexed` chunk by chunk; returns the tables written."""
        written: set[str] = set()
        # Slots for the agents new to the index, numbered per org in order of first appearance.
        conn.execute(
            "INSERT INTO fts_agents (org_id, agent_id, slot) "
            "SELECT n.org_id, n.agent_id, MIN(?, COALESCE((SELECT MAX(slot) FROM fts_agents a "
            "WHERE a.org_id = n.org_id), 0) + row_number() OVER (PARTITION BY n.org_id ORDER BY n.first)) "
            "FROM (SELECT org_id, agent_id, MIN(rowid) AS first FROM memories WHERE rowid > ? "
            "GROUP BY org_id, agent_id) AS n WHERE NOT EXISTS (SELECT 1 FROM fts_agents a "
            "WHERE a.org_id = n.org_id AND a.agent_id = n.agent_id)",
            (MAX_SLOT, indexed),
        )
        newest = newest_rowid(conn)
        for lo in range(indexed, newest, _CHUNK):
            hi = min(lo + _CHUNK, newest)
            orgs = [
                o
                for (o,) in conn.execute(
                    "SELECT DISTINCT org_id FROM memories WHERE rowid > ? AND rowid <= ?", (lo, hi)
                )
            ]
            if len(orgs) == 1:
                table = self._table_for_write(conn, orgs[0])
                written.add(table)
                conn.execute(
                    f"INSERT INTO {table}(rowid, content, scope) {_KEYED} WHERE m.rowid > ? AND m.rowid <= ? "
                    "ORDER BY k",
                    (lo, hi),
                )
                continue
            # Several organisations in the chunk: one pass over it, grouped here, rather than one pass per org.
            by_org: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
            for key, org_id, content, scope in conn.execute(
                f"SELECT {key_sql('a.slot', 'm.rowid')}, m.org_id, m.content, m.scope FROM memories m "
                "JOIN fts_agents a ON a.org_id = m.org_id AND a.agent_id = m.agent_id "
                "WHERE m.rowid > ? AND m.rowid <= ?",
                (lo, hi),
            ):
                by_org[org_id].append((key, content, scope))
            for org_id, rows in by_org.items():
                table = self._table_for_write(conn, org_id)
                written.add(table)
                rows.sort()
                conn.executemany(f"INSERT INTO {table}(rowid, content, scope) VALUES (?, ?, ?)", rows)
        return written

    def index_in_memory(self, conn: sqlite3.Connection, org_id: str, indexed: int) -> str:
        """The org's memories after `indexed` in a keyword index held in memory (a TEMP table, with
        ``temp_store=MEMORY``), for searching while the database cannot be written. Returns its name. One table
        per org (named by the org id in hex), so its statistics too are the org's alone."""
        name = f"memories_fts_pending_{org_id.encode().hex()}"
        conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{name} USING fts5(content, scope, content='', "
            f"tokenize='{FTS_TOKENIZER}')"
        )
        conn.execute(f"INSERT INTO temp.{name}({name}) VALUES ('delete-all')")
        conn.execute(
            f"INSERT INTO temp.{name}(rowid, content, scope) SELECT rowid, content, scope FROM memories "
            "WHERE rowid > ? AND org_id = ?",
            (indexed, org_id),
        )
        return name

    def remove(
        self,
        conn: sqlite3.Connection,
        org_id: str,
        where: str,
        params: list[object],
        upto: int,
        *,
        indexed_by: str = "",
    ) -> None:
        """Take the org's memories matching `where` (over ``memories m``) with rowid <= `upto` out of its index.
        External-content FTS5 needs the old content to remove a row, and only indexed rows may be removed
        (a 'delete' of a row it never saw corrupts the index). Call inside the write transaction that deletes
        the rows, before it deletes them. `indexed_by` (`` INDEXED BY <index>``) picks the index that finds them."""
        table = self.table(conn, org_id)
        if table is None:
            return
        # In key order: FTS5 writes a segment whenever a key is not above the previous one.
        conn.execute(
            f"INSERT INTO {table}({table}, rowid, content, scope) "
            f"SELECT 'delete', {key_sql('a.slot', 'm.rowid')} AS k, m.content, m.scope FROM memories m{indexed_by} "
            "JOIN fts_agents a ON a.org_id = m.org_id AND a.agent_id = m.agent_id "
            f"WHERE {where} AND m.rowid <= ? ORDER BY k",
            [*params, upto],
        )


__all__ = [
    "FTS_TOKENIZER",
    "KeywordIndexes",
    "agent_ranges",
    "block_start",
    "key_rowid",
    "key_sql",
    "rowid_sql",
    "table_ddl",
    "table_name",
]
