"""A full disk, for real: the data directory on a tiny tmpfs that the test fills. Writes fail with
`StorageFullError` (507 with Retry-After on the server) and write nothing; reads, ranked search included, keep
working; freeing space lets writes continue without a restart, and nothing acknowledged is lost.

Mounting needs root; without it these tests skip, saying so."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.server import make_api_key, start_server

from memtrace import AddMemoryRequest, ListOptions, Memtrace, SearchQuery, StorageFullError


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(
            f"FULL-DISK TESTS NOT RUN: cannot mount a tmpfs here ({done.stderr.strip()}); run as root"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; returns the filler file (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        for size in (4096, 512, 64, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError:
                    break
    return filler


def _memories(agent: str, n: int, word: str = "kiwi") -> list[AddMemoryRequest]:
    # Distinct words per memory, so indexing them needs many new index pages.
    return [
        AddMemoryRequest(
            agent_id=agent, content=f"{word} {word}{i} " + " ".join(uuid.uuid4().hex for _ in range(40))
        )
        for i in range(n)
    ]


def test_embedded_writes_fail_cleanly_reads_work_and_recovery_needs_no_restart(
    tiny_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tiny_disk / "data"
    with Memtrace.open(data) as mt:
        mt.add_memory(AddMemoryRequest(agent_id="a", content="indexed before the disk filled: kiwi"))
        assert mt.search_memories(SearchQuery(query="kiwi")).count == 1  # indexes it
        stored = mt.add_memories(_memories("a", 150))  # not yet in the keyword index
        filler = fill(tiny_disk)
        with pytest.raises(StorageFullError) as err:
            mt.add_memories(_memories("a", 50))
        assert "full" in err.value.message and err.value.status_code == 507
        with pytest.raises(StorageFullError):
            mt.add_memory(AddMemoryRequest(agent_id="a", content="x" * 200_000))
        # Reads need no write: lists, and ranked search over memories the index had not caught up with.
        assert mt.list_memories(ListOptions(agent_id="a", limit=1000)).count == 151
        with caplog.at_level(logging.WARNING, logger="memtrace.store"):
            found = mt.search_memories(SearchQuery(query="kiwi7", limit=5)).results
        assert found and found[0].id == stored[7].id
        assert "waiting for disk space" in caplog.text
        assert mt.search_memories(SearchQuery(query="kiwi", limit=1000)).count == 151
        # Space again: the same client writes, and nothing acknowledged was lost.
        filler.unlink()
        mt.add_memories(_memories("a", 50, word="lime"))
        assert mt.list_memories(ListOptions(agent_id="a", limit=1000)).count == 201
        assert mt.search_memories(SearchQuery(query="kiwi7", limit=5)).results[0].id == stored[7].id


def test_server_answers_507_while_full_serves_reads_and_recovers(tiny_disk: Path) -> None:
    server = start_server(tiny_disk / "data", api_key=make_api_key(b"full-disk"), log_dir=tiny_disk.parent)
    try:
        with httpx.Client(
            base_url=server.base_url, headers={"x-api-key": server.api_key}, timeout=30
        ) as http:
            agent = "full" + uuid.uuid4().hex[:6]
            first = http.post("/api/v1/memories", json={"agent_id": agent, "content": "banana before full"})
            assert first.status_code == 201
            filler = fill(tiny_disk)
            big = [{"agent_id": agent, "content": f"banana {i} " + "y" * 20_000} for i in range(40)]
            full = http.post("/api/v1/memories", json={"memories": big})
            assert full.status_code == 507, full.text
            assert "full" in full.json()["error"] and full.json().get("reason") == "storage_full"
            assert int(full.headers["retry-after"]) > 0
            assert http.post("/api/v1/search", json={"query": "banana"}).status_code == 200
            assert http.get("/api/v1/memories", params={"agent_id": agent}).json()["count"] == 1
            filler.unlink()
            again = http.post("/api/v1/memories", json={"memories": big[:5]})
            assert again.status_code == 201, again.text
            assert http.get("/api/v1/memories", params={"agent_id": agent}).json()["count"] == 6
    finally:
        server.stop()


def test_starting_on_a_full_disk_prints_one_line(tiny_disk: Path) -> None:
    fill(tiny_disk)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_")}
    for command in (["serve", "--port", "1"], ["key", "list"]):
        done = subprocess.run(
            [os.sys.executable, "-m", "memtrace_server", *command, "--data-dir", str(tiny_disk / "data")],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert done.returncode != 0
        assert "Traceback" not in done.stderr, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "full" in lines[0], done.stderr
