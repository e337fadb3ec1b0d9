"""Property-based fuzzing from the OpenAPI document (schemathesis): valid and invalid requests to every
operation of a real server never get a 5xx, and every error is a JSON object with an "error" message.

Bounded: a few hundred generated requests, well under a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from support.server import Api, ServerProcess, launch, new_key, stop

EXAMPLES_PER_MODE = 250


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """Bodies of ``POST /api/v1/import`` (JSON Lines): the generated text as it is."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, set[int]]]:
    server = launch(tmp_path_factory.mktemp("fuzz") / "data", new_key())
    try:
        with server.client() as admin:
            fuzz_key = admin.post(
                "/api/v1/keys", json={"name": "fuzz", "permissions": "read,write,admin"}
            ).json()
            protected = {k["id"] for k in admin.get("/api/v1/keys").json()["keys"]}
        yield server, fuzz_key["key"], protected
    finally:
        stop(server)


def _check(
    case: Any, session: requests.Session, key: str, protected: set[int], seen: dict[str, set[int]]
) -> None:
    # Revoking the keys the fuzzer itself uses would only turn the rest of the run into 401s.
    if case.path_parameters and case.path_parameters.get("key_id") in protected:
        return
    # The generated credentials would make the request ambiguous (a 401 by design): send only the fuzzer's key.
    for name in list(case.headers or {}):
        if name.lower() in ("authorization", "x-api-key"):
            del case.headers[name]
    response = case.call(session=session, headers={"x-api-key": key}, timeout=30)
    seen.setdefault(f"{case.method} {case.operation.path}", set()).add(response.status_code)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_request_gets_a_server_error(
    fuzz_target: tuple[ServerProcess, str, set[int]], mode: GenerationMode
) -> None:
    server, key, protected = fuzz_target
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    session = requests.Session()
    seen: dict[str, set[int]] = {}
    operations = sum(1 for _ in schema.get_all_operations())

    @settings(
        # Examples are spread over the operations; keep the budget per operation as the API grows.
        max_examples=max(EXAMPLES_PER_MODE, 15 * operations),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=schema.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        _check(case, session, key, protected, seen)

    fuzz()
    # The run reached (nearly) every operation, and valid requests mostly succeeded. (Operations without
    # parameters, like GET /health, have no invalid form, so the negative run reaches fewer.)
    assert len(seen) >= (operations - 3 if mode == GenerationMode.POSITIVE else operations // 2), sorted(seen)
    if mode == GenerationMode.POSITIVE:
        assert sum(1 for codes in seen.values() if any(c < 300 for c in codes)) >= operations // 2, repr(seen)
    # The server is still healthy and the fuzzer's key still works.
    assert httpx.get(server.base_url + "/ready").status_code == 200
    assert httpx.get(server.base_url + "/api/v1/memories", headers={"x-api-key": key}).status_code == 200


def test_the_document_states_the_bounds_the_engine_enforces(api: Api) -> None:
    """Each bound in the OpenAPI document is the one a request meets: one past it is a 400 naming the field."""
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]

    def bound(model: str, prop: str, keyword: str) -> int:
        branches = schemas[model]["properties"][prop].get("anyOf", [schemas[model]["properties"][prop]])
        return next(b[keyword] for b in branches if keyword in b)

    content_max = bound("AddMemoryRequest", "content", "maxLength")
    ids_max = bound("DeleteMemoriesRequest", "memory_ids", "maxItems")
    limit_max = bound("SearchQuery", "limit", "maximum")
    tags_max = bound("SearchQuery", "tags", "maxItems")
    types_max = bound("SearchQuery", "event_types", "maxItems")
    memory_tags_max = bound("AddMemoryRequest", "tags", "maxItems")
    assert (content_max, ids_max, limit_max) == (1_000_000, 1000, 1000)
    assert (tags_max, types_max, memory_tags_max) == (64, 64, 256)
    over = [
        ("POST", "/api/v1/search", {"tags": [f"t{i}" for i in range(tags_max + 1)]}, "tags"),
        ("POST", "/api/v1/search", {"event_types": [f"e{i}" for i in range(types_max + 1)]}, "event_types"),
        (
            "POST",
            "/api/v1/memories",
            {"agent_id": "a", "content": "x", "tags": [f"t{i}" for i in range(memory_tags_max + 1)]},
            "tags",
        ),
        ("POST", "/api/v1/memories", {"agent_id": "a", "content": "x" * (content_max + 1)}, "content"),
        ("DELETE", "/api/v1/memories", {"memory_ids": ["mem_" + "0" * 26] * (ids_max + 1)}, "memory_ids"),
        ("POST", "/api/v1/search", {"query": "x", "limit": limit_max + 1}, "limit"),
    ]
    for method, path, body, field in over:
        response = api.client.request(method, path, json=body, headers=api.headers)
        assert response.status_code == 400 and response.json()["field"] == field, response.text
