"""``memtrace migrate-store FROM TO``: an embedded data directory moved into PostgreSQL, with every memory, agent,
session, API key (old keys still work), organization and Arc setting intact; resumable and idempotent."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import psycopg
import pytest
from support.server import make_api_key, run_cli, start_server

from memtrace.stores import ArcInstanceRow, AuditRow, StoreBundle, open_stores

from .server import fresh_database_url

pytestmark = pytest.mark.slow

ADMIN = make_api_key(b"migrate-store-admin")


def _snapshot(server, keys: dict[str, str]) -> dict[str, object]:
    """What users of the data see, through each key: memories (every field), agents, sessions, keys."""
    seen: dict[str, object] = {}
    for label, key in keys.items():
        with server.client(key) as client:
            memories = client.get("/api/v1/memories", params={"limit": 1000, "order": "asc"})
            assert memories.status_code == 200, memories.text
            seen[f"{label}/memories"] = memories.json()
            seen[f"{label}/agents"] = client.get("/api/v1/agents").json()
            seen[f"{label}/sessions"] = client.get("/api/v1/sessions").json()
            search = client.post("/api/v1/search", json={"query": "blue whale", "limit": 100}).json()
            seen[f"{label}/search"] = sorted(
                m["id"] for m in search["results"]
            )  # what is found, not the order
    with server.client(keys["admin"]) as client:
        listed = client.get("/api/v1/keys").json()["keys"]
        seen["keys"] = sorted(
            (k["org_id"], k["name"], tuple(k["permissions"]), k["enabled"], k.get("created_at"))
            for k in listed
        )
    return seen


def _trail_of(stores: StoreBundle) -> list[AuditRow]:
    return stores.metadata.list_audit(
        org_id=None, action=None, since_us=None, until_us=None, before_id=None, limit=1000
    )


def _trail(location: Path) -> list[AuditRow]:
    stores = open_stores(location)
    try:
        return _trail_of(stores)
    finally:
        stores.close()


def test_a_data_directory_moves_into_postgres_intact_and_old_keys_still_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = start_server(data, api_key=ADMIN)
    try:
        with source.client() as admin:
            assert admin.post("/api/v1/orgs", json={"name": "Second", "id": "org_second"}).status_code == 201
            second = admin.post("/api/v1/keys", json={"name": "second", "org_id": "org_second"}).json()["key"]
            revoked = admin.post("/api/v1/keys", json={"name": "gone"}).json()
            assert admin.delete(f"/api/v1/keys/{revoked['id']}").status_code == 204
            agent = admin.post("/api/v1/agents", json={"name": "scribe", "description": "writes"}).json()
            session = admin.post(
                "/api/v1/sessions", json={"agent_id": agent["id"], "metadata": {"t": 1}}
            ).json()
            batch = [
                {
                    "agent_id": agent["id"],
                    "session_id": session["id"],
                    "content": f"note {n} about the blue whale" if n % 7 == 0 else f"note {n} ünïcode",
                    "memory_type": ["episodic", "session", "decision", "entity"][n % 4],
                    "event_type": "observation",
                    "metadata": {"n": n, "nested": {"x": [1, 2.5, None]}},
                    "tags": ["t" + str(n % 4), "shared-tag"],
                    "importance": (n % 10) / 10,
                    "dedup_key": f"dk-{n}",
                    "time": f"2026-01-01T00:00:{n % 60:02d}.{n:06d}Z",
                }
                for n in range(300)
            ]
            stored = admin.post("/api/v1/memories", json={"memories": batch})
            assert stored.status_code == 201 and stored.json()["count"] == 300, stored.text
            parent = stored.json()["memories"][0]["id"]
            assert (
                admin.post(
                    "/api/v1/memories", json={"agent_id": "other", "content": "child", "parent_id": parent}
                ).status_code
                == 201
            )
            assert (
                admin.put(f"/api/v1/sessions/{session['id']}", json={"status": "closed"}).status_code == 200
            )
        with source.client(second) as client:
            assert (
                client.post("/api/v1/memories", json={"agent_id": "a2", "content": "second org"}).status_code
                == 201
            )
        before = _snapshot(source, {"admin": ADMIN, "second": second})
    finally:
        source.stop()
    bundle = open_stores(data)
    try:
        arc = bundle.metadata.put_arc_instance(
            ArcInstanceRow(
                "arc_1",
                "org_second",
                "http://arc.invalid:8000",
                "db",
                "m",
                b"c" * 32,
                b"n" * 12,
                None,
                None,
                1,
                2,
            )
        )
    finally:
        bundle.close()

    with fresh_database_url() as url:
        copied = run_cli(["migrate-store", str(data), url], cwd=tmp_path)
        assert copied.returncode == 0, copied.stderr
        assert (
            "copied 302 memories, 2 organizations, 1 agents, 1 sessions, 3 API keys, 1 Arc settings"
            in copied.stdout
        )

        # Interrupted half-way: the target lost some rows. Running again finishes the copy; nothing doubles.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM memories WHERE content LIKE 'note 1%'")
        again = run_cli(["migrate-store", str(data), url], cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        restored = int(re.search(r"copied (\d+) memories, 0 organizations, 0 agents", again.stdout).group(1))  # type: ignore[union-attr]
        assert restored > 100
        idle = run_cli(["migrate-store", str(data), url], cwd=tmp_path)
        assert (
            "copied 0 memories, 0 organizations, 0 agents, 0 sessions, 0 API keys, 0 Arc settings"
            in idle.stdout
        )

        assert " 0 audit entries" in again.stdout and " 0 audit entries" in idle.stdout
        source_trail = _trail(data)
        assert {"org.create", "key.create", "key.revoke"} <= {e.action for e in source_trail}
        moved = open_stores(url)
        try:
            # The audit trail came along, in order, once (ids are the target's own).
            assert [dataclasses.replace(e, id=0) for e in _trail_of(moved)] == [
                dataclasses.replace(e, id=0) for e in source_trail
            ]
            assert moved.metadata.get_arc_instance("org_second") == arc
            # The row is a stand-in (no master key encrypted it): a server would refuse to start with it.
            assert moved.metadata.delete_arc_instance("org_second")
        finally:
            moved.close()
        target = start_server(tmp_path / "pg-none", api_key=ADMIN, store_url=url, log_dir=tmp_path,
                              env={"MEMTRACE_UI_SESSION_SECRET": "s" * 32})  # fmt: skip
        try:
            after = _snapshot(target, {"admin": ADMIN, "second": second})
            with target.client(revoked["key"]) as client:
                assert client.get("/api/v1/agents").status_code == 401
        finally:
            target.stop()
        assert after == before
