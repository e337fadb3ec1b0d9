"""`SQLiteMetadataStore`: organisations, agents, sessions, API keys, Arc instances and the audit trail. Bound parameters only.

Every write is one transaction taken with SQLite's write lock (`SQLiteDatabase.write`), so a read inside it (the
row an insert-if-absent found) is the stored truth, whichever process wrote it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from ...errors import ConflictError
from ..audit_query import audit_where
from ..base import (
    AgentRow,
    AgentSessionCounts,
    ApiKeyRow,
    ArcInstanceRow,
    AuditRow,
    OrgRow,
    RetentionRow,
    SessionOrder,
    SessionPage,
    SessionRow,
)
from ..session_query import SESSION_COUNTS_BY_AGENT, session_order_by, session_where
from .database import SQLiteDatabase

_AGENT_COLS = "id, org_id, name, description, config_json, created_us, last_active_us"
_SESSION_COLS = "id, org_id, agent_id, status, metadata_json, created_us, updated_us, closed_us"
_KEY_COLS = "id, org_id, name, key_hash, key_prefix, permissions, created_us, expires_us, enabled"
_ARC_COLS = (
    "id, org_id, url, database, measurement, token_cipher, token_nonce, admin_cipher, admin_nonce, "
    "created_us, updated_us"
)
_AUDIT_COLS = "id, time_us, org_id, key_id, actor, action, filter_json, counts_json"
_KEYS_COUNTER = "api_keys"
_ARC_COUNTER = "arc_instances"


def _key(row: tuple[Any, ...]) -> ApiKeyRow:
    id_, org_id, name, key_hash, key_prefix, permissions, created_us, expires_us, enabled = row[:9]
    return ApiKeyRow(
        id_, org_id, name, key_hash, key_prefix, permissions, created_us, expires_us, bool(enabled)
    )


def _arc(row: tuple[Any, ...]) -> ArcInstanceRow:
    return ArcInstanceRow(*row)


def _bump(conn: sqlite3.Connection, counter: str) -> None:
    conn.execute("UPDATE change_counters SET version = version + 1 WHERE name = ?", (counter,))


class SQLiteMetadataStore:
    """Metadata in a `SQLiteDatabase`."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    # organisations
    def create_org(self, org_id: str, name: str, now_us: int) -> OrgRow:
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO orgs (id, name, created_us) VALUES (?, ?, ?)", (org_id, name, now_us)
                )
        except sqlite3.IntegrityError:
            raise ConflictError(f"organization '{org_id}' already exists") from None
        return OrgRow(org_id, name, now_us)

    def ensure_org(self, org_id: str, name: str, now_us: int) -> OrgRow:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO orgs (id, name, created_us) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (org_id, name, now_us),
            )
            row = conn.execute("SELECT id, name, created_us FROM orgs WHERE id = ?", (org_id,)).fetchone()
        return OrgRow(*row)

    def get_org(self, org_id: str) -> OrgRow | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT id, name, created_us FROM orgs WHERE id = ?", (org_id,)).fetchone()
        return OrgRow(*row) if row else None

    def list_orgs(self) -> list[OrgRow]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, name, created_us FROM orgs ORDER BY created_us, id").fetchall()
        return [OrgRow(*r) for r in rows]

    def delete_org(self, org_id: str) -> bool:
        """Delete the org with its agents, sessions, keys and Arc instance (memories are the event store's)."""
        with self.db.write() as conn:
            for table in ("agents", "sessions", "api_keys", "arc_instances", "retention_policies"):
                conn.execute(f"DELETE FROM {table} WHERE org_id = ?", (org_id,))
            _bump(conn, _KEYS_COUNTER)
            _bump(conn, _ARC_COUNTER)
            return conn.execute("DELETE FROM orgs WHERE id = ?", (org_id,)).rowcount > 0

    # agents
    def create_agent(self, row: AgentRow) -> AgentRow:
        try:
            with self.db.write() as conn:
                conn.execute(
                    f"INSERT INTO agents ({_AGENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.id,
                        row.org_id,
                        row.name,
                        row.description,
                        row.config_json,
                        row.created_us,
                        row.last_active_us,
                    ),
                )
        except sqlite3.IntegrityError:
            raise ConflictError(f"agent '{row.name}' already exists in this organization") from None
        return row

    def get_agent(self, org_id: str, id_or_name: str) -> AgentRow | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_AGENT_COLS} FROM agents WHERE org_id = ? AND (id = ? OR name = ?) "
                "ORDER BY id = ? DESC LIMIT 1",
                (org_id, id_or_name, id_or_name, id_or_name),
            ).fetchone()
        return AgentRow(*row) if row else None

    def list_agents(self, org_id: str) -> list[AgentRow]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_AGENT_COLS} FROM agents WHERE org_id = ? ORDER BY created_us DESC, id DESC",
                (org_id,),
            ).fetchall()
        return [AgentRow(*r) for r in rows]

    def delete_agent(self, org_id: str, agent_id: str) -> bool:
        with self.db.write() as conn:
            return (
                conn.execute("DELETE FROM agents WHERE org_id = ? AND id = ?", (org_id, agent_id)).rowcount
                > 0
            )

    # sessions
    def create_session(self, row: SessionRow, *, exist_ok: bool = False) -> SessionRow:
        try:
            with self.db.write() as conn:
                inserted = conn.execute(
                    f"INSERT INTO sessions ({_SESSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    + (" ON CONFLICT (org_id, id) DO NOTHING" if exist_ok else ""),
                    (
                        row.id,
                        row.org_id,
                        row.agent_id,
                        row.status,
                        row.metadata_json,
                        row.created_us,
                        row.updated_us,
                        row.closed_us,
                    ),
                ).rowcount
                if not inserted:
                    stored = conn.execute(
                        f"SELECT {_SESSION_COLS} FROM sessions WHERE org_id = ? AND id = ?",
                        (row.org_id, row.id),
                    ).fetchone()
                    return SessionRow(*stored)
        except sqlite3.IntegrityError:
            raise ConflictError(f"session '{row.id}' already exists") from None
        return row

    def get_session(self, org_id: str, session_id: str) -> SessionRow | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_SESSION_COLS} FROM sessions WHERE org_id = ? AND id = ?", (org_id, session_id)
            ).fetchone()
        return SessionRow(*row) if row else None

    def list_sessions(self, org_id: str, agent_id: str | None) -> list[SessionRow]:
        sql = f"SELECT {_SESSION_COLS} FROM sessions WHERE org_id = ?"
        params: list[Any] = [org_id]
        if agent_id:
            sql += " AND agent_id = ?"
            params.append(agent_id)
        with self.db.read() as conn:
            rows = conn.execute(sql + " ORDER BY created_us DESC, id DESC", params).fetchall()
        return [SessionRow(*r) for r in rows]

    def update_session(
        self,
        org_id: str,
        session_id: str,
        *,
        status: str | None,
        metadata_json: str | None,
        replace_metadata: bool,
        now_us: int,
    ) -> SessionRow | None:
        sets = ["updated_us = ?"]
        params: list[Any] = [now_us]
        if status is not None:
            sets.append("status = ?")
            params.append(status)
            sets.append("closed_us = CASE WHEN ? = 'closed' THEN ? ELSE closed_us END")
            params.extend([status, now_us])
        if replace_metadata:
            sets.append("metadata_json = ?")
            params.append(metadata_json)
        with self.db.write() as conn:
            row = conn.execute(
                f"UPDATE sessions SET {', '.join(sets)} WHERE org_id = ? AND id = ? RETURNING {_SESSION_COLS}",
                [*params, org_id, session_id],
            ).fetchone()
        return SessionRow(*row) if row else None

    def count_sessions(self, org_id: str, agent_id: str, *, status: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM sessions WHERE org_id = ? AND agent_id = ?"
        params: list[Any] = [org_id, agent_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        with self.db.read() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    def page_sessions(
        self,
        org_id: str,
        *,
        agent_id: str | None,
        status: str | None,
        order: SessionOrder,
        limit: int,
        offset: int,
    ) -> SessionPage:
        where, params = session_where("?", org_id=org_id, agent_id=agent_id, status=status)
        # One agent's sessions: found by the agent index and sorted (that agent's sessions, however many the org
        # has). Without statistics SQLite would rather walk the org's update-ordered index, reading every
        # session of the org newer than the page to find the agent's.
        source = "sessions INDEXED BY sessions_agent" if agent_id is not None else "sessions"
        with self.db.read() as conn:  # one connection under its lock: no write of this process comes between
            rows = conn.execute(
                f"SELECT {_SESSION_COLS} FROM {source}{where} ORDER BY {session_order_by(order)} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            total = conn.execute(f"SELECT COUNT(*) FROM sessions{where}", params).fetchone()[0]
        return SessionPage([SessionRow(*r) for r in rows], int(total))

    def count_sessions_by_agent(self, org_id: str) -> list[AgentSessionCounts]:
        with self.db.read() as conn:
            rows = conn.execute(SESSION_COUNTS_BY_AGENT.format(p="?"), (org_id,)).fetchall()
        return [AgentSessionCounts(a, int(n), int(active), int(newest)) for a, n, active, newest in rows]

    def delete_sessions(self, org_id: str, *, agent_id: str | None, session_id: str | None) -> int:
        if agent_id is None and session_id is None:
            raise ValueError("delete_sessions: give agent_id and/or session_id")
        sql = "DELETE FROM sessions WHERE org_id = ?"
        params: list[Any] = [org_id]
        for column, value in (("agent_id", agent_id), ("id", session_id)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        with self.db.write() as conn:
            return conn.execute(sql, params).rowcount

    # API keys
    def create_api_key(
        self,
        org_id: str,
        name: str,
        key_hash: str,
        key_prefix: str,
        permissions: str,
        now_us: int,
        expires_us: int | None = None,
    ) -> ApiKeyRow:
        try:
            with self.db.write() as conn:
                cur = conn.execute(
                    "INSERT INTO api_keys (org_id, name, key_hash, key_prefix, permissions, created_us, expires_us)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (org_id, name, key_hash, key_prefix, permissions, now_us, expires_us),
                )
                key_id = int(cur.lastrowid or 0)
                _bump(conn, _KEYS_COUNTER)
        except sqlite3.IntegrityError:
            raise ConflictError(f"an API key named '{name}' already exists in '{org_id}'") from None
        return ApiKeyRow(key_id, org_id, name, key_hash, key_prefix, permissions, now_us, expires_us, True)

    def find_api_keys(self, key_prefix: str) -> list[ApiKeyRow]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_KEY_COLS} FROM api_keys WHERE key_prefix = ? AND enabled = 1", (key_prefix,)
            ).fetchall()
        return [_key(r) for r in rows]

    def get_api_key(self, key_id: int) -> ApiKeyRow | None:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_KEY_COLS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    def list_api_keys(self, org_id: str | None = None) -> list[ApiKeyRow]:
        sql = f"SELECT {_KEY_COLS} FROM api_keys"
        params: list[Any] = []
        if org_id:
            sql += " WHERE org_id = ?"
            params.append(org_id)
        with self.db.read() as conn:
            return [_key(r) for r in conn.execute(sql + " ORDER BY id", params).fetchall()]

    def revoke_api_key(self, key_id: int) -> bool:
        with self.db.write() as conn:
            revoked = (
                conn.execute(
                    "UPDATE api_keys SET enabled = 0 WHERE id = ? AND enabled = 1", (key_id,)
                ).rowcount
                > 0
            )
            if revoked:
                _bump(conn, _KEYS_COUNTER)
            return revoked

    def keys_version(self) -> int:
        return self._counter(_KEYS_COUNTER)

    def _counter(self, name: str) -> int:
        with self.db.read() as conn:
            return int(
                conn.execute("SELECT version FROM change_counters WHERE name = ?", (name,)).fetchone()[0]
            )

    # Arc instances
    def put_arc_instance(self, row: ArcInstanceRow) -> ArcInstanceRow:
        with self.db.write() as conn:
            stored = conn.execute(
                f"INSERT INTO arc_instances ({_ARC_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, database = excluded.database, "
                "measurement = excluded.measurement, token_cipher = excluded.token_cipher, "
                "token_nonce = excluded.token_nonce, admin_cipher = excluded.admin_cipher, "
                "admin_nonce = excluded.admin_nonce, updated_us = excluded.updated_us "
                f"RETURNING {_ARC_COLS}",
                (
                    row.id,
                    row.org_id,
                    row.url,
                    row.database,
                    row.measurement,
                    row.token_cipher,
                    row.token_nonce,
                    row.admin_cipher,
                    row.admin_nonce,
                    row.created_us,
                    row.updated_us,
                ),
            ).fetchone()
            _bump(conn, _ARC_COUNTER)
        return _arc(stored)

    def get_arc_instance(self, org_id: str) -> ArcInstanceRow | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_ARC_COLS} FROM arc_instances WHERE org_id = ?", (org_id,)
            ).fetchone()
        return _arc(row) if row else None

    def list_arc_instances(self) -> list[ArcInstanceRow]:
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT {_ARC_COLS} FROM arc_instances ORDER BY org_id").fetchall()
        return [_arc(r) for r in rows]

    def delete_arc_instance(self, org_id: str) -> bool:
        with self.db.write() as conn:
            deleted = conn.execute("DELETE FROM arc_instances WHERE org_id = ?", (org_id,)).rowcount > 0
            if deleted:
                _bump(conn, _ARC_COUNTER)
            return deleted

    def arc_instances_version(self) -> int:
        return self._counter(_ARC_COUNTER)

    # the audit trail
    def append_audit(self, row: AuditRow) -> AuditRow:
        with self.db.write() as conn:
            cur = conn.execute(
                "INSERT INTO audit_log (time_us, org_id, key_id, actor, action, filter_json, counts_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.time_us,
                    row.org_id,
                    row.key_id,
                    row.actor,
                    row.action,
                    row.filter_json,
                    row.counts_json,
                ),
            )
            entry_id = int(cur.lastrowid or 0)
        return dataclasses.replace(row, id=entry_id)

    def list_audit(
        self,
        *,
        org_id: str | None,
        action: str | None,
        since_us: int | None,
        until_us: int | None,
        before_id: int | None,
        limit: int,
    ) -> list[AuditRow]:
        where, params = audit_where(
            "?", org_id=org_id, action=action, since_us=since_us, until_us=until_us, before_id=before_id
        )
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_AUDIT_COLS} FROM audit_log{where} ORDER BY id DESC LIMIT ?", [*params, limit]
            ).fetchall()
        return [AuditRow(*r) for r in rows]

    def prune_audit(self, before_us: int, *, limit: int) -> int:
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM audit_log WHERE id IN "
                "(SELECT id FROM audit_log WHERE time_us < ? ORDER BY time_us LIMIT ?)",
                (before_us, limit),
            ).rowcount

    # retention policies
    def put_retention(self, row: RetentionRow) -> RetentionRow:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO retention_policies (org_id, memory_type, max_age_us, updated_us) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (org_id, memory_type) DO UPDATE SET max_age_us = excluded.max_age_us, "
                "updated_us = excluded.updated_us",
                (row.org_id, row.memory_type, row.max_age_us, row.updated_us),
            )
        return row

    def list_retention(self, org_id: str | None = None) -> list[RetentionRow]:
        sql = "SELECT org_id, memory_type, max_age_us, updated_us FROM retention_policies"
        params: tuple[str, ...] = ()
        if org_id is not None:
            sql += " WHERE org_id = ?"
            params = (org_id,)
        with self.db.read() as conn:
            rows = conn.execute(sql + " ORDER BY org_id, memory_type", params).fetchall()
        return [RetentionRow(*r) for r in rows]

    def delete_retention(self, org_id: str, memory_type: str | None = None) -> int:
        with self.db.write() as conn:
            if memory_type is None:
                cur = conn.execute("DELETE FROM retention_policies WHERE org_id = ?", (org_id,))
            else:
                cur = conn.execute(
                    "DELETE FROM retention_policies WHERE org_id = ? AND memory_type = ?",
                    (org_id, memory_type),
                )
            return int(cur.rowcount)

    def ping(self) -> None:
        with self.db.read() as conn:
            conn.execute("SELECT 1 FROM orgs LIMIT 1").fetchall()

    def close(self) -> None:
        self.db.close()
