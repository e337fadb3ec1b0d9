"""``POST /api/v1/forget`` over real HTTP: who may forget, what the receipt says, what the audit trail keeps."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

Tenant = Callable[..., tuple[str, str, int]]


def test_a_write_key_forgets_an_agent_and_the_trail_records_it(
    live_server, admin: httpx.Client, new_org_key: Tenant
) -> None:
    org_id, key, key_id = new_org_key(permissions="read,write")
    with live_server.client(key) as tenant:
        assert tenant.post("/api/v1/sessions", json={"agent_id": "alice", "id": "s1"}).status_code == 201
        batch = [
            {"agent_id": "alice", "content": f"alice lives in lisbon {i}", "session_id": "s1"}
            for i in range(5)
        ]
        assert tenant.post("/api/v1/memories", json={"memories": batch}).status_code == 201
        assert tenant.post("/api/v1/agents", json={"name": "alice"}).status_code == 201

        answer = tenant.post("/api/v1/forget", json={"agent_id": "alice"})
        assert answer.status_code == 200, answer.text
        receipt = answer.json()
        assert receipt["removed"] == {"memories": 5, "sessions": 1, "agents": 1}
        assert receipt["subject"] == {"agent_id": "alice"} and receipt["org_id"] == org_id
        assert receipt["finished_at"] >= receipt["started_at"]

        found = tenant.post("/api/v1/search", json={"query": "alice lisbon"}).json()
        assert found["count"] == 0
        assert tenant.post("/api/v1/sessions/s1/context", json={}).status_code == 404
        assert tenant.get("/api/v1/agents/alice/stats").json()["memory_count"] == 0
        assert tenant.get("/api/v1/agents").json()["agents"] == []

    entry = admin.get("/api/v1/audit", params={"org_id": org_id, "action": "subject.forget"}).json()[
        "entries"
    ]
    assert [(e["key_id"], e["filter"], e["counts"]) for e in entry] == [
        (key_id, {"agent_id": "alice"}, receipt["removed"])
    ]


def test_a_read_only_key_cannot_forget(live_server, new_org_key: Tenant) -> None:
    _, key, _ = new_org_key(permissions="read")
    with live_server.client(key) as tenant:
        refused = tenant.post("/api/v1/forget", json={"agent_id": "alice"})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "filter"),
        ({"agent_id": "alice", "colour": "red"}, "colour"),
        ({"memory_ids": []}, "memory_ids"),
        ({"memory_ids": "mem_x"}, "memory_ids"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_a_bad_forget_is_a_400_naming_the_field(
    live_server, new_org_key: Tenant, body: dict[str, object], field: str
) -> None:
    _, key, _ = new_org_key()
    with live_server.client(key) as tenant:
        answer = tenant.post("/api/v1/forget", json=body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]


def test_another_orgs_forget_never_reaches_mine(live_server, new_org_key: Tenant) -> None:
    _, key_a, _ = new_org_key()
    _, key_b, _ = new_org_key()
    with live_server.client(key_a) as a, live_server.client(key_b) as b:
        assert a.post("/api/v1/memories", json={"agent_id": "alice", "content": "mine"}).status_code == 201
        assert b.post("/api/v1/forget", json={"agent_id": "alice"}).json()["removed"]["memories"] == 0
        assert a.get("/api/v1/memories", params={"agent_id": "alice"}).json()["count"] == 1
