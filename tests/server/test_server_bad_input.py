"""Bad input gets a 4xx JSON error naming the field, and nothing is stored. Never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.server import Api, new_key

from memtrace_server.app import create_app
from memtrace_server.config import load_config
from memtrace_server.keys import bootstrap
from memtrace_server.state import open_state


def total_memories(api: Api) -> int:
    """Every memory in the store, from the store-size gauge (exact: it is read at scrape time)."""
    text = api.client.get("/metrics").text
    match = re.search(r"^memtrace_store_memories (\S+)$", text, re.M)
    assert match, text
    return int(float(match.group(1)))


def assert_error(response: Any, status: int = 400, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert body.get("field") == field, body
    return body


GOOD = {"agent_id": "agent_ok", "content": "fine"}

BAD_MEMORIES: list[tuple[str, bytes | dict[str, Any], str]] = [
    ("malformed JSON", b'{"agent_id": "a", "content": ', "body"),
    ("not an object", b"[1, 2, 3]", "body"),
    ("empty body", b"", "body"),
    ("content missing", {"agent_id": "a1"}, "content"),
    ("content empty", {"agent_id": "a1", "content": ""}, "content"),
    ("content not a string", {"agent_id": "a1", "content": 123}, "content"),
    ("agent_id missing", {"content": "x"}, "agent_id"),
    ("agent_id a number", {"agent_id": 5, "content": "x"}, "agent_id"),
    ("agent_id starts with a digit", {"agent_id": "9lives", "content": "x"}, "agent_id"),
    ("agent_id SQL", {"agent_id": "a'; DROP TABLE memories; --", "content": "x"}, "agent_id"),
    ("agent_id NUL", {"agent_id": "a\x00b", "content": "x"}, "agent_id"),
    ("content NUL", {"agent_id": "a1", "content": "a\x00b"}, "content"),
    ("unknown memory_type", {**GOOD, "memory_type": "semantic"}, "memory_type"),
    ("bad event_type", {**GOOD, "event_type": "page-crawled"}, "event_type"),
    ("session_id invalid", {**GOOD, "session_id": "sess 1"}, "session_id"),
    ("tags not a list", {**GOOD, "tags": "a,b"}, "tags"),
    ("tag with a space", {**GOOD, "tags": ["ok", "not ok"]}, "tags[1]"),
    ("metadata not an object", {**GOOD, "metadata": "x"}, "metadata"),
    ("importance above 1", {**GOOD, "importance": 1.5}, "importance"),
    ("importance negative", {**GOOD, "importance": -0.1}, "importance"),
    ("importance a word", {**GOOD, "importance": "high"}, "importance"),
    ("time not a time", {**GOOD, "time": "yesterday"}, "time"),
    ("memories not a list", {"memories": "x"}, "memories"),
    (
        "one bad item in a batch",
        {
            "memories": [
                GOOD,
                {**GOOD, "content": "second"},
                {"agent_id": "a1", "memory_type": "x", "content": "c"},
            ]
        },
        "memories[2].memory_type",
    ),
    ("batch item not an object", {"memories": [GOOD, 7]}, "memories[1]"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_MEMORIES, ids=[c[0] for c in BAD_MEMORIES])
def test_bad_memory_writes_are_400_and_store_nothing(
    api: Api, case: str, body: bytes | dict[str, Any], field: str
) -> None:
    before = total_memories(api)
    if isinstance(body, bytes):
        r = api.client.post(
            "/api/v1/memories", content=body, headers={**api.headers, "content-type": "application/json"}
        )
    else:
        r = api.client.post("/api/v1/memories", json=body, headers=api.headers)
    assert_error(r, 400, field)
    assert total_memories(api) == before


BAD_LIST_PARAMS: list[tuple[dict[str, Any], str]] = [
    ({"limit": "abc"}, "limit"),
    ({"limit": 5000}, "limit"),
    ({"limit": -1}, "limit"),
    ({"offset": -1}, "offset"),
    ({"order": "sideways"}, "order"),
    ({"since": "yesterday"}, "since"),
    ({"until": "soon"}, "until"),
    ({"memory_type": "semantic"}, "memory_type"),
    ({"event_type": "a-b"}, "event_type"),
    ({"agent_id": "x' OR '1'='1"}, "agent_id"),
    ({"session_id": "1abc"}, "session_id"),
    ({"tags": "ok,not ok"}, "tags[1]"),
]


@pytest.mark.parametrize(("params", "field"), BAD_LIST_PARAMS, ids=[f for _, f in BAD_LIST_PARAMS])
def test_bad_list_parameters_are_400_naming_the_field(api: Api, params: dict[str, Any], field: str) -> None:
    assert_error(api.client.get("/api/v1/memories", params=params, headers=api.headers), 400, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        ({"memory_types": ["semantic"]}, "memory_types[0]"),
        ({"event_types": ["a b"]}, "event_types[0]"),
        ({"min_importance": "a lot"}, "min_importance"),
        ({"limit": -5}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"order": "up"}, "order"),
        ({"tags": "x"}, "tags"),
        ({"content_contains": "a\x00b"}, "content_contains"),
        ({"since": "last tuesday"}, "since"),
    ],
)
def test_bad_searches_are_400(api: Api, body: bytes | dict[str, Any], field: str) -> None:
    if isinstance(body, bytes):
        r = api.client.post(
            "/api/v1/search", content=body, headers={**api.headers, "content-type": "application/json"}
        )
    else:
        r = api.client.post("/api/v1/search", json=body, headers=api.headers)
    assert_error(r, 400, field)


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/v1/sessions/9bad", "session_id"),
        ("GET", "/api/v1/sessions/9bad/memories", "session_id"),
        ("POST", "/api/v1/sessions/a%20b/context", "session_id"),
        ("PUT", "/api/v1/sessions/a%27b", "session_id"),
        ("GET", "/api/v1/agents/a%00b/stats", "agent_id"),
        ("GET", "/api/v1/agents/a%20b/memories", "agent_id"),
        ("GET", "/api/v1/memories/mem_%27%3B%20DROP", "memory_id"),
        ("DELETE", "/api/v1/memories/not-a-memory", "memory_id"),
    ],
)
def test_invalid_ids_in_paths_are_400(api: Api, method: str, path: str, field: str) -> None:
    kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
    assert_error(api.client.request(method, path, headers=api.headers, **kwargs), 400, field)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/agents", {}, "name"),
        ("/api/v1/agents", {"name": ""}, "name"),
        ("/api/v1/agents", {"name": "a\x00b"}, "name"),
        ("/api/v1/agents", {"name": "x", "config": [1]}, "config"),
        ("/api/v1/sessions", {}, "agent_id"),
        ("/api/v1/sessions", {"agent_id": "a b"}, "agent_id"),
        ("/api/v1/sessions", {"agent_id": "a1", "metadata": "x"}, "metadata"),
        ("/api/v1/sessions", {"agent_id": "a1", "id": "1-not-an-id"}, "id"),
    ],
)
def test_bad_agent_and_session_bodies_are_400(api: Api, path: str, body: dict[str, Any], field: str) -> None:
    assert_error(api.client.post(path, json=body, headers=api.headers), 400, field)


def test_bad_context_options_and_session_updates_are_400(api: Api, uid: str) -> None:
    sid = api.client.post("/api/v1/sessions", json={"agent_id": uid}, headers=api.headers).json()["id"]
    ctx = f"/api/v1/sessions/{sid}/context"
    assert_error(api.client.post(ctx, json={"max_tokens": -1}, headers=api.headers), 400, "max_tokens")
    assert_error(api.client.post(ctx, json={"max_tokens": "many"}, headers=api.headers), 400, "max_tokens")
    assert_error(
        api.client.post(ctx, json={"include_types": ["bogus"]}, headers=api.headers), 400, "include_types[0]"
    )
    assert_error(api.client.post(ctx, json={"since": "the dawn"}, headers=api.headers), 400, "since")
    update = f"/api/v1/sessions/{sid}"
    assert_error(api.client.put(update, json={"status": "not valid!"}, headers=api.headers), 400, "status")
    assert_error(api.client.put(update, json={"metadata": "x"}, headers=api.headers), 400, "metadata")
    assert api.client.get(update, headers=api.headers).json()["status"] == "active"


def test_sql_looking_text_is_stored_verbatim_and_harmless(api: Api, uid: str) -> None:
    hostile = [
        "x'); DROP TABLE memories; --",
        "' OR '1'='1",
        'quote " and backslash \\ and ; semicolon',
        "100% of_the_time",
        "ünïcödé — 日本語 🚀",
    ]
    items = [{"agent_id": uid, "content": c, "metadata": {"sql": c}} for c in hostile]
    r = api.client.post("/api/v1/memories", json={"memories": items}, headers=api.headers)
    assert r.status_code == 201 and r.json()["count"] == len(hostile)
    listed = api.client.get("/api/v1/memories", params={"agent_id": uid, "order": "asc"}, headers=api.headers)
    assert [m["content"] for m in listed.json()["memories"]] == hostile
    assert [m["metadata"]["sql"] for m in listed.json()["memories"]] == hostile
    # LIKE wildcards in a substring search are literal characters, not patterns.
    found = api.client.post(
        "/api/v1/search", json={"agent_id": uid, "content_contains": "0% of_"}, headers=api.headers
    )
    assert [m["content"] for m in found.json()["results"]] == ["100% of_the_time"]
    ranked = api.client.post(
        "/api/v1/search", json={"agent_id": uid, "query": "' OR 1=1 --"}, headers=api.headers
    )
    assert ranked.status_code == 200


def test_numbers_too_large_for_the_store_are_400(api: Api) -> None:
    assert_error(api.client.get("/api/v1/memories", params={"offset": str(2**70)}, headers=api.headers))
    assert_error(api.client.post("/api/v1/search", json={"offset": 2**70}, headers=api.headers))


def test_lone_surrogates_are_rejected(api: Api) -> None:
    h = {**api.headers, "content-type": "application/json"}
    before = total_memories(api)
    assert_error(
        api.client.post("/api/v1/memories", content=b'{"agent_id":"a1","content":"x\\ud800"}', headers=h)
    )
    assert_error(api.client.post("/api/v1/agents", content=b'{"name":"x\\ud800"}', headers=h))
    assert total_memories(api) == before


# ------------------------------------------------------------------ size limits


@pytest.fixture(scope="module")
def small_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir: Path = tmp_path_factory.mktemp("small") / "data"
    config = load_config(
        None,
        env={"MEMTRACE_LIMITS_MAX_BODY_BYTES": "4096", "MEMTRACE_LIMITS_MAX_CONTENT_LENGTH": "100"},
        search=False,
        overrides={"server.data_dir": str(data_dir)},
    )
    state = open_state(config)
    key = new_key()
    bootstrap(state.keys, key)
    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        yield Api(client, key, data_dir)


def test_oversize_content_is_400_naming_content(small_api: Api) -> None:
    before = total_memories(small_api)
    r = small_api.client.post(
        "/api/v1/memories", json={"agent_id": "a1", "content": "x" * 101}, headers=small_api.headers
    )
    body = assert_error(r, 400, "content")
    assert "100" in body["error"]
    ok = small_api.client.post(
        "/api/v1/memories", json={"agent_id": "a1", "content": "x" * 100}, headers=small_api.headers
    )
    assert ok.status_code == 201
    assert total_memories(small_api) == before + 1


def test_oversize_body_is_413_and_stores_nothing(small_api: Api) -> None:
    before = total_memories(small_api)
    items = [{"agent_id": "a1", "content": f"item {i} " + "y" * 50} for i in range(100)]
    assert_error(
        small_api.client.post("/api/v1/memories", json={"memories": items}, headers=small_api.headers),
        413,
        "body",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold for streamed bodies too
        yield b'{"memories": ['
        for i in range(100):
            yield (
                (b"," if i else b"")
                + b'{"agent_id": "a1", "content": "chunk '
                + str(i).encode()
                + b" "
                + b"z" * 50
                + b'"}'
            )
        yield b"]}"

    r = small_api.client.post(
        "/api/v1/memories",
        content=chunks(),
        headers={**small_api.headers, "content-type": "application/json"},
    )
    assert_error(r, 413, "body")
    assert total_memories(small_api) == before


HUGE = "9" * 4301  # one digit more than Python parses into an int by default


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/search", '{"query": "x", "limit": %s}', "limit"),
        ("POST", "/api/v1/search", '{"query": "x", "offset": -%s}', "offset"),
        ("POST", "/api/v1/memories", '{"agent_id": "a", "content": "x", "importance": %s}', "importance"),
        ("POST", "/api/v1/memories", '{"agent_id": "a", "content": "x", "metadata": {"n": [1, %s]}}', "metadata.n[1]"),
        ("POST", "/api/v1/memories", '{"memories": [{"agent_id": "a", "content": "x", "metadata": {"n": %s}}]}',
         "memories[0].metadata.n"),
        ("POST", "/api/v1/memories", '{"agent_id": "a", "content": "x", "metadata": {"f": %s.5}}', "metadata.f"),
        ("POST", "/api/v1/agents", '{"name": "a", "metadata": {"n": %s}}', "metadata.n"),
        ("DELETE", "/api/v1/memories", '{"agent_id": "a", "memory_ids": [%s]}', "memory_ids[0]"),
    ],
)  # fmt: skip
def test_a_number_too_long_to_parse_is_a_400_naming_its_field(
    api: Api, method: str, path: str, body: str, field: str
) -> None:
    before = total_memories(api)
    response = api.client.request(
        method, path, content=body % HUGE, headers={**api.headers, "content-type": "application/json"}
    )
    assert "number too large" in assert_error(response, 400, field)["error"]
    assert total_memories(api) == before


@pytest.mark.parametrize("path", ["/api/v1/agents", "/api/v1/sessions", "/api/v1/forget"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_without_the_json_content_type_is_400_saying_so(
    api: Api, uid: str, path: str, content_type: str | None
) -> None:
    # As the original server, these routes read JSON only when told it is JSON (curl -d sends a form type);
    # the error says what to send instead of pydantic's "Input should be a valid dictionary".
    headers = {k: v for k, v in api.headers.items() if k.lower() != "content-type"}
    if content_type:
        headers["content-type"] = content_type
    body = assert_error(
        api.client.post(path, content=f'{{"agent_id": "{uid}"}}', headers=headers), 400, "body"
    )
    assert "Content-Type: application/json" in body["error"]
