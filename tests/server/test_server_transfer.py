"""Export and import over a real server: ``GET /api/v1/export`` (streamed) and ``POST /api/v1/import`` for admin
keys only, the remote clients (which send a large file in parts), and the ``memtrace export``/``import``
commands on a data directory and against a server."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from support.server import ServerProcess, memtrace

from memtrace import AddMemoryRequest, AsyncMemtrace, ListOptions, Memtrace, PermissionDeniedError
from memtrace.transfer import ImportFailed, remote

Tenant = Callable[..., tuple[str, str, int]]


def _fill(client: Memtrace, n: int = 40) -> None:
    client.add_memories(
        [
            AddMemoryRequest(
                agent_id="a1",
                session_id="s1" if i % 2 else None,
                content=f"note {i} about herons",
                tags=["x", f"t{i % 3}"],
                metadata={"i": i, "ü": [1, None]},
                time=f"2026-03-01T00:00:{i % 30:02d}Z",
            )
            for i in range(n)
        ]
    )


def _listing(client: Memtrace) -> list[dict[str, object]]:
    return [m.model_dump(exclude={"org_id"}) for m in client.iter_memories(ListOptions(order="asc"))]


def test_an_admin_exports_a_stream_and_imports_it_into_another_org(
    live_server: ServerProcess, new_org_key: Tenant
) -> None:
    source_org, source_key, _ = new_org_key(permissions="read,write,admin")
    target_org, target_key, target_key_id = new_org_key(permissions="read,write,admin")
    with Memtrace(live_server.base_url, source_key) as source:
        _fill(source)
        with (
            live_server.client(source_key) as http,
            http.stream("GET", "/api/v1/export", params={"tags": "t1"}) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/x-ndjson")
            body = b"".join(response.iter_bytes())
        lines = [json.loads(x) for x in body.splitlines()]
        assert lines[0]["filter"] == {"tags": ["t1"]}
        assert lines[-1]["memtrace_export_end"]["memories"] == 13 == len(lines) - 2
        full = io.BytesIO()
        source.export_memories(full)
    with live_server.client(target_key) as http:
        answer = http.post(
            "/api/v1/import", content=full.getvalue(), headers={"content-type": "application/x-ndjson"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["memories"] == 40 and answer.json()["complete"] is True
        again = http.post("/api/v1/import", content=full.getvalue()).json()
        assert (again["memories"], again["skipped"]) == (0, 40)
        # Each import is in the audit trail, with the key that made it and what it wrote.
        entries = http.get("/api/v1/audit", params={"action": "import"}).json()["entries"]
        assert [(e["org_id"], e["key_id"], e["actor"]) for e in entries] == [
            (target_org, target_key_id, "api")
        ] * 2
        assert entries[1]["counts"] == {"memories": 40, "skipped": 0, "agents": 0, "sessions": 0, "lines": 42}
        assert entries[0]["counts"]["skipped"] == 40
        assert entries[1]["filter"]["file_org_id"] == source_org and entries[1]["filter"]["complete"] is True
    with Memtrace(live_server.base_url, source_key) as a, Memtrace(live_server.base_url, target_key) as b:
        assert _listing(b) == _listing(a)


def test_keys_without_admin_cannot_export_or_import(live_server: ServerProcess, new_org_key: Tenant) -> None:
    _, key, _ = new_org_key(permissions="read,write")
    with live_server.client(key) as http:
        assert http.get("/api/v1/export").status_code == 403
        assert http.post("/api/v1/import", content=b'{"memtrace_export": 1}\n').status_code == 403
    with Memtrace(live_server.base_url, key) as client, pytest.raises(PermissionDeniedError):
        client.export_memories(io.BytesIO())


def test_a_bad_line_answers_400_with_its_number_and_what_went_in(
    live_server: ServerProcess, new_org_key: Tenant
) -> None:
    _, key, _ = new_org_key(permissions="read,write,admin")
    _, other, _ = new_org_key(permissions="read,write,admin")
    with Memtrace(live_server.base_url, key) as client:
        _fill(client, 10)
        out = io.BytesIO()
        client.export_memories(out)
    lines = out.getvalue().splitlines(keepends=True)
    lines[6] = lines[6].replace(b'"memory_type":"episodic"', b'"memory_type":"dream"')
    with live_server.client(other) as http:
        answer = http.post("/api/v1/import", content=b"".join(lines))
        assert answer.status_code == 400
        body = answer.json()
        assert body["line"] == 7 and body["field"] == "memory.memory_type"
        assert body["problem"].startswith("line 7: invalid memory.memory_type: 'dream' is not one of")
        assert body["imported"]["memories"] == 5 and body["imported"]["lines"] == 6
        assert body["error"].startswith(body["problem"]) and "lines 1-6 were imported" in body["error"]
        assert http.get("/api/v1/export", params={"memory_types": "dream"}).status_code == 400
        # A line that is not JSON at all names the body as the field, as every other 4xx names one.
        garbled = http.post("/api/v1/import", content=lines[0] + b"not json\n")
        assert garbled.status_code == 400
        assert (garbled.json()["line"], garbled.json()["field"]) == (2, "body")


def test_the_remote_client_sends_a_large_file_in_parts_and_names_the_files_lines(
    live_server: ServerProcess, new_org_key: Tenant, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(remote, "PART_LINES", 7)
    _, key, _ = new_org_key(permissions="read,write,admin")
    _, target, _ = new_org_key(permissions="read,write,admin")
    path = tmp_path / "org.jsonl"
    with Memtrace(live_server.base_url, key) as source:
        _fill(source)
        assert source.export_memories(path).memories == 40
    lines = path.read_bytes().splitlines(keepends=True)
    # A bad line in the fourth part, caught by the client before sending it.
    broken = [*lines]
    broken[30] = b'{"memory": 12}\n'
    calls: list[tuple[int, int]] = []
    with Memtrace(live_server.base_url, target) as client:
        with pytest.raises(ImportFailed) as err:
            client.import_memories(b"".join(broken), progress=lambda r, n: calls.append((r.memories, n)))
        assert err.value.message.startswith("line 31: memory: expected an object")
        assert err.value.report.memories == 29 and err.value.report.lines == 30
        assert [c[0] for c in calls] == [7, 14, 21, 28, 29]
        # A line only the server refuses (over its content limit) is named by the file's number too.
        too_long = [*lines]
        memory = json.loads(too_long[19])
        memory["memory"]["content"] = "x" * 1_000_001
        too_long[19] = json.dumps(memory).encode() + b"\n"
        with pytest.raises(ImportFailed) as err:
            client.import_memories(b"".join(too_long))
        assert err.value.message.startswith("line 20: memory.content is too long: 1000001 characters")
        assert err.value.line == 20 and err.value.report.lines == 19
        assert (err.value.report.memories, err.value.report.skipped) == (0, 18)
        report = client.import_memories(path)
        assert (report.memories, report.skipped, report.lines) == (11, 29, 42)
    with Memtrace(live_server.base_url, key) as a, Memtrace(live_server.base_url, target) as b:
        assert _listing(b) == _listing(a)


def test_the_async_remote_client_exports_and_imports(live_server: ServerProcess, new_org_key: Tenant) -> None:
    _, key, _ = new_org_key(permissions="read,write,admin")
    _, target, _ = new_org_key(permissions="read,write,admin")

    async def run() -> tuple[int, int]:
        async with (
            AsyncMemtrace(live_server.base_url, key) as a,
            AsyncMemtrace(live_server.base_url, target) as b,
        ):
            await a.add_memory(AddMemoryRequest(agent_id="a1", content="hello over the wire"))
            out = io.BytesIO()
            exported = await a.export_memories(out)
            imported = await b.import_memories(out.getvalue())
            return exported.memories, imported.memories

    assert asyncio.run(run()) == (1, 1)


def test_the_commands_move_an_org_between_data_directories(tmp_path: Path) -> None:
    source = ["--data-dir", str(tmp_path / "one")]
    target = ["--data-dir", str(tmp_path / "two")]
    assert memtrace("org", "create", "Acme", "--id", "org_acme", *source).returncode == 0
    with Memtrace.open(tmp_path / "one", org_id="org_acme") as mt:
        _fill(mt)
    path = tmp_path / "acme.jsonl"
    done = memtrace("export", "--org", "org_acme", "-o", str(path), *source)
    assert done.returncode == 0, done.stderr
    assert "exported 40 memories" in done.stderr and "\r" not in done.stderr  # no progress bar off a terminal
    piped = memtrace("export", "--org", "org_acme", "--since", "2026-03-01T00:00:20Z", *source)
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 2 + 9
    # The org comes from the file's header, and is created in the fresh store.
    done = memtrace("import", str(path), *target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "org_acme: imported 40 memories, 0 agents, 0 sessions (0 memories, 0 agents and 0 sessions were already "
        "there)"
    )
    assert json.loads(memtrace("import", str(path), "--json", *target).stdout)["skipped"] == 40
    audit = json.loads(memtrace("audit", "list", "--action", "import", "--json", *target).stdout)
    entries = audit["entries"] if isinstance(audit, dict) else audit
    assert [(e["org_id"], e["actor"], e["counts"]["memories"]) for e in entries] == [
        ("org_acme", "cli", 0),
        ("org_acme", "cli", 40),
    ]
    with (
        Memtrace.open(tmp_path / "one", org_id="org_acme") as a,
        Memtrace.open(tmp_path / "two", org_id="org_acme") as b,
    ):
        assert _listing(b) == _listing(a)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))
    cut = memtrace("import", str(path), *target)
    assert cut.returncode == 1
    assert cut.stderr.startswith("memtrace: line 42: the file ends after line 41 without its trailer")
    missing = memtrace("export", "--org", "org_nobody", *source)
    assert missing.returncode == 1 and "org_nobody" in missing.stderr


def test_the_commands_talk_to_a_server_with_url(
    live_server: ServerProcess, new_org_key: Tenant, tmp_path: Path
) -> None:
    _, key, _ = new_org_key(permissions="read,write,admin")
    _, target, _ = new_org_key(permissions="read,write,admin")
    with Memtrace(live_server.base_url, key) as mt:
        _fill(mt, 5)
    path = tmp_path / "remote.jsonl"
    url = ["--url", live_server.base_url]
    assert memtrace("export", "-o", str(path), *url, "--api-key", key).returncode == 0
    done = memtrace("import", str(path), *url, env={"MEMTRACE_API_KEY": target})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("the key's organization: imported 5 memories")
    refused = memtrace("import", str(path), *url, "--org", "org_x", "--api-key", target)
    assert refused.returncode == 2 and "--org cannot be used with --url" in refused.stderr
    assert httpx.get(live_server.base_url + "/api/v1/export").status_code == 401


def test_a_server_with_a_small_body_limit_gets_the_file_in_smaller_parts(
    spawn_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = spawn_server({"MEMTRACE_LIMITS_MAX_BODY_BYTES": "4096"})
    with Memtrace.open(tmp_path / "local") as local:
        _fill(local)
        data = io.BytesIO()
        local.export_memories(data)
        expected = _listing(local)
    assert len(data.getvalue()) > 4 * 4096
    with Memtrace(server.base_url, server.api_key) as client:
        report = client.import_memories(data.getvalue())
        assert (report.memories, report.lines, report.complete) == (40, 42, True)
        assert _listing(client) == expected
    with server.client() as http:
        whole = http.post("/api/v1/import", content=data.getvalue())
        assert whole.status_code == 413 and whole.json()["field"] == "body"
