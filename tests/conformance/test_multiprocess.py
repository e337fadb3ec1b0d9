"""Several processes writing one store lose nothing, and of N identical concurrent writes exactly one is stored.

Runs against every store several processes can share (`shared_target`), reached by its URL alone."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support.stores import StoreTarget

from memtrace import AddMemoryRequest, ConflictError, ListOptions, Memtrace
from memtrace.engine import Engine

WRITER = r"""
import sys
from memtrace import AddMemoryRequest, ConflictError, Memtrace
path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Memtrace.open(path) as mt:
    for i in range(0, n, 2):
        # alternate single writes and small batches, all racing the other process
        mt.add_memory(AddMemoryRequest(agent_id=name, content=f"{name} single {i}", session_id="race"))
        mt.add_memories([AddMemoryRequest(agent_id=name, content=f"{name} batch {i + 1}", session_id="race")])
    # the same content as the other writer: dedup must let exactly one through
    for i in range(20):
        try:
            mt.add_memory(AddMemoryRequest(agent_id="both", content=f"contended {i}"))
        except ConflictError:  # the other writer stored it first; anything else must fail the test
            pass
print("done")
"""


def test_two_processes_write_one_store_with_zero_loss(shared_target: StoreTarget, tmp_path: Path) -> None:
    with shared_target.locate(tmp_path) as location:
        assert not location.options, "a shared store is reached by its URL alone"
        _write_from_two_processes(location.url)


def _write_from_two_processes(url: str) -> None:
    n = 300
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, name, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("writer_a", "writer_b")
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == b"done", err.decode()[-2000:]
    with Memtrace.open(url) as mt:
        for name in ("writer_a", "writer_b"):
            got = mt.list_memories(ListOptions(agent_id=name, limit=1000, order="asc")).memories
            assert sorted(m.content for m in got) == sorted(
                [f"{name} single {i}" for i in range(0, n, 2)]
                + [f"{name} batch {i + 1}" for i in range(0, n, 2)]
            )
            assert len({m.id for m in got}) == n
        contended = mt.list_memories(ListOptions(agent_id="both", limit=1000)).memories
        assert sorted(m.content for m in contended) == sorted(f"contended {i}" for i in range(20))


def test_replicas_racing_one_identical_write_store_exactly_one(
    shared_target: StoreTarget, tmp_path: Path
) -> None:
    """N handles on one store (N server replicas) write the same memory at the same instant: one is stored, the
    others hear ConflictError; a batch racing the same way is stored once too."""
    n = 6
    with shared_target.locate(tmp_path) as location:
        engines = [Engine.from_stores(location.open()) for _ in range(n)]
        try:
            barrier = threading.Barrier(n)

            def write(engine: Engine) -> str:
                barrier.wait()
                try:
                    engine.add_memory("org_r", AddMemoryRequest(agent_id="a", content="the same fact"))
                    return "stored"
                except ConflictError:
                    return "conflict"

            def write_batch(engine: Engine) -> int:
                barrier.wait()
                batch = [AddMemoryRequest(agent_id="b", content=f"batch item {i}") for i in range(5)]
                return len(engine.add_memories("org_r", batch))

            with ThreadPoolExecutor(n) as pool:
                outcomes = list(pool.map(write, engines))
                written = list(pool.map(write_batch, engines))
            assert sorted(outcomes) == ["conflict"] * (n - 1) + ["stored"]
            assert sum(written) == 5
            listed = engines[0].list_memories("org_r", ListOptions(limit=100)).memories
            assert sorted(m.content for m in listed) == sorted(
                ["the same fact"] + [f"batch item {i}" for i in range(5)]
            )
        finally:
            for engine in engines:
                engine.close()
