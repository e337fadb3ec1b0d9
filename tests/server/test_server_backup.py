"""``memtrace backup``: a consistent copy of the embedded store taken while a server writes to it, restored the
documented way (copy the file into a data directory), with every memory acknowledged before the backup began."""

from __future__ import annotations

import json
import shutil
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from support.server import ServerProcess, memtrace

from memtrace import ListOptions, Memtrace

WRITERS = 3


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_backup_under_write_load_restores_every_acknowledged_memory(
    tmp_path: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    data = tmp_path / "data"
    server = spawn_server(data_dir=data)
    acknowledged: list[tuple[float, str]] = []  # (when the 201 arrived, id)
    stop = threading.Event()

    def write(n: int) -> None:
        with server.client() as client:
            i = 0
            while not stop.is_set():
                body = {"agent_id": f"writer{n}", "content": f"load {n} {i}", "session_id": f"s{n}"}
                answer = client.post("/api/v1/memories", json=body)
                assert answer.status_code == 201, answer.text
                acknowledged.append((time.monotonic(), answer.json()["id"]))
                i += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    try:
        while len(acknowledged) < 200:
            time.sleep(0.05)
        began = time.monotonic()
        done = memtrace("backup", str(tmp_path / "backup"), "--data-dir", str(data), "--json")
        while len(acknowledged) < 200 + 50:  # writes went on during and after the backup
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    copy = tmp_path / "backup" / "memtrace.db"
    assert report["path"] == str(copy) and report["memories"] >= 200
    assert _mode(copy) == 0o600 and _mode(copy.parent) == 0o700

    # Restore as documented: the server stopped, the file copied into a data directory.
    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    shutil.copy2(copy, restored / "memtrace.db")
    before = {memory_id for when, memory_id in acknowledged if when < began}
    with Memtrace.open(restored) as mt:
        ids: set[str] = set()
        for agent in (f"writer{n}" for n in range(WRITERS)):
            ids |= {m.id for m in mt.list_memories(ListOptions(agent_id=agent, limit=1000)).memories}
    assert before <= ids, f"{len(before - ids)} acknowledged memories missing from the backup"
    assert len(ids) == report["memories"]
    everything = {memory_id for _, memory_id in acknowledged}
    assert ids <= everything  # nothing half-written or invented


def test_an_existing_destination_needs_force(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        mt.remember("a1", "first")
    dest = tmp_path / "copy.db"
    assert memtrace("backup", str(dest), "--data-dir", str(data)).returncode == 0
    written = dest.stat().st_mtime_ns
    refused = memtrace("backup", str(dest), "--data-dir", str(data))
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert dest.stat().st_mtime_ns == written
    with Memtrace.open(data) as mt:
        mt.remember("a1", "second")
    forced = memtrace("backup", str(dest), "--data-dir", str(data), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "2 memories" in forced.stdout and str(dest) in forced.stdout
    assert not list(tmp_path.glob("*.partial"))


def test_a_missing_store_and_a_postgres_store_are_explained(tmp_path: Path) -> None:
    missing = memtrace("backup", str(tmp_path / "b"), "--data-dir", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "no memtrace store" in missing.stderr
    postgres = memtrace("backup", str(tmp_path / "b"), "--store-url", "postgresql://127.0.0.1:1/nowhere")
    assert postgres.returncode == 2 and "pg_dump" in postgres.stderr and "memtrace export" in postgres.stderr
    assert not (tmp_path / "b").exists()
