"""``POST /api/v1/batch``: several requests in one round trip, each answered exactly as if it had come alone.

A remote `AsyncMemtrace` packs the calls waiting for a connection into one batch (issue #15: 1,000 concurrent
calls, LangGraph's 6,000-op ``abatch``). What a caller relies on: every sub-request gets the status and body
the same request gets alone (fast-path routes, app routes, errors naming the field, 404s), permissions and the
rate limit apply per sub-request, a bad batch runs nothing, and a batch cannot hide a batch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from support.server import Api, ServerProcess

from memtrace import AddMemoryRequest, AsyncMemtrace, ListOptions, RateLimitedError
from memtrace.backends.http import (
    BATCH_CONTENT_TYPE,
    BATCH_PATH,
    AsyncHttpBackend,
    decode_batch,
    encode_batch,
)
from memtrace.backends.plans import HttpRequest
from memtrace_server import batch


def _batch(api: Api, requests: list[HttpRequest], headers: dict[str, str] | None = None) -> Any:
    return api.client.post(
        BATCH_PATH,
        content=encode_batch(requests),
        headers={**(headers or api.headers), "content-type": BATCH_CONTENT_TYPE},
    )


def _alone(api: Api, request: HttpRequest) -> Any:
    headers = dict(api.headers)
    if request.content is not None:
        headers["content-type"] = "application/json"
    return api.client.request(
        request.method, request.path, params=request.params, content=request.content, headers=headers
    )


def test_each_sub_request_is_answered_as_it_is_alone(api: Api, uid: str) -> None:
    agent, name = uid, f"team/{uid} ü?#"  # an agent name needing escapes ('/' too), as the client sends it
    assert api.client.post("/api/v1/agents", json={"name": name}, headers=api.headers).status_code == 201
    for i in range(3):
        created = api.client.post(
            "/api/v1/memories",
            json={"agent_id": agent, "content": f"note {i}", "tags": ["t"]},
            headers=api.headers,
        )
        assert created.status_code == 201
    memory_id = created.json()["id"]
    requests = [
        HttpRequest("GET", "/api/v1/memories", {"agent_id": agent, "limit": 2, "order": "asc"}),  # fast path
        HttpRequest(
            "GET", "/api/v1/memories", {"agent_id": agent, "limit": "abc"}
        ),  # declined: the app's 400
        HttpRequest("GET", f"/api/v1/memories/{memory_id}"),
        HttpRequest("GET", f"/api/v1/agents/{quote(name, safe='')}"),
        HttpRequest(
            "POST", "/api/v1/search", content=json.dumps({"query": "note", "agent_id": agent}).encode()
        ),
        HttpRequest("GET", "/api/v1/memories/mem_00000000000000000000000000"),  # 404
        HttpRequest("GET", "/api/v1/no-such-route"),
        HttpRequest("POST", "/api/v1/memories", content=b'{"agent_id": "", "content": "x"}'),  # 400 field
    ]
    answer = _batch(api, requests)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == BATCH_CONTENT_TYPE
    replies = decode_batch(requests, answer.content)
    for request, reply in zip(requests, replies, strict=True):
        alone = _alone(api, request)
        assert reply.status == alone.status_code, request
        if request.path != "/api/v1/search":  # search answers carry their own query time
            assert json.loads(reply.content) == alone.json(), request
    assert [r.status for r in replies] == [200, 400, 200, 200, 200, 404, 404, 400]
    assert json.loads(replies[1].content)["field"] == "limit"


def test_writes_in_a_batch_are_each_stored(api: Api, uid: str) -> None:
    requests = [
        HttpRequest(
            "POST", "/api/v1/memories", content=json.dumps({"agent_id": uid, "content": f"m{i}"}).encode()
        )
        for i in range(20)
    ]
    replies = decode_batch(requests, _batch(api, requests).content)
    assert [r.status for r in replies] == [201] * 20
    listed = api.client.get("/api/v1/memories", params={"agent_id": uid}, headers=api.headers).json()
    assert sorted(m["content"] for m in listed["memories"]) == sorted(f"m{i}" for i in range(20))


@pytest.mark.parametrize(
    "body",
    [b"GET /api/v1/memories\n", b"GET /api/v1/memories 10\nshort", b"BREW /api/v1/memories 0\n", b""],
)
def test_a_malformed_batch_runs_nothing(api: Api, body: bytes) -> None:
    answer = api.client.post(BATCH_PATH, content=body, headers=api.headers)
    assert answer.status_code == 400 and answer.json()["field"] == "body"


def test_a_batch_cannot_contain_a_batch(api: Api, uid: str) -> None:
    inner = encode_batch([HttpRequest("GET", "/api/v1/memories", {"agent_id": uid})])
    requests = [HttpRequest("POST", BATCH_PATH, content=inner)]
    (reply,) = decode_batch(requests, _batch(api, requests).content)
    assert reply.status == 400


@pytest.mark.parametrize("path", ["/ui/", "/metrics", "/health", "/%61pi/../metrics"])
def test_only_api_routes_can_be_batched(api: Api, path: str) -> None:
    requests = [HttpRequest("GET", path)]
    (reply,) = decode_batch(requests, _batch(api, requests).content)
    assert reply.status == 400 and "only /api/v1/ routes" in json.loads(reply.content)["error"]


@pytest.mark.parametrize("path", ["/api/v1/export", "/api/v1/import", "/api/v1/%65xport"])
def test_export_and_import_cannot_be_batched(api: Api, uid: str, path: str) -> None:
    # They stream bodies of any size; batched, the server would hold a whole organisation's export in memory.
    method = "GET" if "xport" in path else "POST"
    requests = [HttpRequest(method, path, content=b'{"memtrace_export": 1}\n' if method == "POST" else b"")]
    (reply,) = decode_batch(requests, _batch(api, requests).content)
    assert reply.status == 400 and "cannot be sent in a batch" in json.loads(reply.content)["error"]


def test_a_batch_needs_a_key_and_sub_requests_need_their_permission(
    live_server, new_org_key: Callable[..., tuple[str, str, int]], uid: str
) -> None:
    _, reader, _ = new_org_key(permissions="read")
    requests = [
        HttpRequest("GET", "/api/v1/memories", {"agent_id": uid}),
        HttpRequest(
            "POST", "/api/v1/memories", content=json.dumps({"agent_id": uid, "content": "x"}).encode()
        ),
    ]
    with httpx.Client(base_url=live_server.base_url) as http:
        body = encode_batch(requests)
        assert http.post(BATCH_PATH, content=body).status_code == 401
        answer = http.post(BATCH_PATH, content=body, headers={"x-api-key": reader})
    assert [r.status for r in decode_batch(requests, answer.content)] == [200, 403]


def test_every_sub_request_is_charged_to_the_rate_limit(spawn_server: Callable[..., ServerProcess]) -> None:
    server = spawn_server(
        {"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "0.05", "MEMTRACE_LIMITS_RATE_LIMIT_BURST": "3"}
    )
    requests = [HttpRequest("GET", "/api/v1/memories", {"agent_id": "a1"}) for _ in range(5)]
    with server.client() as http:
        answer = http.post(BATCH_PATH, content=encode_batch(requests))
    statuses = [r.status for r in decode_batch(requests, answer.content)]
    assert statuses.count(200) == 3 and statuses.count(429) == 2


def test_a_remote_async_client_under_fan_out_gets_every_answer(live_server, uid: str) -> None:
    """1,000 concurrent calls (they ride in batches) each get their own answer, errors included."""

    async def fan_out() -> list[object]:
        async with AsyncMemtrace(live_server.base_url, live_server.api_key) as client:
            await client.add_memories([AddMemoryRequest(agent_id=uid, content=f"m{i}") for i in range(5)])
            calls = [
                client.list_memories(ListOptions(agent_id=uid, limit=1 + i % 5))
                if i % 100
                else client.list_memories(ListOptions(agent_id=uid, limit=5000))
                for i in range(1000)
            ]
            return await asyncio.gather(*calls, return_exceptions=True)

    answers = asyncio.run(fan_out())
    for i, answer in enumerate(answers):
        if i % 100:
            assert not isinstance(answer, BaseException) and answer.count == 1 + i % 5  # type: ignore[attr-defined]
        else:
            assert type(answer).__name__ == "ValidationError" and answer.field == "limit"  # type: ignore[attr-defined]


def test_a_server_without_the_batch_route_gets_the_requests_one_by_one() -> None:
    """The original Memtrace server has no batch route: the client falls back (a stand-in server here)."""
    seen: list[str] = []

    async def original_server(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        await asyncio.sleep(0.01)  # a round trip, so that calls queue for connections
        if request.url.path == BATCH_PATH:
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(200, json={"memories": [], "count": 0, "has_more": False})

    async def fan_out() -> list[int]:
        backend = AsyncHttpBackend(
            "http://original.test", "mtk_x", transport=httpx.MockTransport(original_server)
        )
        client = AsyncMemtrace.from_backend(backend)
        async with client:
            pages = await asyncio.gather(
                *(client.list_memories(ListOptions(agent_id="a")) for _ in range(50))
            )
        return [p.count for p in pages]

    assert asyncio.run(fan_out()) == [0] * 50
    assert seen.count(BATCH_PATH) == 1 and seen.count("/api/v1/memories") == 50


def test_a_rate_limited_batch_is_each_callers_error(spawn_server: Callable[..., ServerProcess]) -> None:
    server = spawn_server(
        {"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "0.05", "MEMTRACE_LIMITS_RATE_LIMIT_BURST": "20"}
    )

    async def fan_out() -> list[object]:
        async with AsyncMemtrace(server.base_url, server.api_key) as client:
            return await asyncio.gather(
                *(client.list_memories(ListOptions(agent_id="a1")) for _ in range(60)), return_exceptions=True
            )

    answers = asyncio.run(fan_out())
    limited = [a for a in answers if isinstance(a, RateLimitedError)]
    assert len(limited) > 0 and len(answers) - len(limited) <= 20
    assert all(a.retry_after and a.retry_after >= 1 for a in limited)


def test_a_batch_whose_replies_pass_the_budget_runs_no_more(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    """The reply is held whole in memory: past ``limits.max_batch_reply_bytes`` the sub-requests not yet started
    answer 413 and did nothing (a write among them is not stored), so the client can send them again."""
    server = spawn_server({"MEMTRACE_LIMITS_MAX_BATCH_REPLY_BYTES": "4096"})
    with server.client() as http:
        assert (
            http.post("/api/v1/memories", json={"agent_id": "big", "content": "x" * 5000}).status_code == 201
        )
        reads = [
            HttpRequest("GET", "/api/v1/memories", {"agent_id": "big"})
            for _ in range(batch.MAX_IN_FLIGHT * 2)
        ]
        writes = [
            HttpRequest(
                "POST", "/api/v1/memories", content=json.dumps({"agent_id": "w", "content": f"{i}"}).encode()
            )
            for i in range(5)
        ]
        requests = reads + writes
        answer = http.post(BATCH_PATH, content=encode_batch(requests))
        assert answer.status_code == 200
        statuses = [r.status for r in decode_batch(requests, answer.content)]
        # The first MAX_IN_FLIGHT start before any reply is in; one reply alone passes the 4 KiB budget (a reply
        # under it would let the next waiter start or not depending on how many replies landed first), so the
        # rest see it passed.
        assert statuses == [200] * batch.MAX_IN_FLIGHT + [413] * (len(requests) - batch.MAX_IN_FLIGHT)
        refused = json.loads(decode_batch(requests, answer.content)[-1].content)
        assert refused["field"] == "body" and "not run" in refused["error"]
        assert http.get("/api/v1/memories", params={"agent_id": "w"}).json()["count"] == 0


def test_a_remote_client_sends_again_what_a_batch_did_not_run(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    server = spawn_server({"MEMTRACE_LIMITS_MAX_BATCH_REPLY_BYTES": "4096"})

    async def fan_out() -> list[int]:
        async with AsyncMemtrace(server.base_url, server.api_key) as client:
            await client.add_memories(
                [AddMemoryRequest(agent_id="a1", content=f"{i} " + "y" * 500) for i in range(10)]
            )
            pages = await asyncio.gather(
                *(client.list_memories(ListOptions(agent_id="a1")) for _ in range(300))
            )
        return [p.count for p in pages]

    assert asyncio.run(fan_out()) == [10] * 300
