"""Expiry and retention over the wire: ``ttl``/``expires_at`` on REST and through the remote clients, the admin
retention API (and who may use it), the leader's sweeper with a ``[retention]`` policy, and ``memtrace retention``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from support.server import ServerProcess, memtrace

from memtrace import AddMemoryRequest, AsyncMemtrace, ListOptions, Memtrace

HOUR = timedelta(hours=1)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------------------ per-memory expiry


def test_a_ttl_round_trips_over_rest(live_server: ServerProcess, uid: str) -> None:
    with live_server.client() as c:
        made = c.post("/api/v1/memories", json={"agent_id": uid, "content": "short lived", "ttl": "2h"})
        assert made.status_code == 201, made.text
        body = made.json()
        assert parse(body["expires_at"]) - parse(body["time"]) == pytest.approx(
            2 * HOUR, abs=timedelta(seconds=5)
        )
        fetched = c.get(f"/api/v1/memories/{body['id']}").json()
        assert fetched["expires_at"] == body["expires_at"]
        when = datetime(2099, 5, 6, 7, 8, 9, tzinfo=UTC)
        made = c.post(
            "/api/v1/memories", json={"agent_id": uid, "content": "until 2099", "expires_at": iso(when)}
        )
        assert parse(made.json()["expires_at"]) == when
        plain = c.post("/api/v1/memories", json={"agent_id": uid, "content": "an old client's memory"}).json()
        assert "expires_at" not in plain  # absent, as old clients expect: the wire leaves out unset fields


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ttl": "forever"}, "ttl"),
        ({"ttl": "0m"}, "ttl"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "not a time"}, "expires_at"),
        ({"ttl": "1h", "expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_a_bad_expiry_is_a_400_naming_the_field(
    live_server: ServerProcess, uid: str, fields: dict[str, str], field: str
) -> None:
    with live_server.client() as c:
        single = c.post("/api/v1/memories", json={"agent_id": uid, "content": "x", **fields})
        assert single.status_code == 400 and single.json()["field"] == field, single.text
        batch = c.post(
            "/api/v1/memories",
            json={
                "memories": [
                    {"agent_id": uid, "content": "fine"},
                    {"agent_id": uid, "content": "y", **fields},
                ]
            },
        )
        assert batch.status_code == 400 and batch.json()["field"] == f"memories[1].{field}", batch.text
        assert c.get("/api/v1/memories", params={"agent_id": uid}).json()["count"] == 0


def test_the_remote_clients_pass_an_expiry_through(live_server: ServerProcess, uid: str) -> None:
    when = datetime(2098, 1, 1, tzinfo=UTC)
    with Memtrace(live_server.base_url, live_server.api_key) as mt:
        memory = mt.add_memory(AddMemoryRequest(agent_id=uid, content="remote ttl", ttl="30m"))
        assert memory.expires_at is not None
        assert memory.expires_at - memory.time == pytest.approx(
            timedelta(minutes=30), abs=timedelta(seconds=5)
        )
        batch = mt.add_memories([AddMemoryRequest(agent_id=uid, content="remote absolute", expires_at=when)])
        assert batch[0].expires_at == when

    async def run() -> None:
        async with AsyncMemtrace(live_server.base_url, live_server.api_key) as amt:
            memory = await amt.add_memory(AddMemoryRequest(agent_id=uid, content="async ttl", ttl="1d"))
            assert memory.expires_at is not None and memory.expires_at > datetime.now(UTC) + 23 * HOUR

    import asyncio

    asyncio.run(run())


# --------------------------------------------------------------------------------------- admin retention API


def test_an_org_admin_sets_shows_and_clears_its_own_policy(
    live_server: ServerProcess, new_org_key: Callable[..., tuple[str, str, int]]
) -> None:
    org, key, _ = new_org_key(permissions="read,write,admin")
    with live_server.client(key) as c:
        assert c.get("/api/v1/retention").json() == {"org_id": org, "rules": [], "count": 0}
        put = c.put("/api/v1/retention", json={"keep": "30d"})
        assert put.status_code == 200, put.text
        assert put.json()["memory_type"] == "*" and put.json()["max_age_seconds"] == 30 * 86400
        assert (
            c.put("/api/v1/retention", json={"keep": "forever", "memory_type": "decision"}).status_code == 200
        )
        shown = c.get("/api/v1/retention").json()
        assert [(r["memory_type"], r["keep"]) for r in shown["rules"]] == [
            ("*", "30d"),
            ("decision", "forever"),
        ]
        cleared = c.delete("/api/v1/retention", params={"memory_type": "decision"})
        assert cleared.json() == {"org_id": org, "removed": 1}
        assert c.delete("/api/v1/retention").json() == {"org_id": org, "removed": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keep": "30m"}, "keep"),  # minutes: too short to be meant
        ({"keep": "soon"}, "keep"),
        ({}, "keep"),
        ({"keep": "7d", "memory_type": "episodes"}, "memory_type"),
    ],
)
def test_a_bad_policy_is_a_400_naming_the_field(
    live_server: ServerProcess,
    new_org_key: Callable[..., tuple[str, str, int]],
    body: dict[str, str],
    field: str,
) -> None:
    _, key, _ = new_org_key(permissions="admin")
    with live_server.client(key) as c:
        answer = c.put("/api/v1/retention", json=body)
        assert answer.status_code == 400 and answer.json()["field"] == field, answer.text
        assert set(answer.json()) >= {"error", "field"}


def test_keys_without_admin_and_other_orgs_admins_are_refused(
    live_server: ServerProcess, new_org_key: Callable[..., tuple[str, str, int]]
) -> None:
    org, plain, _ = new_org_key(permissions="read,write")
    _, other_admin, _ = new_org_key(permissions="admin")
    with live_server.client(plain) as c:
        assert c.get("/api/v1/retention").status_code == 403
        assert c.put("/api/v1/retention", json={"keep": "7d"}).status_code == 403
        assert c.delete("/api/v1/retention").status_code == 403
        assert c.post("/api/v1/retention/run", json={"dry_run": True}).status_code == 403
    with live_server.client(other_admin) as c:
        assert c.get("/api/v1/retention", params={"org_id": org}).status_code == 403
        assert c.put("/api/v1/retention", json={"keep": "7d", "org_id": org}).status_code == 403
        assert c.post("/api/v1/retention/run", json={"org_id": org}).status_code == 403
    # The server admin manages any org's.
    with live_server.client() as c:
        assert c.put("/api/v1/retention", json={"keep": "7d", "org_id": org}).status_code == 200
        assert c.get("/api/v1/retention", params={"org_id": org}).json()["count"] == 1
        assert c.get("/api/v1/retention", params={"org_id": "org_nobody"}).status_code == 404


def test_an_admin_run_sweeps_its_org_and_a_dry_run_only_counts(
    live_server: ServerProcess, new_org_key: Callable[..., tuple[str, str, int]]
) -> None:
    org, key, key_id = new_org_key(permissions="read,write,admin")
    old = iso(datetime.now(UTC) - timedelta(days=40))
    with live_server.client(key) as c:
        for memory_type in ("episodic", "decision"):
            c.post(
                "/api/v1/memories",
                json={"agent_id": "a", "content": memory_type, "memory_type": memory_type, "time": old},
            )
        c.post("/api/v1/memories", json={"agent_id": "a", "content": "recent"})
        c.put("/api/v1/retention", json={"keep": "30d"})
        c.put("/api/v1/retention", json={"keep": "forever", "memory_type": "decision"})
        dry = c.post("/api/v1/retention/run", json={"dry_run": True}).json()
        assert dry["dry_run"] and dry["orgs"] == {org: {"retention": {"episodic": 1}}}
        assert c.get("/api/v1/memories", params={"since": "100d"}).json()["count"] == 3
        done = c.post("/api/v1/retention/run").json()
        assert (
            not done["dry_run"]
            and done["total"] == 1
            and done["orgs"] == {org: {"retention": {"episodic": 1}}}
        )
        left = c.get("/api/v1/memories", params={"since": "100d"}).json()["memories"]
        assert sorted(m["content"] for m in left) == ["decision", "recent"]
        # The run is in the audit trail (the dry run is not): who, and what went by reason and type.
        (entry,) = c.get("/api/v1/audit", params={"action": "retention.run"}).json()["entries"]
        assert (entry["org_id"], entry["actor"], entry["key_id"]) == (org, "api", key_id)
        assert entry["counts"] == {"retention.episodic": 1, "memories": 1}


# ------------------------------------------------------------------------------ the leader's sweeper, config


def test_the_leader_applies_the_configured_policy_on_its_own(
    spawn_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    config = tmp_path / "memtrace.toml"
    config.write_text('[retention]\ndefault = "1d"\ndecision = "forever"\nsweep_interval_seconds = 1\n')
    server = spawn_server(args=["--config", str(config)])
    old = iso(datetime.now(UTC) - timedelta(days=3))
    with server.client() as c:
        shown = c.get("/api/v1/retention").json()
        assert [(r["memory_type"], r["keep"]) for r in shown["rules"]] == [
            ("*", "1d"),
            ("decision", "forever"),
        ]
        c.post("/api/v1/memories", json={"agent_id": "a", "content": "old episode", "time": old})
        c.post(
            "/api/v1/memories",
            json={"agent_id": "a", "content": "old decision", "memory_type": "decision", "time": old},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            contents = [
                m["content"] for m in c.get("/api/v1/memories", params={"since": "7d"}).json()["memories"]
            ]
            if contents == ["old decision"]:
                break
            time.sleep(0.2)
        assert contents == ["old decision"]
    assert "retention sweep (scheduled)" in server.log()


# ---------------------------------------------------------------------------------------------------- the CLI


def test_the_retention_commands_set_show_run_and_clear(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    with Memtrace.open(tmp_path / "data", sweep_every=None) as mt:
        mt.add_memory(
            AddMemoryRequest(agent_id="a", content="old", time=datetime.now(UTC) - timedelta(days=40))
        )
        mt.add_memory(AddMemoryRequest(agent_id="a", content="new"))
    assert memtrace("retention", "set", "30d", *data).stdout.split() == [
        "retention",
        "set:",
        "org_default",
        "*",
        "30d",
    ]
    bad = memtrace("retention", "set", "30m", *data)
    assert bad.returncode == 1 and "keep" in bad.stderr and "at least" not in bad.stdout
    shown = json.loads(memtrace("retention", "show", "--json", *data).stdout)
    assert [(r["org_id"], r["memory_type"], r["keep"]) for r in shown] == [("org_default", "*", "30d")]
    dry = memtrace("retention", "run", "--dry-run", *data)
    assert dry.returncode == 0 and dry.stdout.splitlines()[0] == "would delete 1 memories", dry.stdout
    assert "org_default" in dry.stdout and "retention" in dry.stdout and "episodic" in dry.stdout
    done = json.loads(memtrace("retention", "run", "--json", *data).stdout)
    assert done["orgs"] == {"org_default": {"retention": {"episodic": 1}}}
    assert json.loads(memtrace("retention", "run", "--json", *data).stdout)["total"] == 0
    with Memtrace.open(tmp_path / "data", sweep_every=None) as mt:
        assert [m.content for m in mt.list_memories(ListOptions(since="100d")).memories] == ["new"]
    cleared = memtrace("retention", "clear", *data)
    assert cleared.returncode == 0 and cleared.stdout.strip() == "removed 1 retention rule of org_default"


def test_the_admin_api_refuses_a_read_only_key_with_json(
    live_server: ServerProcess, new_org_key: Callable[..., tuple[str, str, int]]
) -> None:
    _, key, _ = new_org_key(permissions="read")
    answer = httpx.get(f"{live_server.base_url}/api/v1/retention", headers={"x-api-key": key})
    assert answer.status_code == 403 and "error" in answer.json()
