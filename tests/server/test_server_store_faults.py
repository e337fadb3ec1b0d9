"""The store under hostile input and a hostile environment, as the `memtrace` command and a real server see it:
times out of range, files and their modes, full disks, damaged files, start-up refusals."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import memtrace


def test_key_create_refuses_an_expiry_after_9999_and_key_list_keeps_working(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    made = memtrace("key", "create", "--org", "org_default", "--name", "late", "--expires",
                    "9999-12-31T23:59:59-12:00", "--data-dir", data)  # fmt: skip
    assert made.returncode != 0
    assert "expires" in made.stderr and "Traceback" not in made.stderr
    far = memtrace("key", "create", "--org", "org_default", "--name", "far", "--expires", "999999w",
                   "--data-dir", data)  # fmt: skip
    assert far.returncode != 0 and "expires" in far.stderr
    listed = memtrace("key", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    assert "late" not in listed.stdout and "far" not in listed.stdout


# ------------------------------------------------------------------ start-up refusals: one line, non-zero exit


def _data_dir_that_is_a_file(root: Path) -> Path:
    path = root / "data"
    path.write_text("not a directory")
    return path


def _empty_database(root: Path) -> Path:
    data = root / "data"
    assert memtrace("key", "list", "--data-dir", str(data)).returncode == 0
    (data / "memtrace.db").write_bytes(b"")
    return data


def _corrupt_header(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    (data / "memtrace.db").write_bytes(b"\x13" * 8192)
    return data


def _damaged_page(root: Path) -> Path:
    from memtrace import AddMemoryRequest, Memtrace

    data = root / "data"
    with Memtrace.open(data) as mt:
        mt.add_memories(
            [AddMemoryRequest(agent_id="a", content=f"memory {i} " + "z" * 500) for i in range(200)]
        )
    conn = sqlite3.connect(data / "memtrace.db")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root_page = conn.execute(
        "SELECT rootpage FROM sqlite_schema WHERE name = 'memories_org_time'"
    ).fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(data / "memtrace.db", "r+b") as f:
        f.seek((root_page - 1) * page_size)
        f.write(b"\xa5" * page_size)
    return data


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_data_dir_that_is_a_file, "is a file"),
        (_empty_database, "empty"),
        (_corrupt_header, "damaged"),
        (_damaged_page, "damaged"),
    ],
)
def test_refusals_print_one_line_and_exit_non_zero(
    tmp_path: Path, make: Callable[[Path], Path], says: str
) -> None:
    data = make(tmp_path)
    for command, env in (
        (["serve", "--port", "1", "--data-dir", str(data)], {}),
        (["key", "list", "--data-dir", str(data)], {}),
        (["mcp"], {"MEMTRACE_DATA_DIR": str(data)}),
    ):
        done = memtrace(*command, env=env)
        assert done.returncode != 0, (command, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and says in lines[0], (command, done.stderr)


def test_a_read_only_file_system_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "ro" / "data"
    assert memtrace("key", "list", "--data-dir", str(data)).returncode == 0
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(tmp_path / "ro"), str(tmp_path / "ro")],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"READ-ONLY TEST NOT RUN: cannot bind-mount read-only here ({mounted.stderr.strip()})")
    try:
        done = memtrace("serve", "--port", "1", "--data-dir", str(data))
        assert done.returncode != 0
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "read-only" in lines[0], done.stderr
    finally:
        subprocess.run(["umount", str(tmp_path / "ro")], check=False)


# ------------------------------------------------------------------ a running server's store


def test_ready_is_503_when_the_store_cannot_answer(tmp_path: Path, spawn_server: Callable[..., Any]) -> None:
    server = spawn_server(data_dir=tmp_path / "data")
    assert httpx.get(server.base_url + "/ready", timeout=10).status_code == 200
    db = tmp_path / "data" / "memtrace.db"
    # The pages holding the organisations are damaged on disk while the server runs; another process's write
    # then makes the server drop its page cache and read the damaged page.
    other = sqlite3.connect(db, isolation_level=None)
    try:
        page_size = other.execute("PRAGMA page_size").fetchone()[0]
        # The table and its index (a readiness probe may read either).
        roots = [r for (r,) in other.execute("SELECT rootpage FROM sqlite_schema WHERE tbl_name = 'orgs'")]
        # Every page into the main file (retried: the server's own reads may hold the WAL for a moment).
        for _ in range(100):
            if other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                break
            time.sleep(0.05)
        with open(db, "r+b") as f:
            for root in roots:
                f.seek((root - 1) * page_size)
                f.write(b"\xa5" * page_size)
        other.execute("UPDATE fts_state SET indexed_rowid = indexed_rowid")
    finally:
        other.close()
    ready = httpx.get(server.base_url + "/ready", timeout=30)
    assert ready.status_code == 503, ready.text
    assert ready.json()["status"] == "not ready"


def test_an_expensive_query_is_stopped_with_422(tmp_path: Path, spawn_server: Callable[..., Any]) -> None:
    server = spawn_server({"MEMTRACE_LIMITS_QUERY_TIME_BUDGET_SECONDS": "0.002"}, data_dir=tmp_path / "data")
    with httpx.Client(base_url=server.base_url, headers={"x-api-key": server.api_key}, timeout=60) as http:
        for start in range(0, 20_000, 1000):
            batch = [{"agent_id": "a", "content": f"note {i} ünïcode"} for i in range(start, start + 1000)]
            assert http.post("/api/v1/memories", json={"memories": batch}).status_code == 201
        slow = http.post("/api/v1/search", json={"content_contains": "ñothing-like-this"})
        assert slow.status_code == 422, slow.text
        assert slow.json()["reason"] == "query_too_expensive"
        assert http.get("/api/v1/memories", params={"agent_id": "a", "limit": 5}).json()["count"] == 5
