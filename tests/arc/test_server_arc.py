"""Arc on the server: per-organisation instances (CLI and admin REST), tokens encrypted at rest, a server-wide
default from memtrace.toml, and backpressure as 503 + Retry-After. Real `memtrace serve` processes, the real
remote client, the Arc stand-in."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from support.server import ServerProcess, new_key, run_cli, start_server

from memtrace import AddMemoryRequest, Memtrace, SearchQuery

from .helpers import new_master_key, wait_until


def serve(data_dir: Path, env: dict[str, str], *, config: Path | None = None) -> ServerProcess:
    return start_server(data_dir, api_key=new_key(), env=env, config=config)


def memtrace_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(args, env, timeout=60)


def arc_rows(standin, database: str) -> list[dict]:
    answer = standin.query("SELECT id, org_id, content FROM events ORDER BY time", database)
    return (
        [dict(zip(answer["columns"], row, strict=True)) for row in answer["data"]]
        if answer["columns"]
        else []
    )


def test_add_arc_takes_tokens_from_the_environment_or_written_with_equals(tmp_path: Path) -> None:
    # Arc tokens are URL-safe base64, so one in 64 starts with "-": argparse reads "--token -abc" as two options.
    data = tmp_path / "data"
    master = {"MEMTRACE_MASTER_KEY": new_master_key()}
    assert run_cli(["org", "create", "Acme", "--id", "org_acme", "--data-dir", str(data)], {}).returncode == 0
    add_arc = ["org", "add-arc", "org_acme", "--url", "http://arc.invalid:8000", "--database", "acme",
               "--data-dir", str(data)]  # fmt: skip

    missing = run_cli(add_arc, master)
    assert missing.returncode == 2 and "MEMTRACE_ARC_TOKEN" in missing.stderr
    from_env = run_cli(
        add_arc, {**master, "MEMTRACE_ARC_TOKEN": "-leading-dash", "MEMTRACE_ARC_ADMIN_TOKEN": "-adm"}
    )
    assert from_env.returncode == 0, from_env.stderr
    with_equals = run_cli([*add_arc, "--token=-leading-dash", "--json"], master)
    assert with_equals.returncode == 0, with_equals.stderr
    assert (
        json.loads(with_equals.stdout)["admin_token"] is False
    )  # the environment's admin token was not used

    listed = json.loads(run_cli(["org", "arc", "--json", "--data-dir", str(data)], master).stdout)
    assert [(row["org_id"], row["database"]) for row in listed] == [("org_acme", "acme")]


@pytest.mark.slow
def test_org_add_arc_from_the_cli(standin, tmp_path: Path) -> None:
    data = tmp_path / "data"
    master = {"MEMTRACE_MASTER_KEY": new_master_key()}
    token = standin.create_token(["read", "write"])
    add_arc = ["org", "add-arc", "org_acme", "--url", standin.url, f"--token={token}", "--database", "acme",
               f"--admin-token={standin.admin_token}", "--data-dir", str(data)]  # fmt: skip

    assert (
        memtrace_cli(["org", "create", "Acme", "--id", "org_acme", "--data-dir", str(data)], {}).returncode
        == 0
    )
    refused = memtrace_cli(add_arc, {"MEMTRACE_MASTER_KEY": ""})
    assert refused.returncode == 1 and "MEMTRACE_MASTER_KEY" in refused.stderr
    assert memtrace_cli(add_arc, master).returncode == 0, "add-arc failed"
    missing_org = memtrace_cli([*add_arc[:2], "org_nobody", *add_arc[3:]], master)
    assert missing_org.returncode == 1 and "not found" in missing_org.stderr

    # Encrypted at rest: neither token is anywhere in the data directory, and listing never shows them.
    stored = b"".join(f.read_bytes() for f in data.rglob("*") if f.is_file())
    assert b"arc_instances" in stored  # the metadata store holds the instance
    assert token.encode() not in stored and standin.admin_token.encode() not in stored
    shown = memtrace_cli(["org", "arc", "--json", "--data-dir", str(data)], master)
    assert token not in shown.stdout and standin.admin_token not in shown.stdout
    (listed,) = json.loads(shown.stdout)
    assert (listed["org_id"], listed["url"], listed["database"], listed["admin_token"]) == (
        "org_acme",
        standin.url,
        "acme",
        True,
    )
    # Once a directory holds encrypted Arc tokens, every command on it needs the master key.
    assert memtrace_cli(["org", "list", "--data-dir", str(data)], {"MEMTRACE_MASTER_KEY": ""}).returncode == 2
    created = memtrace_cli(
        ["key", "create", "--org", "org_acme", "--name", "app", "--json", "--data-dir", str(data)], master
    )
    acme_key = json.loads(created.stdout)["key"]

    server = serve(data, master)
    try:
        with (
            Memtrace(server.base_url, acme_key) as acme,
            Memtrace(server.base_url, server.api_key) as default,
        ):
            mine = acme.remember("agent_1", "Acme prefers dark mode")
            default.remember("agent_1", "org_default stays in SQLite")
            assert [m.id for m in acme.recall("agent_1").memories] == [mine.id]  # before Arc shows it
            wait_until(lambda: len(arc_rows(standin, "acme")) == 1, what="the memory in Arc")
            assert arc_rows(standin, "acme") == [
                {"id": mine.id, "org_id": "org_acme", "content": mine.content}
            ]
            found = acme.search_memories(SearchQuery(query="preferring dark"))
            assert [m.id for m in found.results] == [mine.id]
            acme.delete_memory(mine.id)
            assert arc_rows(standin, "acme") == []
            assert [m.content for m in default.recall("agent_1").memories] == ["org_default stays in SQLite"]
    finally:
        server.stop()

    # Without the master key the server refuses to start rather than failing on the first request.
    with pytest.raises(RuntimeError, match="MEMTRACE_MASTER_KEY"):
        serve(data, {"MEMTRACE_MASTER_KEY": ""})


@pytest.mark.slow
def test_admin_rest_and_backpressure(standin, tmp_path: Path) -> None:
    config = tmp_path / "memtrace.toml"
    config.write_text("[arc]\nmax_spool_rows = 20\nwrite_flush_interval_ms = 20\nquery_timeout = 5\n")
    server = serve(tmp_path / "data", {"MEMTRACE_MASTER_KEY": new_master_key()}, config=config)
    try:
        admin = server.client()
        assert admin.post("/api/v1/orgs", json={"name": "Beta", "id": "org_beta"}).status_code == 201
        beta_key = admin.post("/api/v1/keys", json={"name": "app", "org_id": "org_beta"}).json()["key"]
        token = standin.create_token(["read", "write"])
        body = {"url": standin.url, "token": token, "database": "beta", "admin_token": standin.admin_token}

        assert server.client(beta_key).put("/api/v1/orgs/org_beta/arc", json=body).status_code == 403
        bad = admin.put("/api/v1/orgs/org_beta/arc", json={**body, "url": "not a url"})
        assert bad.status_code == 400 and bad.json()["field"] == "url"
        put = admin.put("/api/v1/orgs/org_beta/arc", json=body)
        assert put.status_code == 200 and token not in put.text and standin.admin_token not in put.text
        assert put.json()["database"] == "beta"

        with Memtrace(server.base_url, beta_key) as beta:
            beta.remember("agent_1", "first")
            wait_until(lambda: len(arc_rows(standin, "beta")) == 1, what="the memory in Arc")
            spool = lambda: admin.get("/api/v1/orgs/org_beta/arc").json()["status"]  # noqa: E731
            wait_until(lambda: spool()["spool_rows"] == 0, what="the spool to let go of it")
            assert spool()["healthy"] is True

            # Arc goes away: the spool takes 20 memories, then writers get 503 with Retry-After.
            standin.kill()
            for i in range(20):
                beta.add_memory(AddMemoryRequest(agent_id="agent_1", content=f"while Arc is down {i}"))
            refused = server.client(beta_key).post(
                "/api/v1/memories", json={"agent_id": "agent_1", "content": "one too many"}
            )
            assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
            assert "spool" in refused.json()["error"]

            standin.start()
            wait_until(lambda: len(arc_rows(standin, "beta")) == 21, timeout=60, what="Arc to have them all")
            wait_until(lambda: spool()["spool_rows"] == 0, what="the spool to drain")
            beta.remember("agent_1", "accepted again")

            assert admin.delete("/api/v1/orgs/org_beta/arc").status_code == 204
            assert admin.get("/api/v1/orgs/org_beta/arc").status_code == 404
            later = beta.remember("agent_1", "back in the embedded store")
            assert beta.get_memory(later.id).content == "back in the embedded store"
        listed = admin.get("/api/v1/arc").json()
        assert listed["instances"] == []
    finally:
        server.stop()
    assert later.id not in {r["id"] for r in arc_rows(standin, "beta")}


@pytest.mark.slow
def test_server_wide_default_arc_from_memtrace_toml(standin, tmp_path: Path) -> None:
    token = standin.create_token(["read", "write"])
    config = tmp_path / "memtrace.toml"
    config.write_text(
        f'[arc]\nurl = "{standin.url}"\napi_key = "{token}"\ndatabase = "shared"\nmeasurement = "memories"\n'
    )
    server = serve(tmp_path / "data", {}, config=config)
    try:
        with Memtrace(server.base_url, server.api_key) as mt:
            m = mt.remember("agent_1", "into the server-wide Arc")
            wait_until(
                lambda: standin.query("SELECT id FROM memories ORDER BY time", "shared")["data"] == [[m.id]],
                what="the memory in the shared Arc",
            )
    finally:
        server.stop()
    bad = tmp_path / "bad.toml"
    bad.write_text('[arc]\nurl = "http://x"\ntypo_key = 1\n')
    checked = memtrace_cli(["org", "list", "--config", str(bad), "--data-dir", str(tmp_path / "data")], {})
    assert checked.returncode == 2 and "arc.typo_key" in checked.stderr


@pytest.mark.slow
def test_forget_and_org_deletion_reach_arc_and_what_came_before_it(standin, tmp_path: Path) -> None:
    """An organisation on Arc forgets from Arc (spool and Arc itself) and from the main store, where its memories
    from before the move stay; the Arc change and the forget are in the audit trail, never a token."""
    data = tmp_path / "data"
    server = serve(data, {"MEMTRACE_MASTER_KEY": new_master_key()})
    try:
        admin = server.client()
        assert admin.post("/api/v1/orgs", json={"name": "Gamma", "id": "org_gamma"}).status_code == 201
        key = admin.post("/api/v1/keys", json={"name": "app", "org_id": "org_gamma"}).json()["key"]
        with Memtrace(server.base_url, key) as gamma:
            before = [gamma.remember("alice", f"alice before arc {i}").id for i in range(2)]
            gamma.remember("bob", "bob before arc")
            token = standin.create_token(["read", "write"])
            body = {
                "url": standin.url,
                "token": token,
                "database": "gamma",
                "admin_token": standin.admin_token,
            }
            assert admin.put("/api/v1/orgs/org_gamma/arc", json=body).status_code == 200
            on_arc = [gamma.remember("alice", f"alice on arc {i}").id for i in range(3)]
            gamma.remember("bob", "bob on arc")
            wait_until(lambda: len(arc_rows(standin, "gamma")) == 4, what="the memories in Arc")

            receipt = gamma.forget(agent_id="alice")
            assert receipt.removed["memories"] == 5
            assert {r["content"] for r in arc_rows(standin, "gamma")} == {"bob on arc"}
            found = gamma.search_memories(SearchQuery(query="alice arc")).results
            assert [m.content for m in found] == ["bob on arc"]

        main = sqlite3.connect(data / "memtrace.db")
        try:
            left = main.execute("SELECT id FROM memories WHERE org_id = 'org_gamma'").fetchall()
        finally:
            main.close()
        assert not {i for (i,) in left} & set(before + on_arc) and len(left) == 1  # bob's, from before

        spool = data / "arc" / "org_gamma"
        assert spool.is_dir()
        deleted = admin.delete("/api/v1/orgs/org_gamma")
        assert deleted.status_code == 200 and deleted.json()["removed"]["memories"] == 2
        assert arc_rows(standin, "gamma") == []
        assert not spool.exists()  # its file would keep free pages of what it held
        trail = admin.get("/api/v1/audit", params={"org_id": "org_gamma"}).json()["entries"]
        assert [e["action"] for e in reversed(trail)] == [
            "org.create",
            "key.create",
            "arc.set",
            "subject.forget",
            "org.delete",
        ]
        assert token not in json.dumps(trail) and standin.admin_token not in json.dumps(trail)
        assert trail[2]["filter"]["database"] == "gamma" and trail[2]["filter"]["admin_token"] is True
    finally:
        server.stop()
