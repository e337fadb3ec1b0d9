"""Authentication and permissions against a real server: keys from ``x-api-key`` or ``Authorization: Bearer``,
401 for missing/invalid/revoked/expired keys, 403 for a permission the key lacks, admin-only key management."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from support.server import new_key

Tenant = Callable[..., tuple[str, str, int]]


def _get(live_server, key: str | None, path: str = "/api/v1/memories", **headers: str) -> httpx.Response:
    h = dict(headers)
    if key is not None:
        h["x-api-key"] = key
    return httpx.get(live_server.base_url + path, headers=h, timeout=30)


def test_missing_unknown_and_malformed_keys_are_401(live_server) -> None:
    r = _get(live_server, None)
    assert r.status_code == 401 and r.json() == {"error": "missing API key"}
    assert _get(live_server, new_key()).json() == {"error": "invalid API key"}
    assert _get(live_server, new_key()).status_code == 401
    assert _get(live_server, "hello").status_code == 401
    assert _get(live_server, "mtk_" + "A" * 200).status_code == 401
    assert _get(live_server, None, authorization="Bearer " + new_key()).status_code == 401
    # Health and readiness need no key (spec §1.1).
    assert httpx.get(live_server.base_url + "/health").status_code == 200


def test_bearer_and_x_api_key_headers_both_work(live_server) -> None:
    assert _get(live_server, live_server.api_key).status_code == 200
    assert _get(live_server, None, authorization=f"Bearer {live_server.api_key}").status_code == 200


def test_a_read_key_reads_but_gets_403_on_writes(live_server, new_org_key: Tenant) -> None:
    org, writer, _ = new_org_key()
    _, reader, _ = new_org_key(org, permissions="read")
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": writer}) as w:
        mem = w.post("/api/v1/memories", json={"agent_id": "a1", "content": "written by writer"}).json()
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": reader}) as r:
        assert r.get("/api/v1/memories", params={"agent_id": "a1"}).json()["count"] == 1
        assert r.post("/api/v1/search", json={"agent_id": "a1"}).status_code == 200
        assert r.get(f"/api/v1/memories/{mem['id']}").status_code == 200
        for method, path, body in [
            ("POST", "/api/v1/memories", {"agent_id": "a1", "content": "nope"}),
            ("DELETE", f"/api/v1/memories/{mem['id']}", None),
            ("DELETE", "/api/v1/memories?agent_id=a1", None),
            ("POST", "/api/v1/agents", {"name": "x"}),
            ("POST", "/api/v1/sessions", {"agent_id": "a1"}),
            ("POST", "/api/v1/keys", {"name": "escalate", "permissions": "admin"}),
        ]:
            resp = r.request(method, path, json=body)
            assert resp.status_code == 403, (method, path, resp.text)
            assert "permission" in resp.json()["error"]
        assert r.get("/api/v1/memories", params={"agent_id": "a1"}).json()["count"] == 1


def test_a_write_only_key_cannot_read(live_server, new_org_key: Tenant) -> None:
    _, key, _ = new_org_key(permissions="write")
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": key}) as c:
        assert c.post("/api/v1/memories", json={"agent_id": "a1", "content": "ingest"}).status_code == 201
        assert c.get("/api/v1/memories").status_code == 403


def test_only_admin_keys_manage_orgs_and_keys(live_server, new_org_key: Tenant) -> None:
    _, key, _ = new_org_key()
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": key}) as c:
        assert c.post("/api/v1/orgs", json={"name": "mine"}).status_code == 403
        assert c.get("/api/v1/orgs").status_code == 403
        assert c.get("/api/v1/keys").status_code == 403
        assert c.post("/api/v1/keys", json={"name": "more"}).status_code == 403
        assert c.delete("/api/v1/keys/1").status_code == 403


def test_an_org_admin_manages_only_its_own_org(live_server, admin: httpx.Client, new_org_key: Tenant) -> None:
    org_a, _, a_key_id = new_org_key()
    org_b, _, _ = new_org_key()
    _, b_admin, _ = new_org_key(org_b, permissions="admin")
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": b_admin}) as c:
        made = c.post("/api/v1/keys", json={"name": "b-reader", "permissions": ["read"]})
        assert made.status_code == 201 and made.json()["org_id"] == org_b
        assert c.post("/api/v1/keys", json={"name": "into-a", "org_id": org_a}).status_code == 403
        assert {k["org_id"] for k in c.get("/api/v1/keys").json()["keys"]} == {org_b}
        assert c.get("/api/v1/keys", params={"org_id": org_a}).status_code == 403
        assert c.delete(f"/api/v1/keys/{a_key_id}").status_code == 404
        assert c.post("/api/v1/orgs", json={"name": "new"}).status_code == 403
        assert c.delete(f"/api/v1/orgs/{org_a}").status_code == 403
        assert [o["id"] for o in c.get("/api/v1/orgs").json()["orgs"]] == [org_b]
    # The server admin sees everything.
    assert {org_a, org_b} <= {o["id"] for o in admin.get("/api/v1/orgs").json()["orgs"]}


def test_a_created_key_is_shown_once_and_stored_hashed(live_server, admin: httpx.Client) -> None:
    created = admin.post("/api/v1/keys", json={"name": "once-" + uuid.uuid4().hex[:6]}).json()
    key = created["key"]
    assert key.startswith("mtk_") and len(key) == 48 and key.endswith("=")
    assert created["permissions"] == ["read", "write"]
    listed = admin.get("/api/v1/keys", params={"org_id": "org_default"}).json()["keys"]
    row = next(k for k in listed if k["id"] == created["id"])
    assert "key" not in row and row["prefix"] == created["prefix"]
    with sqlite3.connect(live_server.data_dir / "memtrace.db") as db:
        stored = db.execute("SELECT key_hash FROM api_keys WHERE id = ?", (created["id"],)).fetchone()[0]
    assert key not in stored and stored.startswith("$2b$")
    assert int(stored.split("$")[2]) >= 10  # bcrypt cost


def test_a_key_revoked_over_rest_stops_working_at_once(
    live_server, admin: httpx.Client, new_org_key: Tenant
) -> None:
    _, key, key_id = new_org_key()
    assert _get(live_server, key).status_code == 200  # now cached
    assert admin.delete(f"/api/v1/keys/{key_id}").status_code == 204
    assert _get(live_server, key).status_code == 401
    assert admin.delete(f"/api/v1/keys/{key_id}").status_code == 404


def test_a_key_revoked_with_the_cli_stops_working_within_the_poll_interval(
    live_server, new_org_key: Tenant
) -> None:
    _, key, key_id = new_org_key()
    assert _get(live_server, key).status_code == 200  # cached on the server
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "memtrace_server",
            "key",
            "revoke",
            str(key_id),
            "--data-dir",
            str(live_server.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while _get(live_server, key).status_code == 200:
        assert time.monotonic() < deadline, "revoked key still accepted after 10 s"
        time.sleep(0.2)
    assert _get(live_server, key).status_code == 401


def test_expired_keys_are_401_even_when_cached(live_server, admin: httpx.Client) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expired = admin.post(
        "/api/v1/keys", json={"name": "old-" + uuid.uuid4().hex[:6], "expires_at": past}
    ).json()
    assert _get(live_server, expired["key"]).status_code == 401
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    expiring = admin.post(
        "/api/v1/keys", json={"name": "soon-" + uuid.uuid4().hex[:6], "expires_at": soon}
    ).json()
    assert _get(live_server, expiring["key"]).status_code == 200
    time.sleep(2.5)
    assert _get(live_server, expiring["key"]).status_code == 401


def test_bad_key_requests_are_400(admin: httpx.Client) -> None:
    assert (
        admin.post("/api/v1/keys", json={"name": "p", "permissions": "read,root"}).json()["field"]
        == "permissions"
    )
    assert admin.post("/api/v1/keys", json={"name": ""}).json()["field"] == "name"
    assert admin.post("/api/v1/keys", json={"name": "x", "org_id": "org_nope"}).status_code == 404
    name = "dup-" + uuid.uuid4().hex[:6]
    assert admin.post("/api/v1/keys", json={"name": name}).status_code == 201
    assert admin.post("/api/v1/keys", json={"name": name}).status_code == 409
    assert admin.delete("/api/v1/keys/not-a-number").status_code == 400


def test_deleting_an_org_removes_its_data_and_keys(
    live_server, admin: httpx.Client, new_org_key: Tenant
) -> None:
    org, key, _ = new_org_key()
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": key}) as c:
        assert (
            c.post("/api/v1/memories", json={"agent_id": "a1", "content": "tenant data"}).status_code == 201
        )
    deleted = admin.delete(f"/api/v1/orgs/{org}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["removed"] == {"memories": 1, "sessions": 0, "agents": 0, "api_keys": 1}
    assert _get(live_server, key).status_code == 401
    assert admin.delete(f"/api/v1/orgs/{org}").status_code == 404
    # Re-creating the id starts empty.
    assert admin.post("/api/v1/orgs", json={"name": "again", "id": org}).status_code == 201
    _, key2, _ = new_org_key(org)
    assert _get(live_server, key2, "/api/v1/memories?agent_id=a1").json()["count"] == 0
    # The admin cannot delete its own organization.
    assert admin.delete("/api/v1/orgs/org_default").status_code == 409
