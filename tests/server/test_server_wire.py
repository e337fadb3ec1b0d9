"""The REST wire as memtrace-sdk 0.2.0 reads it (spec §1, §9.4-9.5), and our documented improvements
(docs/compat.md). In-process through TestClient; the real SDK runs against a real server in tests/compat."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient
from support.server import Api, new_key

from memtrace_server.app import create_app
from memtrace_server.config import load_config
from memtrace_server.keys import bootstrap
from memtrace_server.state import open_state

MEMORY_REQUIRED = {"time", "org_id", "agent_id", "memory_type", "event_type", "content"}


def test_single_create_is_201_with_the_memory_at_top_level(api: Api, uid: str) -> None:
    r = api.client.post(
        "/api/v1/memories",
        json={"agent_id": uid, "content": "crawled pricing", "tags": ["crawl"], "metadata": {"n": 3}},
        headers=api.headers,
    )
    assert r.status_code == 201
    body = r.json()
    assert body.keys() >= MEMORY_REQUIRED
    assert body["memory_type"] == "episodic" and body["event_type"] == "general"  # the original's defaults
    assert body["org_id"] == "org_default" and body["id"].startswith("mem_")
    assert body["metadata"] == {"n": 3} and body["tags"] == ["crawl"]
    assert body["time"].endswith("Z") and datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
    # Unset optional fields are omitted (Go omitempty), never sent as the wrong type.
    assert "session_id" not in body and "importance" not in body


def test_duplicate_single_create_is_409_with_the_original_message(api: Api, uid: str) -> None:
    payload = {"agent_id": uid, "content": "same thing twice"}
    assert api.client.post("/api/v1/memories", json=payload, headers=api.headers).status_code == 201
    r = api.client.post("/api/v1/memories", json=payload, headers=api.headers)
    assert r.status_code == 409 and r.json() == {"error": "duplicate memory"}


def test_batch_create_reports_memories_count_and_skipped(api: Api, uid: str) -> None:
    items = [{"agent_id": uid, "content": c} for c in ("one", "two", "one")]
    r = api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    assert r.status_code == 201
    body = r.json()
    assert [m["content"] for m in body["memories"]] == ["one", "two"]
    assert body["count"] == 2 and body["skipped"] == 1 and body["skipped_indexes"] == [2]


def test_empty_batch_is_a_validation_error(api: Api) -> None:
    r = api.client.post("/api/v1/memories", json={"memories": []}, headers=api.headers)
    assert r.status_code == 400 and r.json()["field"] == "memories"


def test_list_shape_defaults_and_paging(api: Api, uid: str) -> None:
    items = [{"agent_id": uid, "content": f"event {i}"} for i in range(5)]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    # The SDK sends Content-Type: application/json on GETs too; it must not be rejected.
    headers = {**api.headers, "content-type": "application/json"}
    r = api.client.get("/api/v1/memories", params={"agent_id": uid, "limit": 2}, headers=headers)
    assert r.status_code == 200
    page = r.json()
    assert set(page) == {"memories", "count", "has_more"}
    assert [m["content"] for m in page["memories"]] == ["event 4", "event 3"]  # newest first by default
    assert page["count"] == 2 and page["has_more"] is True
    last = api.client.get(
        "/api/v1/memories", params={"agent_id": uid, "limit": 2, "offset": 4}, headers=headers
    ).json()
    assert [m["content"] for m in last["memories"]] == ["event 0"] and last["has_more"] is False
    asc = api.client.get(
        "/api/v1/memories", params={"agent_id": uid, "order": "asc", "limit": 1}, headers=headers
    ).json()
    assert asc["memories"][0]["content"] == "event 0"


def test_list_tags_arrive_comma_separated_and_match_whole(api: Api, uid: str) -> None:
    items = [
        {"agent_id": uid, "content": "both", "tags": ["ops", "prod"]},
        {"agent_id": uid, "content": "prefix only", "tags": ["production"]},
    ]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    # The SDK sends tags=ops%2Cprod (spec §9.6).
    r = api.client.get(f"/api/v1/memories?agent_id={uid}&tags=ops%2Cprod", headers=api.headers)
    assert [m["content"] for m in r.json()["memories"]] == ["both"]
    r = api.client.get(f"/api/v1/memories?agent_id={uid}&tags=prod", headers=api.headers)
    assert [m["content"] for m in r.json()["memories"]] == ["both"]


def test_search_has_int_query_time_and_ranked_scores(api: Api, uid: str) -> None:
    items = [
        {"agent_id": uid, "content": "the deploy to staging failed"},
        {"agent_id": uid, "content": "ordered lunch"},
    ]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    r = api.client.post(
        "/api/v1/search", json={"agent_id": uid, "query": "deploy failure"}, headers=api.headers
    )
    body = r.json()
    assert r.status_code == 200 and isinstance(body["query_time_ms"], int)
    assert [m["content"] for m in body["results"]] == ["the deploy to staging failed"]
    assert body["results"][0]["score"] > 0
    sdk_style = api.client.post(
        "/api/v1/search", json={"agent_id": uid, "content_contains": "LUNCH"}, headers=api.headers
    ).json()
    assert sdk_style["count"] == 1 and "score" not in sdk_style["results"][0]


def test_get_and_delete_memory_by_id(api: Api, uid: str) -> None:
    created = api.client.post(
        "/api/v1/memories", json={"agent_id": uid, "content": "to delete"}, headers=api.headers
    ).json()
    got = api.client.get(f"/api/v1/memories/{created['id']}", headers=api.headers)
    assert got.status_code == 200 and got.json() == created
    assert api.client.delete(f"/api/v1/memories/{created['id']}", headers=api.headers).status_code == 204
    missing = api.client.get(f"/api/v1/memories/{created['id']}", headers=api.headers)
    assert missing.status_code == 404 and missing.json() == {"error": "memory not found"}
    # The original treated this path as a content search; a non-id is now a 400 naming the field.
    bad = api.client.get("/api/v1/memories/to%20delete", headers=api.headers)
    assert bad.status_code == 400 and bad.json()["field"] == "memory_id"


def test_delete_by_filter_needs_a_filter_and_reports_the_count(api: Api, uid: str) -> None:
    items = [{"agent_id": uid, "content": f"m{i}"} for i in range(3)]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    none = api.client.delete("/api/v1/memories", headers=api.headers)
    assert none.status_code == 400 and none.json()["field"] == "filter"
    r = api.client.delete("/api/v1/memories", params={"agent_id": uid}, headers=api.headers)
    assert r.status_code == 200 and r.json() == {"deleted": 3}
    assert (
        api.client.get("/api/v1/memories", params={"agent_id": uid}, headers=api.headers).json()["count"] == 0
    )


def test_delete_by_filter_narrows_by_type_and_tags_and_takes_ids_in_a_body(api: Api, uid: str) -> None:
    items = [
        {"agent_id": uid, "content": "keep me", "tags": ["keep"]},
        {"agent_id": uid, "content": "chat 1", "memory_type": "session", "tags": ["chat"]},
        {"agent_id": uid, "content": "chat 2", "memory_type": "session", "tags": ["chat", "x"]},
        {"agent_id": uid, "content": "error", "event_type": "error"},
        {"agent_id": uid, "content": "by id 1"},
        {"agent_id": uid, "content": "by id 2"},
    ]
    written = api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers).json()[
        "memories"
    ]
    h = api.headers
    assert (
        api.client.delete("/api/v1/memories", params={"memory_type": "session"}, headers=h).status_code == 400
    )
    r = api.client.delete(
        "/api/v1/memories", params={"agent_id": uid, "memory_type": "session", "tags": "chat,x"}, headers=h
    )
    assert r.json() == {"deleted": 1}
    assert api.client.delete(
        "/api/v1/memories", params={"agent_id": uid, "event_type": "error"}, headers=h
    ).json() == {"deleted": 1}
    ids = [written[4]["id"], written[5]["id"]]
    r = api.client.request("DELETE", "/api/v1/memories", json={"memory_ids": ids}, headers=h)
    assert r.json() == {"deleted": 2}
    r = api.client.delete("/api/v1/memories", params={"memory_ids": written[1]["id"]}, headers=h)
    assert r.json() == {"deleted": 1}
    bad = api.client.request("DELETE", "/api/v1/memories", json={"memory_ids": ["nope"]}, headers=h)
    assert bad.status_code == 400 and bad.json()["field"] == "memory_ids[0]"
    unknown = api.client.request("DELETE", "/api/v1/memories", json={"agent": uid}, headers=h)
    assert unknown.status_code == 400 and unknown.json()["field"] == "agent"
    left = api.client.get("/api/v1/memories", params={"agent_id": uid}, headers=h).json()["memories"]
    assert [m["content"] for m in left] == ["keep me"]


def test_agents_register_conflict_get_by_name_and_delete(api: Api, uid: str) -> None:
    r = api.client.post(
        "/api/v1/agents",
        json={"name": uid, "description": "crawler", "config": {"depth": 2}},
        headers=api.headers,
    )
    assert r.status_code == 201
    agent = r.json()
    assert agent["id"].startswith("agent_") and len(agent["id"]) == len("agent_") + 24
    assert agent["config"] == {"depth": 2} and "created_at" in agent
    dup = api.client.post("/api/v1/agents", json={"name": uid}, headers=api.headers)
    assert dup.status_code == 409 and "already exists" in dup.json()["error"]
    assert api.client.get(f"/api/v1/agents/{uid}", headers=api.headers).json()["id"] == agent["id"]
    listed = api.client.get("/api/v1/agents", headers=api.headers).json()
    assert listed["count"] == len(listed["agents"]) and agent["id"] in {a["id"] for a in listed["agents"]}
    assert api.client.delete(f"/api/v1/agents/{agent['id']}", headers=api.headers).status_code == 204
    gone = api.client.get(f"/api/v1/agents/{agent['id']}", headers=api.headers)
    assert gone.status_code == 404 and gone.json() == {"error": "agent not found"}


def test_agent_names_with_a_slash_work_when_percent_encoded(api: Api, uid: str) -> None:
    name = f"team/{uid}"
    created = api.client.post("/api/v1/agents", json={"name": name}, headers=api.headers).json()
    # memtrace-sdk quotes path ids with safe='' (spec §9.1).
    r = api.client.get(f"/api/v1/agents/team%2F{uid}", headers=api.headers)
    assert r.status_code == 200 and r.json()["id"] == created["id"]


def test_agent_stats_shape(api: Api, uid: str) -> None:
    items = [
        {"agent_id": uid, "content": "ok"},
        {"agent_id": uid, "content": "boom", "event_type": "error"},
        {"agent_id": uid, "content": "choose", "memory_type": "decision"},
    ]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    stats = api.client.get(f"/api/v1/agents/{uid}/stats", headers=api.headers).json()
    assert stats["agent_id"] == uid and stats["memory_count"] == 3 and stats["memories_24h"] == 3
    assert stats["errors_24h"] == 1 and stats["memory_types"] == {"episodic": 2, "decision": 1}
    assert stats["session_count"] == 0 and stats["active_sessions"] == 0


def test_agent_memories_default_to_the_last_24_hours(api: Api, uid: str) -> None:
    items = [
        {"agent_id": uid, "content": "today"},
        {"agent_id": uid, "content": "last week", "time": "2020-01-01T00:00:00Z"},
    ]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    recent = api.client.get(f"/api/v1/agents/{uid}/memories", headers=api.headers).json()
    assert [m["content"] for m in recent["memories"]] == ["today"]
    everything = api.client.get(
        f"/api/v1/agents/{uid}/memories", params={"since": "3650d"}, headers=api.headers
    ).json()
    assert everything["count"] == 2


def test_sessions_accept_any_agent_id_and_close(api: Api, uid: str) -> None:
    r = api.client.post("/api/v1/sessions", json={"agent_id": uid, "metadata": {"k": 1}}, headers=api.headers)
    assert r.status_code == 201  # the original required a registered agent's id (FK)
    session = r.json()
    assert session["id"].startswith("sess_") and session["status"] == "active"
    assert session["metadata"] == {"k": 1} and "closed_at" not in session
    closed = api.client.put(
        f"/api/v1/sessions/{session['id']}", json={"status": "closed"}, headers=api.headers
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed" and closed.json()["closed_at"]
    listed = api.client.get("/api/v1/sessions", params={"agent_id": uid}, headers=api.headers).json()
    assert listed["count"] == 1 and listed["sessions"][0]["id"] == session["id"]


def test_a_missing_session_is_404_everywhere(api: Api) -> None:
    h = api.headers
    assert api.client.get("/api/v1/sessions/nope", headers=h).status_code == 404
    assert api.client.put("/api/v1/sessions/nope", json={"status": "closed"}, headers=h).status_code == 404
    assert api.client.get("/api/v1/sessions/nope/memories", headers=h).status_code == 404
    r = api.client.post("/api/v1/sessions/nope/context", json={}, headers=h)
    assert r.status_code == 404 and r.json() == {"error": "session not found"}


def test_context_is_markdown_and_honours_max_tokens(api: Api, uid: str) -> None:
    session = api.client.post("/api/v1/sessions", json={"agent_id": uid}, headers=api.headers).json()
    sid = session["id"]
    items = [
        {"agent_id": uid, "session_id": sid, "content": f"step {i}: " + "detail " * 30} for i in range(20)
    ]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    full = api.client.post(f"/api/v1/sessions/{sid}/context", json={}, headers=api.headers).json()
    assert full["session_id"] == sid and full["memory_count"] == 20
    assert full["context"].startswith(f"## Session Context ({sid})\n\n### Recent Actions (20)\n")
    small = api.client.post(f"/api/v1/sessions/{sid}/context", json={"max_tokens": 200}, headers=api.headers)
    body = small.json()
    assert len(body["context"]) <= 200 * 4 and 0 < body["memory_count"] < 20
    assert body["omitted"] == 20 - body["memory_count"]


def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    r = api.client.get("/api/v1/nothing-here", headers=api.headers)
    assert r.status_code == 404 and r.json() == {"error": "not found"}
    r = api.client.patch("/api/v1/memories", headers=api.headers)
    assert r.status_code == 405 and r.json() == {"error": "method not allowed"}


def test_openapi_document_describes_every_route(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for expected in [
        ("POST", "/api/v1/memories"),
        ("GET", "/api/v1/memories"),
        ("DELETE", "/api/v1/memories"),
        ("GET", "/api/v1/memories/{memory_id}"),
        ("POST", "/api/v1/search"),
        ("POST", "/api/v1/agents"),
        ("GET", "/api/v1/agents/{agent_id}/stats"),
        ("PUT", "/api/v1/sessions/{session_id}"),
        ("POST", "/api/v1/sessions/{session_id}/context"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/orgs/{org_id}"),
    ]:
        assert expected in routes
    assert {"AddMemoryRequest", "BatchCreateRequest"} <= doc["components"]["schemas"].keys()


def test_with_cors_on_every_route_answers_through_the_app(tmp_path: Path) -> None:
    config = load_config(
        None,
        env={"MEMTRACE_SERVER_CORS_ALLOW_ORIGINS": "https://app.example"},
        search=False,
        overrides={"server.data_dir": str(tmp_path)},
    )
    state = open_state(config)
    key = new_key()
    bootstrap(state.keys, key)
    with TestClient(create_app(state)) as client:
        h = {"x-api-key": key, "origin": "https://app.example"}
        created = client.post(
            "/api/v1/memories", json={"agent_id": "a1", "content": "from a browser"}, headers=h
        )
        assert created.status_code == 201 and created.json()["content"] == "from a browser"
        assert created.headers["access-control-allow-origin"] == "https://app.example"
        dup = client.post("/api/v1/memories", json={"agent_id": "a1", "content": "from a browser"}, headers=h)
        assert dup.status_code == 409 and dup.json() == {"error": "duplicate memory"}
        bad = client.post("/api/v1/memories", json={"agent_id": "a1"}, headers=h)
        assert bad.status_code == 400 and bad.json()["field"] == "content"
        batch = client.post(
            "/api/v1/memories", json={"memories": [{"agent_id": "a1", "content": "b"}]}, headers=h
        )
        assert batch.status_code == 201 and batch.json()["count"] == 1
        preflight = client.options(
            "/api/v1/memories",
            headers={"origin": "https://app.example", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 200
        assert (
            client.get(
                "/api/v1/memories", headers={"x-api-key": key, "origin": "https://evil.example"}
            ).headers.get("access-control-allow-origin")
            is None
        )
