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


def table_ddl(name: str) -> str:
    """The CREATE statement of a keyword index table named `name` (content and scope columns, as searched)."""
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5(content, scope, content='memories', "
        f"content_rowid='rowid', tokenize='{FTS_TOKENIZER}')"
    )


def table_name(number: int) -> str:
    return f"memories_fts_{int(number)}"


class KeywordIndexes:
    """Finds (and on first use makes) each organisation's keyword index table. The org -> table mapping never
    changes once made, so it is cached for the life of the store."""

    def __init__(self) -> None:
        self._tables: dict[str, str] = {}
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

    def _table_for_write(self, conn: sqlite3.Connection, org_id: str) -> str:
        """The org's table, made if needed. Call inside a write transaction."""
        name = self.table(conn, org_id)
        if name is not None:
            return name
        number = conn.execute("INSERT INTO fts_orgs (org_id) VALUES (?) RETURNING n", (org_id,)).fetchone()[0]
        conn.execute(table_ddl(table_name(number)))
        return table_name(number)

    def index_after(self, conn: sqlite3.Connection, indexed: int) -> None:
        """Index every memory with rowid > `indexed` into its organisation's table. Call inside a write
        transaction."""
        orgs = [
            o for (o,) in conn.execute("SELECT DISTINCT org_id FROM memories WHERE rowid > ?", (indexed,))
        ]
        if len(orgs) == 1:
            table = self._table_for_write(conn, orgs[0])
            conn.execute(
                f"INSERT INTO {table}(rowid, content, scope) SELECT rowid, content, scope FROM memories "
                "WHERE rowid > ?",
                (indexed,),
            )
            return
        # Several organisations in the backlog: one pass over it, grouped here, rather than one pass per org.
        by_org: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for rowid, org_id, content, scope in conn.execute(
            "SELECT rowid, org_id, content, scope FROM memories WHERE rowid > ?", (indexed,)
        ):
            by_org[org_id].append((rowid, content, scope))
        for org_id, rows in by_org.items():
            table = self._table_for_write(conn, org_id)
            conn.executemany(f"INSERT INTO {table}(rowid, content, scope) VALUES (?, ?, ?)", rows)

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
        conn.execute(
            f"INSERT INTO {table}({table}, rowid, content, scope) "
            f"SELECT 'delete', m.rowid, m.content, m.scope FROM memories m{indexed_by} WHERE {where} AND m.rowid <= ?",
            [*params, upto],
        )


__all__ = ["FTS_TOKENIZER", "KeywordIndexes", "table_ddl", "table_name"]
