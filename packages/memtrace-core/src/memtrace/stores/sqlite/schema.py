"""Versioned schema. Each migration is a list of statements; `PRAGMA user_version` records how far a file is.

Append new migrations at the end; never edit a released one. A migration may call the SQL functions of
`register_schema_functions`, which every connection that migrates registers first.
"""

from __future__ import annotations

import hashlib
import sqlite3


def dedup_hash(key: str) -> int:
    """The 64-bit integer the dedup index is keyed by: the first 8 bytes of BLAKE2b of the dedup key, signed.

    A memory's dedup key is 32 hex characters (or any text a caller chose); in the index it was ~60 bytes an
    entry (org, key, time) at a random position, so once the index outgrew the page cache every insert missed
    it. Keyed by this integer the entry is ~20 bytes. Two keys sharing a hash is harmless: the lookup compares
    the stored key itself (stores/sqlite/events.py)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def register_schema_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions migrations use, on `conn`."""
    conn.create_function("memtrace_dedup_hash", 1, dedup_hash, deterministic=True)


MIGRATIONS: list[list[str]] = [
    # 1: memories with their keyword index, and metadata.
    [
        """CREATE TABLE memories (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            org_id TEXT NOT NULL,
            time_us INTEGER NOT NULL,
            agent_id TEXT NOT NULL,
            session_id TEXT,
            memory_type TEXT NOT NULL,
            event_type TEXT NOT NULL,
            content TEXT NOT NULL,
            metadata_json TEXT,
            tags TEXT,            -- ',a,b,' so a whole tag matches with instr(tags, ',a,')
            dedup_key TEXT,
            importance REAL,
            parent_id TEXT,
            -- Stored nowhere (VIRTUAL): the org, agent and session as single keyword tokens (hex, so no tokenizer
            -- or stemmer can split or merge them), indexed in memories_fts so scoped searches narrow inside FTS5.
            scope TEXT GENERATED ALWAYS AS (
                'o' || hex(org_id) || ' a' || hex(agent_id) || COALESCE(' s' || hex(session_id), '')
            ) VIRTUAL
        )""",
        # Few indexes on purpose: each costs ~2-3 us per ingested row (bench/RESULTS.md).
        "CREATE UNIQUE INDEX memories_id ON memories(id)",
        "CREATE INDEX memories_org_time ON memories(org_id, time_us)",
        "CREATE INDEX memories_agent_time ON memories(org_id, agent_id, time_us)",
        "CREATE INDEX memories_session_time ON memories(org_id, session_id, time_us) WHERE session_id IS NOT NULL",
        "CREATE INDEX memories_dedup ON memories(org_id, dedup_key, time_us) WHERE dedup_key IS NOT NULL",
        """CREATE VIRTUAL TABLE memories_fts USING fts5(
            content, scope, content='memories', content_rowid='rowid',
            tokenize='porter unicode61 remove_diacritics 2'
        )""",
        # Keyword indexing runs behind the writes (see SQLiteEventStore): rows with rowid <= indexed_rowid are in
        # memories_fts, later ones are not yet.
        "CREATE TABLE fts_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_rowid INTEGER NOT NULL)",
        "INSERT INTO fts_state (id, indexed_rowid) VALUES (1, 0)",
        """CREATE TABLE orgs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            settings_json TEXT
        )""",
        """CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            org_id TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT,
            config_json TEXT,
            created_us INTEGER NOT NULL,
            last_active_us INTEGER,
            UNIQUE (org_id, name)
        )""",
        """CREATE TABLE sessions (
            org_id TEXT NOT NULL,
            id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            status TEXT NOT NULL,
            metadata_json TEXT,
            created_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL,
            closed_us INTEGER,
            PRIMARY KEY (org_id, id)
        )""",
        "CREATE INDEX sessions_agent ON sessions(org_id, agent_id)",
        """CREATE TABLE api_keys (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            org_id TEXT NOT NULL,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL,
            key_prefix TEXT NOT NULL,
            permissions TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            expires_us INTEGER,
            enabled INTEGER NOT NULL DEFAULT 1,
            UNIQUE (org_id, name)
        )""",
        "CREATE INDEX api_keys_prefix ON api_keys(key_prefix)",
    ],
    # 2: the organisations' Arc instances (before: a separate arc.db beside the data), and change counters the
    # server polls instead of re-reading whole tables.
    [
        """CREATE TABLE arc_instances (
            org_id TEXT PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,
            database TEXT NOT NULL,
            measurement TEXT NOT NULL,
            token_cipher BLOB NOT NULL,
            token_nonce BLOB NOT NULL,
            admin_cipher BLOB,
            admin_nonce BLOB,
            created_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL
        )""",
        "CREATE TABLE change_counters (name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
        "INSERT INTO change_counters (name, version) VALUES ('api_keys', 0), ('arc_instances', 0)",
    ],
    # 3: one keyword index per organisation (org_index.py), so search statistics are per organisation. The shared
    # index goes; the per-organisation ones are filled from the memories by the next catch-up.
    [
        "DROP TABLE memories_fts",
        "CREATE TABLE fts_orgs (n INTEGER PRIMARY KEY AUTOINCREMENT, org_id TEXT NOT NULL UNIQUE)",
        "UPDATE fts_state SET indexed_rowid = 0 WHERE id = 1",
    ],
    # The audit trail (memtrace.audit): destructive and privileged actions, kept in the metadata store so every
    # process sharing the store writes one trail. Read newest first by id, per organisation or all; pruned by time.
    [
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time_us INTEGER NOT NULL,
            org_id TEXT NOT NULL,
            key_id INTEGER,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            filter_json TEXT,
            counts_json TEXT
        )""",
        "CREATE INDEX audit_log_org ON audit_log(org_id, id)",
        "CREATE INDEX audit_log_time ON audit_log(time_us)",
    ],
    # Expiry (memtrace.sweep): when a memory stops being returned, NULL for never. The index is partial, so a write
    # without an expiry (nearly all of them) pays nothing for it; it finds what a sweep deletes, and whether an
    # org has any expired memory at all (so ranked search keeps its fast plan when none has).
    [
        "ALTER TABLE memories ADD COLUMN expires_us INTEGER",
        "CREATE INDEX memories_expiry ON memories(org_id, expires_us) WHERE expires_us IS NOT NULL",
    ],
    # Retention policies (memtrace.retention): per organisation, per memory type or '*' for every type without
    # its own row; max_age_us NULL keeps memories forever.
    [
        """CREATE TABLE retention_policies (
            org_id TEXT NOT NULL,
            memory_type TEXT NOT NULL,
            max_age_us INTEGER,
            updated_us INTEGER NOT NULL,
            PRIMARY KEY (org_id, memory_type)
        )""",
    ],
    # Memory ids unique per organisation, not per file (as in PostgreSQL): an organisation can be imported into
    # another of the same store (a copy), and whether an id is taken says nothing about another tenant.
    [
        "DROP INDEX memories_id",
        "CREATE UNIQUE INDEX memories_id ON memories(org_id, id)",
    ],
    # The dedup index keyed by a 64-bit hash of the key (schema.dedup_hash) instead of (org, key text, time):
    # a third of the size, so a growing store keeps it in the page cache (docs/core.md). Existing rows get
    # their hash here; the org and the key itself are checked on the row, which a lookup reads only on a hit.
    [
        "ALTER TABLE memories ADD COLUMN dedup_h INTEGER",
        "UPDATE memories SET dedup_h = memtrace_dedup_hash(dedup_key) WHERE dedup_key IS NOT NULL",
        "DROP INDEX memories_dedup",
        "CREATE INDEX memories_dedup_h ON memories(dedup_h, time_us) WHERE dedup_h IS NOT NULL",
    ],
    # Facts that change (memtrace.facts): a memory's fact key and validity. The index is partial, so unkeyed
    # writes do not pay for it; it finds a key's versions by valid_from (the current one is the last).
    [
        "ALTER TABLE memories ADD COLUMN fact_key TEXT",
        "ALTER TABLE memories ADD COLUMN valid_from_us INTEGER",
        "ALTER TABLE memories ADD COLUMN valid_until_us INTEGER",
        "ALTER TABLE memories ADD COLUMN superseded_by TEXT",
        "CREATE INDEX memories_fact ON memories(org_id, fact_key, valid_from_us) WHERE fact_key IS NOT NULL",
    ],
    # Keyword index keys that keep each agent's memories together (org_index.py): an agent's search reads its own
    # stretch of each doclist. The tables become contentless, keyed by (block, agent slot, rowid in block); the
    # old tables are no longer mapped (the store drops them) and the next catch-up indexes every memory again.
    [
        """CREATE TABLE fts_agents (
            org_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            slot INTEGER NOT NULL,
            PRIMARY KEY (org_id, agent_id)
        ) WITHOUT ROWID""",
        "DELETE FROM fts_orgs",
        "UPDATE fts_state SET indexed_rowid = 0 WHERE id = 1",
    ],
    # Which memories are superseded (memtrace.facts), per org and agent. Partial, so only superseded versions are
    # in it and a write that supersedes nothing pays nothing. A count asks it whether any memory in its scope is
    # superseded; when none is, "current only" is true of every row and the count reads an index alone instead
    # of every row it counts (SQLiteEventStore.count).
    [
        "CREATE INDEX memories_superseded ON memories(org_id, agent_id) WHERE valid_until_us IS NOT NULL",
    ],
    # The dashboard's session pages (`page_sessions`), most recently updated first, of the whole org or of one
    # status: read as an index walk from the newest, so a page costs its offset and length, not a sort of every
    # session of the org (20,000 sessions: first page 8.3 -> 1.0 ms, second page of the active ones 13.7 -> 0.3).
    # A session row is written when it is opened and when it is updated or closed (update_session), not per
    # memory, so the two entries cost its few writes little (bench/RECORDED.md, 2026-12-06).
    [
        "CREATE INDEX sessions_updated ON sessions(org_id, updated_us, created_us, id)",
        "CREATE INDEX sessions_status_updated ON sessions(org_id, status, updated_us, created_us, id)",
    ],
]
