"""Tenant isolation (invariant 2): with its own key, org B can neither read, list, search, count nor delete
org A's memories, agents or sessions, by id or by filter; and `org_id` comes only from the key."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

Tenant = Callable[..., tuple[str, str, int]]


@pytest.fixture
def two_tenants(live_server, new_org_key: Tenant):
    org_a, key_a, _ = new_org_key()
    org_b, key_b, _ = new_org_key()
    a = httpx.Client(base_url=live_server.base_url, headers={"x-api-key": key_a})
    b = httpx.Client(base_url=live_server.base_url, headers={"x-api-key": key_b})
    yield (org_a, a), (org_b, b)
    a.close()
    b.close()


def test_org_b_cannot_reach_org_a(two_tenants) -> None:
    (org_a, a), (_, b) = two_tenants
    agent = "shared_agent_name"  # the same free-form ids in both orgs must not collide
    agent_row = a.post("/api/v1/agents", json={"name": agent}).json()
    session = a.post("/api/v1/sessions", json={"agent_id": agent, "id": "sess_shared"}).json()
    items = [
        {"agent_id": agent, "session_id": "sess_shared", "content": f"secret plan {i}", "tags": ["secret"]}
        for i in range(3)
    ]
    written = a.post("/api/v1/memories", json={"memories": items}).json()["memories"]
    mem_id = written[0]["id"]
    assert {m["org_id"] for m in written} == {org_a}

    # by id
    assert b.get(f"/api/v1/memories/{mem_id}").status_code == 404
    assert b.delete(f"/api/v1/memories/{mem_id}").status_code == 404
    assert b.get(f"/api/v1/agents/{agent_row['id']}").status_code == 404
    assert b.get(f"/api/v1/agents/{agent}").status_code == 404  # by name
    assert b.delete(f"/api/v1/agents/{agent_row['id']}").status_code == 404
    assert b.get(f"/api/v1/sessions/{session['id']}").status_code == 404
    assert b.put(f"/api/v1/sessions/{session['id']}", json={"status": "closed"}).status_code == 404
    assert b.get(f"/api/v1/sessions/{session['id']}/memories").status_code == 404
    assert b.post(f"/api/v1/sessions/{session['id']}/context", json={}).status_code == 404
    # by filter, list, search and count
    assert b.get("/api/v1/memories", params={"agent_id": agent}).json()["count"] == 0
    assert b.get("/api/v1/memories", params={"tags": "secret"}).json()["count"] == 0
    assert b.get(f"/api/v1/agents/{agent}/memories", params={"since": "1d"}).json()["count"] == 0
    assert b.post("/api/v1/search", json={"query": "secret plan"}).json()["count"] == 0
    assert b.post("/api/v1/search", json={"content_contains": "secret"}).json()["count"] == 0
    stats = b.get(f"/api/v1/agents/{agent}/stats").json()
    assert stats["memory_count"] == 0 and stats["session_count"] == 0 and stats["memory_types"] == {}
    assert agent_row["id"] not in {x["id"] for x in b.get("/api/v1/agents").json()["agents"]}
    assert b.get("/api/v1/sessions").json()["count"] == 0
    assert b.delete("/api/v1/memories", params={"agent_id": agent}).json() == {"deleted": 0}
    assert b.delete("/api/v1/memories", params={"since": "1h"}).json() == {"deleted": 0}

    # B may use the same ids for its own data; A's stays A's.
    assert b.post("/api/v1/sessions", json={"agent_id": agent, "id": "sess_shared"}).status_code == 201
    assert b.post("/api/v1/agents", json={"name": agent}).status_code == 201

    assert a.get("/api/v1/memories", params={"agent_id": agent}).json()["count"] == 3
    assert a.get(f"/api/v1/memories/{mem_id}").status_code == 200
    assert a.get(f"/api/v1/sessions/{session['id']}").json()["status"] == "active"
    assert a.get(f"/api/v1/agents/{agent_row['id']}").status_code == 200
    ctx = a.post(f"/api/v1/sessions/{session['id']}/context", json={}).json()
    assert ctx["memory_count"] == 3


def test_org_id_comes_only_from_the_key(two_tenants) -> None:
    (org_a, a), (org_b, b) = two_tenants
    uid = "t" + uuid.uuid4().hex[:10]
    # B names A's org in the body and in the query string; both are ignored.
    r = b.post("/api/v1/memories", json={"agent_id": uid, "content": "whose is this", "org_id": org_a})
    assert r.status_code == 201 and r.json()["org_id"] == org_b
    assert a.get("/api/v1/memories", params={"agent_id": uid, "org_id": org_b}).json()["count"] == 0
    assert b.get("/api/v1/memories", params={"agent_id": uid, "org_id": org_a}).json()["count"] == 1
    session = b.post("/api/v1/sessions", json={"agent_id": uid, "org_id": org_a}).json()
    assert session["org_id"] == org_b
