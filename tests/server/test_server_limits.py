"""Per-org rate limits (429 with Retry-After) and request size limits, over a real server and through the
remote client, which raises the same errors the embedded engine would."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from support.server import ServerProcess

from memtrace import AddMemoryRequest, Memtrace, RateLimitedError, ValidationError
from memtrace_server.ratelimit import RateLimiter


def test_token_bucket_refills_over_time() -> None:
    limiter = RateLimiter(rate=2, burst=2)
    limiter.check("org_a", now=100.0)
    limiter.check("org_a", now=100.0)
    with pytest.raises(RateLimitedError) as err:
        limiter.check("org_a", now=100.0)
    assert err.value.retry_after == 1
    limiter.check("org_b", now=100.0)  # buckets are per organisation
    limiter.check("org_a", now=100.5)  # half a second refills one token at 2/s
    with pytest.raises(RateLimitedError):
        limiter.check("org_a", now=100.5)


def test_an_org_over_its_rate_gets_429_and_others_do_not(spawn_server: Callable[..., ServerProcess]) -> None:
    server = spawn_server(
        {"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "0.05", "MEMTRACE_LIMITS_RATE_LIMIT_BURST": "3"}
    )
    with server.client() as admin:
        admin.post("/api/v1/orgs", json={"name": "other", "id": "org_other"})
        other_key = admin.post("/api/v1/keys", json={"name": "o", "org_id": "org_other"}).json()["key"]
        statuses = [admin.get("/api/v1/memories").status_code for _ in range(3)]
    assert 429 in statuses
    with server.client() as admin:
        limited = admin.get("/api/v1/memories")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "rate limit" in limited.json()["error"]
    with server.client(other_key) as other:
        assert other.get("/api/v1/memories").status_code == 200
    assert httpx.get(server.base_url + "/health").status_code == 200  # operations are never limited
    with Memtrace(server.base_url, server.api_key) as client, pytest.raises(RateLimitedError) as err:
        client.recall("a1")
    assert err.value.status_code == 429 and err.value.retry_after and err.value.retry_after >= 1


def test_an_oversize_batch_is_a_validation_error_in_the_client(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    server = spawn_server(
        {"MEMTRACE_LIMITS_MAX_BODY_BYTES": "2048", "MEMTRACE_LIMITS_MAX_CONTENT_LENGTH": "50"}
    )
    with Memtrace(server.base_url, server.api_key) as client:
        with pytest.raises(ValidationError) as err:
            client.add_memories([AddMemoryRequest(agent_id="a1", content=f"memory {i}") for i in range(100)])
        assert err.value.field == "body" and err.value.status_code == 413
        with pytest.raises(ValidationError) as err:
            client.remember("a1", "x" * 51)
        assert err.value.field == "content"
        assert client.recall("a1").count == 0
