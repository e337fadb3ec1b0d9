"""`PostgresMetadataStore`: organisations, agents, sessions, API keys and the audit trail in PostgreSQL. Bound parameters only.

Every write two replicas could race is one statement (``INSERT ... ON CONFLICT``, ``UPDATE ... RETURNING``),
so each caller gets the row as stored. ``change_counters`` holds the numbers a server polls: ``api_keys`` moves
whenever a key is created or revoked or an org is deleted (`keys_version`, one primary-key read).
"""

from __future__ import annotations

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
from .database import PostgresDatabase

_AGENT_COLS = "id, org_id, name, description, config_json, created_us, last_active_us"
_SESSION_COLS = "id, org_id, agent_id, status, metadata_json, created_us, updated_us, closed_us"
_KEY_COLS = "id, org_id, name, key_hash, key_prefix, permissions, created_us, expires_us, enabled"
_ARC_COLS = (
    "id, org_id, url, database, measurement, token_cipher, token_nonce, admin_cipher, admin_nonce, "
    "created_us, updated_us"
)
_AUDIT_COLS = "id, time_us, org_id, key_id, actor, action, filter_json, counts_json"
_BUMP = "UPDATE change_counters SET version = version + 1 WHERE name = %s"


def _key(row: Any) -> ApiKeyRow:
    id_, org_id, name, key_hash, key_prefix, permissions, created_us, expires_us, enabled = row[:9]
    return ApiKeyRow(
        id_, org_id, name, key_hash, key_prefix, permissions, created_us, expires_us, bool(enabled)
    )


def _arc(row: Any) -> ArcInstanceRow:
    values = list(row)
    for i in (5, 6, 7, 8):  # bytea comes back as memoryview... or bytes, depending on the loader
        if values[i] is not None:
            values[i] = bytes(values[i])
    return ArcInstanceRow(*values)


class PostgresMetadataStore:
    """Metadata in a `PostgresDatabase`."""

    def __init__(self, db: PostgresDatabase, *, owns_db: bool = False) -> None:
        self.db = db
        self._owns_db = owns_db

    def _one(self, sql: str, params: Any) -> Any:
        with self.db.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Any = ()) -> list[Any]:
        with self.db.connection() as conn:
            return conn.execute(sql, params).fetchall()

    # organisations
    def create_org(self, org_id: str, name: str, now_us: int) -> OrgRow:
        row = self._one(
            "INSERT INTO orgs (id, name, created_us) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING "
            "RETURNING id, name, created_us",
            (org_id, name, now_us),
        )
        if row is None:
            raise ConflictError(f"organization '{org_id}' already exists")
        return OrgRow(*row)

    def ensure_org(self, org_id: str, name: str, now_us: int) -> OrgRow:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO orgs (id, name, created_us) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (org_id, name, now_us),
            )
            row = conn.execute("SELECT id, name, created_us FROM orgs WHERE id = %s", (org_id,)).fetchone()
        assert row is not None
        return OrgRow(*row)

    def get_org(self, org_id: str) -> OrgRow | None:
        row = self._one("SELECT id, name, created_us FROM orgs WHERE id = %s", (org_id,))
        return OrgRow(*row) if row else None

    def list_orgs(self) -> list[OrgRow]:
        return [
            OrgRow(*r) for r in self._all("SELECT id, name, created_us FROM orgs ORDER BY created_us, id")
        ]

    def delete_org(self, org_id: str) -> bool:
        """Delete the org with its agents, sessions, keys and Arc instance (memories are the event store's)."""
        with self.db.transaction() as conn:
            for table in ("agents", "sessions", "api_keys", "arc_instances", "retention_policies"):
                conn.execute(f"DELETE FROM {table} WHERE org_id = %s", (org_id,))
            conn.execute(_BUMP, ("api_keys",))
            conn.execute(_BUMP, ("arc_instances",))
            return conn.execute("DELETE FROM orgs WHERE id = %s", (org_id,)).rowcount > 0

    # agents
    def create_agent(self, row: AgentRow) -> AgentRow:
        stored = self._one(
            f"INSERT INTO agents ({_AGENT_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING id",
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
        if stored is None:
            raise ConflictError(f"agent '{row.name}' already exists in this organization")
        return row

    def get_agent(self, org_id: str, id_or_name: str) -> AgentRow | None:
        row = self._one(
            f"SELECT {_AGENT_COLS} FROM agents WHERE org_id = %s AND (id = %s OR name = %s) "
            "ORDER BY (id = %s) DESC LIMIT 1",
            (org_id, id_or_name, id_or_name, id_or_name),
        )
        return AgentRow(*row) if row else None

    def list_agents(self, org_id: str) -> list[AgentRow]:
        rows = self._all(
            f"SELECT {_AGENT_COLS} FROM agents WHERE org_id = %s ORDER BY created_us DESC, id DESC", (org_id,)
        )
        return [AgentRow(*r) for r in rows]

    def delete_agent(self, org_id: str, agent_id: str) -> bool:
        with self.db.connection() as conn:
            return (
                conn.execute("DELETE FROM agents WHERE org_id = %s AND id = %s", (org_id, agent_id)).rowcount
                > 0
            )

    # sessions
    def create_session(self, row: SessionRow, *, exist_ok: bool = False) -> SessionRow:
        values = (
            row.id,
            row.org_id,
            row.agent_id,
            row.status,
            row.metadata_json,
            row.created_us,
            row.updated_us,
            row.closed_us,
        )
        with self.db.transaction() as conn:
            stored = conn.execute(
                f"INSERT INTO sessions ({_SESSION_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (org_id, id) DO NOTHING RETURNING id",
                values,
            ).fetchone()
            if stored is not None:
                return row
            if not exist_ok:
                raise ConflictError(f"session '{row.id}' already exists")
            existing = conn.execute(
                f"SELECT {_SESSION_COLS} FROM sessions WHERE org_id = %s AND id = %s",
                (row.org_id, row.id),
            ).fetchone()
        assert existing is not None
        return SessionRow(*existing)

    def get_session(self, org_id: str, session_id: str) -> SessionRow | None:
        row = self._one(
            f"SELECT {_SESSION_COLS} FROM sessions WHERE org_id = %s AND id = %s", (org_id, session_id)
        )
        return SessionRow(*row) if row else None

    def list_sessions(self, org_id: str, agent_id: str | None) -> list[SessionRow]:
        sql = f"SELECT {_SESSION_COLS} FROM sessions WHERE org_id = %s"
        params: list[Any] = [org_id]
        if agent_id:
            sql += " AND agent_id = %s"
            params.append(agent_id)
        return [SessionRow(*r) for r in self._all(sql + " ORDER BY created_us DESC, id DESC", params)]

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
        sets = ["updated_us = %s"]
        params: list[Any] = [now_us]
        if status is not None:
            sets.append("status = %s")
            params.append(status)
            sets.append("closed_us = CASE WHEN %s = 'closed' THEN %s ELSE closed_us END")
            params.extend([status, now_us])
        if replace_metadata:
            sets.append("metadata_json = %s")
            params.append(metadata_json)
        row = self._one(
            f"UPDATE sessions SET {', '.join(sets)} WHERE org_id = %s AND id = %s RETURNING {_SESSION_COLS}",
            [*params, org_id, session_id],
        )
        return SessionRow(*row) if row else None

    def count_sessions(self, org_id: str, agent_id: str, *, status: str | None = None) -> int:
        sql = "SELECT count(*) FROM sessions WHERE org_id = %s AND agent_id = %s"
        params: list[Any] = [org_id, agent_id]
        if status is not None:
            sql += " AND status = %s"
            params.append(status)
        return int(self._one(sql, params)[0])

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
        where, params = session_where("%s", org_id=org_id, agent_id=agent_id, status=status)
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_SESSION_COLS} FROM sessions{where} ORDER BY {session_order_by(order)} LIMIT %s OFFSET %s",
                [*params, limit, offset],
            ).fetchall()
            total = conn.execute(f"SELECT count(*) FROM sessions{where}", params).fetchone()
        assert total is not None
        return SessionPage([SessionRow(*r) for r in rows], int(total[0]))

    def count_sessions_by_agent(self, org_id: str) -> list[AgentSessionCounts]:
        rows = self._all(SESSION_COUNTS_BY_AGENT.format(p="%s"), (org_id,))
        return [AgentSessionCounts(a, int(n), int(active), int(newest)) for a, n, active, newest in rows]

    def delete_sessions(self, org_id: str, *, agent_id: str | None, session_id: str | None) -> int:
        if agent_id is None and session_id is None:
            raise ValueError("delete_sessions: give agent_id and/or session_id")
        sql = "DELETE FROM sessions WHERE org_id = %s"
        params: list[Any] = [org_id]
        for column, value in (("agent_id", agent_id), ("id", session_id)):
            if value is not None:
                sql += f" AND {column} = %s"
                params.append(value)
        with self.db.transaction() as conn:
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
        with self.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO api_keys (org_id, name, key_hash, key_prefix, permissions, created_us, expires_us) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING {_KEY_COLS}",
                (org_id, name, key_hash, key_prefix, permissions, now_us, expires_us),
            ).fetchone()
            if row is None:
                raise ConflictError(f"an API key named '{name}' already exists in '{org_id}'")
            conn.execute(_BUMP, ("api_keys",))
        return _key(row)

    def find_api_keys(self, key_prefix: str) -> list[ApiKeyRow]:
        rows = self._all(f"SELECT {_KEY_COLS} FROM api_keys WHERE key_prefix = %s AND enabled", (key_prefix,))
        return [_key(r) for r in rows]

    def get_api_key(self, key_id: int) -> ApiKeyRow | None:
        row = self._one(f"SELECT {_KEY_COLS} FROM api_keys WHERE id = %s", (key_id,))
        return _key(row) if row else None

    def list_api_keys(self, org_id: str | None = None) -> list[ApiKeyRow]:
        sql = f"SELECT {_KEY_COLS} FROM api_keys"
        params: list[Any] = []
        if org_id:
            sql += " WHERE org_id = %s"
            params.append(org_id)
        return [_key(r) for r in self._all(sql + " ORDER BY id", params)]

    def revoke_api_key(self, key_id: int) -> bool:
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE api_keys SET enabled = false WHERE id = %s AND enabled", (key_id,)
            ).rowcount
            if changed:
                conn.execute(_BUMP, ("api_keys",))
        return changed > 0

    def keys_version(self) -> int:
        return int(self._one("SELECT version FROM change_counters WHERE name = %s", ("api_keys",))[0])

    # organisations' Arc instances
    def put_arc_instance(self, row: ArcInstanceRow) -> ArcInstanceRow:
        with self.db.transaction() as conn:
            stored = conn.execute(
                f"INSERT INTO arc_instances ({_ARC_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
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
            conn.execute(_BUMP, ("arc_instances",))
        return _arc(stored)

    def get_arc_instance(self, org_id: str) -> ArcInstanceRow | None:
        row = self._one(f"SELECT {_ARC_COLS} FROM arc_instances WHERE org_id = %s", (org_id,))
        return _arc(row) if row else None

    def list_arc_instances(self) -> list[ArcInstanceRow]:
        return [_arc(r) for r in self._all(f"SELECT {_ARC_COLS} FROM arc_instances ORDER BY org_id")]

    def delete_arc_instance(self, org_id: str) -> bool:
        with self.db.transaction() as conn:
            deleted = conn.execute("DELETE FROM arc_instances WHERE org_id = %s", (org_id,)).rowcount > 0
            if deleted:
                conn.execute(_BUMP, ("arc_instances",))
        return deleted

    def arc_instances_version(self) -> int:
        return int(self._one("SELECT version FROM change_counters WHERE name = %s", ("arc_instances",))[0])

    # the audit trail
    def append_audit(self, row: AuditRow) -> AuditRow:
        stored = self._one(
            "INSERT INTO audit_log (time_us, org_id, key_id, actor, action, filter_json, counts_json) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_AUDIT_COLS}",
            (row.time_us, row.org_id, row.key_id, row.actor, row.action, row.filter_json, row.counts_json),
        )
        return AuditRow(*stored)

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
            "%s", org_id=org_id, action=action, since_us=since_us, until_us=until_us, before_id=before_id
        )
        rows = self._all(
            f"SELECT {_AUDIT_COLS} FROM audit_log{where} ORDER BY id DESC LIMIT %s", [*params, limit]
        )
        return [AuditRow(*r) for r in rows]

    def prune_audit(self, before_us: int, *, limit: int) -> int:
        with self.db.transaction() as conn:
            return conn.execute(
                "DELETE FROM audit_log WHERE id IN "
                "(SELECT id FROM audit_log WHERE time_us < %s ORDER BY time_us LIMIT %s)",
                (before_us, limit),
            ).rowcount

    # retention policies
    def put_retention(self, row: RetentionRow) -> RetentionRow:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO retention_policies (org_id, memory_type, max_age_us, updated_us) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (org_id, memory_type) DO UPDATE SET max_age_us = excluded.max_age_us, "
                "updated_us = excluded.updated_us",
                (row.org_id, row.memory_type, row.max_age_us, row.updated_us),
            )
        return row

    def list_retention(self, org_id: str | None = None) -> list[RetentionRow]:
        sql = "SELECT org_id, memory_type, max_age_us, updated_us FROM retention_policies"
        params: tuple[str, ...] = ()
        if org_id is not None:
            sql += " WHERE org_id = %s"
            params = (org_id,)
        with self.db.connection() as conn:
            rows = conn.execute(sql + " ORDER BY org_id, memory_type", params).fetchall()
        return [RetentionRow(*r) for r in rows]

    def delete_retention(self, org_id: str, memory_type: str | None = None) -> int:
        with self.db.transaction() as conn:
            if memory_type is None:
                cur = conn.execute("DELETE FROM retention_policies WHERE org_id = %s", (org_id,))
            else:
                cur = conn.execute(
                    "DELETE FROM retention_policies WHERE org_id = %s AND memory_type = %s",
                    (org_id, memory_type),
                )
            return int(cur.rowcount)

    def ping(self) -> None:
        self._one("SELECT 1", ())

    def close(self) -> None:
        if self._owns_db:
            self.db.close()


__all__ = ["PostgresMetadataStore"]
