"""Several ``memtrace serve`` processes on one PostgreSQL database behave as one service (docs/server.md,
"Running several servers on PostgreSQL"): nothing local, one dedup decision, revocation everywhere within the
documented bound, per-replica rate limits, one leader, and migrations applied once when replicas start together.
"""

from __future__ import annotations

import concurrent.futures
import re
import signal
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from support.server import run_cli

from memtrace.stores.postgres import SCHEMA_VERSION

from .replicas import RoundRobin, replicas, start_replica
from .server import fresh_database_url

pytestmark = pytest.mark.slow

REVOCATION_BOUND_SECONDS = 2.0
"""``auth.revocation_poll_seconds``'s default: the documented bound for a revocation made elsewhere."""


def memory(agent: str, content: str, **extra: object) -> dict[str, object]:
    return {"agent_id": agent, "content": content, **extra}


def files_under(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_a_replica_on_postgres_writes_nothing_locally_and_migrate_applies_the_schema(
    tmp_path: Path,
) -> None:
    with fresh_database_url() as url:
        first = run_cli(["migrate", "--store-url", url], cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert re.search(r"applied migrations 1\b", first.stdout), first.stdout
        again = run_cli(["migrate", "--store-url", url], cwd=tmp_path)
        assert again.returncode == 0 and "is up to date" in again.stdout, again.stdout + again.stderr

        with replicas(tmp_path / "r", url, 1, env={"MEMTRACE_UI_SESSION_SECRET": ""}) as [server]:
            with server.client() as client:
                stored = client.post("/api/v1/memories", json=memory("a1", "kept in PostgreSQL"))
                assert stored.status_code == 201, stored.text
                listed = client.get("/api/v1/memories", params={"agent_id": "a1"}).json()
                assert [m["content"] for m in listed["memories"]] == ["kept in PostgreSQL"]
                # Without ui.session_secret there is nowhere shared to keep one: the dashboard is off, said so.
                assert client.get("/ui/").status_code == 404
            assert "set ui.session_secret" in server.log()
        assert not server.data_dir.exists()
        assert files_under(tmp_path) == {server.log_path.name}, "a replica wrote files besides its log"
        assert not list(tmp_path.glob("data*")) and not (tmp_path / "r" / "data").exists()


def test_two_replicas_store_one_memory_for_concurrent_identical_writes(tmp_path: Path) -> None:
    with fresh_database_url() as url, replicas(tmp_path, url, 2) as servers:
        lb = RoundRobin(servers)
        try:
            body = memory("dup-agent", "the one memory", dedup_key="same-key")
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                statuses = list(
                    pool.map(
                        lambda _: lb.request("POST", "/api/v1/memories", json=body).status_code, range(40)
                    )
                )
            assert statuses.count(201) == 1, statuses
            assert statuses.count(409) == 39, statuses
            for server in servers:  # every replica sees the one row (reads go to the primary)
                with server.client() as client:
                    listed = client.get("/api/v1/memories", params={"agent_id": "dup-agent"}).json()
                    assert listed["count"] == 1
            # A batch through the other replica skips it too.
            batch = lb.request("POST", "/api/v1/memories", json={"memories": [body, body]}).json()
            assert batch["count"] == 0 and batch["skipped"] == 2
            # /metrics reads the store's counters (no scan), and they agree with what is stored.
            for server in servers:
                text = httpx.get(server.base_url + "/metrics", timeout=10).text
                assert re.search(r"^memtrace_store_memories 1\.0$", text, re.M), text[-2000:]
        finally:
            lb.close()


def _refused_within(client: httpx.Client, bound: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < bound + 3.0:
        if client.get("/api/v1/agents").status_code == 401:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"still accepted {bound + 3.0:g} s after revocation")


def test_a_key_revoked_on_one_replica_or_the_cli_is_refused_by_every_replica_within_the_bound(
    tmp_path: Path,
) -> None:
    with fresh_database_url() as url, replicas(tmp_path, url, 2) as (a, b):
        with a.client() as admin_a:
            keys = [admin_a.post("/api/v1/keys", json={"name": f"k{n}"}).json() for n in range(2)]
        for created in keys:
            with b.client(created["key"]) as on_b:  # warm B's cache: the key is trusted there now
                assert on_b.get("/api/v1/agents").status_code == 200

        with a.client() as admin_a:
            assert admin_a.delete(f"/api/v1/keys/{keys[0]['id']}").status_code == 204
        with a.client(keys[0]["key"]) as on_a:
            assert on_a.get("/api/v1/agents").status_code == 401  # the replica that revoked: at once
        with b.client(keys[0]["key"]) as on_b:
            elapsed = _refused_within(on_b, REVOCATION_BOUND_SECONDS)
        # The poll runs every 2 s and one round trip follows; allow scheduling noise on a loaded machine.
        assert elapsed <= REVOCATION_BOUND_SECONDS + 1.5, elapsed

        revoked = run_cli(["key", "revoke", str(keys[1]["id"]), "--store-url", url], cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        for server in (a, b):
            with server.client(keys[1]["key"]) as client:
                assert _refused_within(client, REVOCATION_BOUND_SECONDS) <= REVOCATION_BOUND_SECONDS + 1.5


def test_rate_limits_are_per_replica(tmp_path: Path) -> None:
    """Each replica holds its own buckets: N replicas admit up to N x ``limits.rate_limit_per_org`` (and N x
    the burst) for one organisation. Measured with a slow refill so the burst is what is counted."""
    env = {"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "0.01", "MEMTRACE_LIMITS_RATE_LIMIT_BURST": "5"}
    with fresh_database_url() as url, replicas(tmp_path, url, 2, env=env) as servers:
        admitted = []
        for server in servers:
            with server.client() as client:
                codes = [client.get("/api/v1/agents").status_code for _ in range(8)]
            assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
            admitted.append(codes.count(200))
        assert sum(admitted) == 2 * 5


def _leaders(servers: list) -> list[int]:  # type: ignore[type-arg]
    flags = []
    for server in servers:
        text = httpx.get(server.base_url + "/metrics", timeout=10).text
        found = re.search(r"^memtrace_leader (\S+)$", text, re.M)
        assert found, "memtrace_leader missing from /metrics"
        flags.append(int(float(found.group(1))))
    return flags


def _wait_for(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_three_replicas_started_together_on_an_empty_database_migrate_once_all_serve_and_one_leads(
    tmp_path: Path,
) -> None:
    with fresh_database_url() as url:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(start_replica, tmp_path / f"r{n}", url) for n in range(3)]
            servers = [f.result() for f in futures]
        try:
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT version FROM memtrace_schema").fetchall() == [(SCHEMA_VERSION,)]
            for n, server in enumerate(servers):
                with server.client() as client:
                    assert (
                        client.post("/api/v1/memories", json=memory("three", f"from {n}")).status_code == 201
                    )
            with servers[0].client() as client:
                assert client.get("/api/v1/memories", params={"agent_id": "three"}).json()["count"] == 3

            _wait_for(lambda: sum(_leaders(servers)) == 1, 10)
            for _ in range(5):  # and it stays one
                assert sum(_leaders(servers)) == 1
                time.sleep(0.2)
            leader = servers[_leaders(servers).index(1)]
            leader.stop(signal.SIGKILL)
            rest = [s for s in servers if s is not leader]
            # PostgreSQL drops the dead session's lock; a follower takes it at its next retry (2 s).
            _wait_for(lambda: sum(_leaders(rest)) == 1, 10)
        finally:
            for server in servers:
                server.stop(timeout=15)
