"""The `memtrace` command: first run, org and key management on a data directory, config, logs, shutdown."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from pathlib import Path

from support.server import ServerProcess, launch, memtrace, new_key, stop


def test_first_run_prints_an_admin_key_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = launch(data_dir, None)
    try:
        match = re.search(r"FIRST RUN: Save your admin API key.*\n\s*API Key: (mtk_\S+)", first.log())
        assert match, first.log()
        key = match.group(1)
        assert len(key) == 48
        with first.client(key) as c:
            assert c.post("/api/v1/orgs", json={"name": "made by the first admin"}).status_code == 201
    finally:
        stop(first)
    second = launch(data_dir, None)
    try:
        assert "FIRST RUN" not in second.log()
        with second.client(key) as c:
            assert c.get("/api/v1/orgs").status_code == 200
    finally:
        stop(second)


def test_an_env_admin_key_replaces_the_generated_one(spawn_server: Callable[..., ServerProcess]) -> None:
    key = new_key()
    server = spawn_server(api_key=key)
    assert "FIRST RUN" not in server.log()
    with server.client(key) as c:
        keys = c.get("/api/v1/keys").json()["keys"]
    assert [(k["name"], k["permissions"]) for k in keys] == [("admin", ["read", "write", "admin"])]


def test_a_malformed_env_admin_key_stops_the_server(tmp_path: Path) -> None:
    done = memtrace(
        "serve", "--data-dir", str(tmp_path / "d"), "--port", "1", env={"MEMTRACE_ADMIN_KEY": "secret"}
    )
    assert done.returncode == 1 and "MEMTRACE_ADMIN_KEY" in done.stderr


def test_org_and_key_commands_work_on_the_data_directory(
    tmp_path: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    made = memtrace("org", "create", "Acme Corp", "--id", "org_acme", *data)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == ["Organization created", "  id:   org_acme", "  name: Acme Corp"]
    assert memtrace("org", "create", "Again", "--id", "org_acme", *data).returncode == 1
    orgs = json.loads(memtrace("org", "list", "--json", *data).stdout)
    assert {"org_acme", "org_default"} <= {o["id"] for o in orgs}

    created = memtrace("key", "create", "--org", "org_acme", "--name", "ci", "--permissions", "read", *data)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert lines[0] == "API key created (shown only once — save it now):"
    reader_key = lines[1]
    writer = json.loads(memtrace("key", "create", "--org", "org_acme", "--name", "w", "--json", *data).stdout)
    assert writer["permissions"] == ["read", "write"] and writer["key"].startswith("mtk_")
    assert memtrace("key", "create", "--org", "org_nope", "--name", "x", *data).returncode == 1
    assert (
        memtrace(
            "key", "create", "--org", "org_acme", "--name", "y", "--permissions", "root", *data
        ).returncode
        == 1
    )

    server = spawn_server(data_dir=tmp_path / "data")
    with server.client(writer["key"]) as w, server.client(reader_key) as r:
        assert (
            w.post("/api/v1/memories", json={"agent_id": "a1", "content": "from the CLI key"}).json()[
                "org_id"
            ]
            == "org_acme"
        )
        assert r.get("/api/v1/memories").json()["count"] == 1
        assert r.post("/api/v1/memories", json={"agent_id": "a1", "content": "nope"}).status_code == 403

    listed = json.loads(memtrace("key", "list", "--org", "org_acme", "--json", *data).stdout)
    assert {k["name"] for k in listed} == {"ci", "w"} and all("key" not in k for k in listed)
    table = memtrace("key", "list", *data).stdout
    assert table.splitlines()[0].split()[:3] == ["ID", "ORG_ID", "NAME"]
    assert memtrace("key", "revoke", str(writer["id"]), *data).returncode == 0
    assert memtrace("key", "revoke", str(writer["id"]), *data).returncode == 1

    deleted = memtrace("org", "delete", "org_acme", *data)
    assert deleted.returncode == 0 and "1 memories" in deleted.stdout
    assert "org_acme" not in {o["id"] for o in json.loads(memtrace("org", "list", "--json", *data).stdout)}


def test_memtrace_toml_and_env_configure_the_server(
    tmp_path: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    config = tmp_path / "memtrace.toml"
    config.write_text(
        """
[server]
port = 1  # the --port flag wins
[limits]
max_content_length = 10
[dedup]
window_hours = 1
[arc]
url = "http://ignored:8000"  # the original's keys still load
""",
        encoding="utf-8",
    )
    shown = memtrace("config", "--config", str(config), env={"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "7.5"})
    assert shown.returncode == 0, shown.stderr
    assert "max_content_length = 10" in shown.stdout and "rate_limit_per_org = 7.5" in shown.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nmax_contnet_length = 5\n", encoding="utf-8")
    typo = memtrace("config", "--config", str(bad))
    assert typo.returncode == 2 and "limits.max_contnet_length" in typo.stderr

    server = spawn_server(args=["--config", str(config)])
    with server.client() as c:
        assert c.post("/api/v1/memories", json={"agent_id": "a1", "content": "0123456789"}).status_code == 201
        r = c.post("/api/v1/memories", json={"agent_id": "a1", "content": "0123456789x"})
        assert r.status_code == 400 and r.json()["field"] == "content"


def test_json_logs_are_one_object_per_line(spawn_server: Callable[..., ServerProcess]) -> None:
    server = spawn_server({"MEMTRACE_LOG_FORMAT": "json"})
    stop(server)
    records = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any("Application shutdown complete" in r["message"] for r in records)


def test_sigterm_finishes_in_flight_writes_and_exits_cleanly(
    tmp_path: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    key = new_key()
    server = spawn_server(api_key=key, data_dir=tmp_path / "data")
    items = [{"agent_id": "durable", "content": f"memory {i}"} for i in range(1000)]
    with server.client() as c:
        assert c.post("/api/v1/memories", json={"memories": items}).status_code == 201
    # uvicorn finishes the shutdown, then re-raises the signal so the exit status says what stopped it.
    assert stop(server, signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log()
    again = spawn_server(api_key=key, data_dir=tmp_path / "data")
    with again.client() as c:
        assert c.get("/api/v1/agents/durable/stats").json()["memory_count"] == 1000


def test_mcp_is_delegated_to_the_mcp_server() -> None:
    done = memtrace("mcp", "--help")
    assert done.returncode == 0 and "usage: memtrace mcp" in done.stdout


def test_help_lists_the_commands() -> None:
    done = memtrace("--help")
    assert done.returncode == 0 and all(
        word in done.stdout for word in ("serve", "org", "key", "config", "mcp")
    )
    assert memtrace("--version").stdout.startswith("memtrace ")
