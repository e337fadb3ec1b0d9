"""The audit trail over REST and the CLI: every privileged action leaves an entry naming the key's id (never the
key), and only admin keys read the trail, an organisation's admin only its own organisation's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import memtrace

from memtrace.stores import AuditRow
from memtrace.timeparse import now_us
from memtrace_server.config import load_config
from memtrace_server.state import open_state, prune_audit

Tenant = Callable[..., tuple[str, str, int]]


def entries(client: httpx.Client, **params: str | int) -> list[dict[str, Any]]:
    got = client.get("/api/v1/audit", params={"limit": 1000, **params})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["count"] == len(body["entries"])
    found: list[dict[str, Any]] = body["entries"]
    return found


def admin_key_id(admin: httpx.Client) -> int:
    keys = admin.get("/api/v1/keys", params={"org_id": "org_default"}).json()["keys"]
    return next(k["id"] for k in keys if k["name"] == "admin")


def test_each_privileged_action_is_recorded_with_the_key_id(
    live_server, admin: httpx.Client, new_org_key: Tenant
) -> None:
    admin_id = admin_key_id(admin)
    org_id, key, key_id = new_org_key(permissions="read,write")
    with live_server.client(key) as tenant:
        made = [
            tenant.post("/api/v1/memories", json={"agent_id": "a1", "content": f"note {i}"}).json()["id"]
            for i in range(3)
        ]
        assert tenant.delete(f"/api/v1/memories/{made[0]}").status_code == 204
        deleted = tenant.delete("/api/v1/memories", params={"agent_id": "a1", "tags": "nothing"})
        assert deleted.json() == {"deleted": 0}
        assert tenant.delete("/api/v1/memories", params={"memory_ids": made[1]}).json() == {"deleted": 1}
        agent = tenant.post("/api/v1/agents", json={"name": "bot"}).json()
        assert tenant.delete(f"/api/v1/agents/{agent['id']}").status_code == 204
    assert admin.delete(f"/api/v1/keys/{key_id}").status_code == 204

    trail = list(reversed(entries(admin, org_id=org_id)))  # oldest first
    assert [(e["action"], e["key_id"], e["actor"]) for e in trail] == [
        ("org.create", admin_id, "api"),
        ("key.create", admin_id, "api"),
        ("memory.delete", key_id, "api"),
        ("memories.delete", key_id, "api"),
        ("memories.delete", key_id, "api"),
        ("agent.delete", key_id, "api"),
        ("key.revoke", admin_id, "api"),
    ]
    assert trail[1]["filter"]["key_id"] == key_id and trail[1]["filter"]["permissions"] == "read,write"
    assert trail[2]["filter"] == {"memory_ids": [made[0]]} and trail[2]["counts"] == {"memories": 1}
    assert trail[3]["filter"] == {"agent_id": "a1", "tags": "nothing"} and trail[3]["counts"] == {
        "memories": 0
    }
    assert trail[4]["counts"] == {"memories": 1}
    assert all(key not in json.dumps(e) for e in trail)  # the key itself is never written down

    receipt = admin.delete(f"/api/v1/orgs/{org_id}").json()
    last = entries(admin, org_id=org_id, limit=1)[0]
    assert (last["action"], last["key_id"]) == ("org.delete", admin_id)
    assert last["counts"] == receipt["removed"] == {"memories": 1, "sessions": 0, "agents": 0, "api_keys": 1}


@pytest.mark.parametrize("permissions", ["read", "read,write"])
def test_keys_without_admin_cannot_read_the_trail(live_server, new_org_key: Tenant, permissions: str) -> None:
    _, key, _ = new_org_key(permissions=permissions)
    with live_server.client(key) as client:
        refused = client.get("/api/v1/audit")
    assert refused.status_code == 403, refused.text
    assert "admin" in refused.json()["error"]


def test_an_org_admin_reads_only_its_own_organisation(
    live_server, admin: httpx.Client, new_org_key: Tenant
) -> None:
    org_a, _, _ = new_org_key()
    org_b, b_admin, _ = new_org_key(permissions="read,write,admin")
    with live_server.client(b_admin) as client:
        own = entries(client)
        assert own and {e["org_id"] for e in own} == {org_b}
        assert client.get("/api/v1/audit", params={"org_id": org_a}).status_code == 403
    assert {e["org_id"] for e in entries(admin, org_id=org_a)} == {org_a}


def test_the_trail_pages_and_filters(live_server, admin: httpx.Client, new_org_key: Tenant) -> None:
    org_id, key, _ = new_org_key()
    with live_server.client(key) as tenant:
        for i in range(5):
            assert tenant.delete("/api/v1/memories", params={"agent_id": f"gone{i}"}).status_code == 200
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, str | int] = {"org_id": org_id, "action": "memories.delete", "limit": 2}
        if before is not None:
            params["before"] = before
        body = admin.get("/api/v1/audit", params=params).json()
        seen += [e["id"] for e in body["entries"]]
        before = body.get("next_before")
        if before is None:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    assert entries(admin, org_id=org_id, since="1h", action="key.create")
    assert entries(admin, org_id=org_id, until="2000-01-01") == []
    bad = admin.get("/api/v1/audit", params={"action": "memory.read"})
    assert bad.status_code == 400 and "action" in bad.json()["error"]
    assert admin.get("/api/v1/audit", params={"limit": 5000}).status_code == 400


def test_the_cli_reads_and_records_the_trail(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    org = "org_" + uuid.uuid4().hex[:8]
    assert memtrace("org", "create", "Audited", "--id", org, *data).returncode == 0
    assert memtrace("key", "create", "--org", org, "--name", "k1", *data).returncode == 0
    assert memtrace("org", "delete", org, *data).returncode == 0
    listed = memtrace("audit", "list", "--org", org, "--json", *data)
    assert listed.returncode == 0, listed.stderr
    trail = json.loads(listed.stdout)["entries"]
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("org.delete", "cli"),
        ("key.create", "cli"),
        ("org.create", "cli"),
    ]
    assert all("key_id" not in e for e in trail)  # no key acted
    text = memtrace("audit", "list", "--org", org, "--action", "org.delete", *data)
    assert text.returncode == 0 and "org.delete" in text.stdout and "by cli" in text.stdout
    bad = memtrace("audit", "list", "--since", "yesterday", *data)
    assert bad.returncode == 1 and "since" in bad.stderr


def test_the_leader_prunes_entries_past_the_audit_retention(tmp_path: Path) -> None:
    config = load_config(
        None,
        env={},
        search=False,
        overrides={"server.data_dir": str(tmp_path / "data"), "audit.retention_days": 30},
    )
    state = open_state(config)
    try:
        assert state.leadership is not None
        assert "audit-retention" in [j.name for j in state.leadership.jobs]
        day = 86_400_000_000
        for age in (31, 29):
            state.engine.metadata.append_audit(
                AuditRow(0, now_us() - age * day, "org_a", None, "cli", "org.delete", None, None)
            )
        assert prune_audit(state) == 1
        assert [e.action for e in state.engine.audit.list(org_id="org_a").entries] == ["org.delete"]
    finally:
        state.close()


def test_retention_zero_keeps_the_trail_forever(tmp_path: Path) -> None:
    config = load_config(
        None,
        env={"MEMTRACE_AUDIT_RETENTION_DAYS": "0"},
        search=False,
        overrides={"server.data_dir": str(tmp_path / "data")},
    )
    state = open_state(config)
    try:
        assert state.leadership is not None
        assert "audit-retention" not in [j.name for j in state.leadership.jobs]
    finally:
        state.close()
