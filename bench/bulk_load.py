"""Stores filled with the benchmark dataset, loaded once per run and shared by the read, scaling and footprint
benchmarks.

Loading goes through the engine's batch API (`add_memories`, batches of 1,000), so it is an ingest measurement
at a realistic size too: every batch is timed, and the same rows go batch by batch into a raw sqlite3 one-index
table (the ceiling) alternately with ours, so both see the same machine at the same moment.

Stores live under the run's work directory (`MEMTRACE_BENCH_WORKDIR`, which `python -m bench` creates in the
system temp dir and removes at the end); run alone, a module gets a private temp dir removed at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .common import check, dir_bytes, log
from .core_ingest import _COLUMNS, BATCH, ONE_INDEX_SCHEMA, _connect, find_one, raw_tuples
from .dataset import DEFAULT_SEED, Dataset

_private_workdir: Path | None = None


def bench_workdir() -> Path:
    """The run's scratch directory (always inside the system temp dir)."""
    global _private_workdir
    env = os.environ.get("MEMTRACE_BENCH_WORKDIR")
    if env:
        path = Path(env)
        path.mkdir(parents=True, exist_ok=True)
        return path
    if _private_workdir is None:
        _private_workdir = Path(tempfile.mkdtemp(prefix="memtrace-bench-"))
        atexit.register(shutil.rmtree, _private_workdir, True)
    return _private_workdir


@dataclass
class LoadedStore:
    size: int
    seed: int
    anchor_us: int
    data_dir: str
    """The memtrace data directory (pass to `Memtrace.open` or `memtrace serve --data-dir`)."""
    raw_db: str
    """The same rows in a raw sqlite3 one-index table."""
    rates: list[float]
    """memories/s of each `add_memories` batch while loading."""
    raw_rates: list[float]
    data_bytes: int
    raw_bytes: int
    payload_bytes: int
    """UTF-8 bytes of what the memories say (content, metadata JSON, tags): the floor for bytes on disk."""
    agent_counts: dict[str, int]
    """Memories per agent, counted from the generated data (the oracle for list results)."""

    @property
    def path(self) -> Path:
        return Path(self.data_dir)

    def dataset(self) -> Dataset:
        return Dataset(self.size, seed=self.seed, anchor_us=self.anchor_us)


def load_store(size: int, *, seed: int = DEFAULT_SEED) -> LoadedStore:
    """A store holding `size` generated memories, loaded now or reused from earlier in this run."""
    root = bench_workdir() / f"store-{size}-{seed}"
    marker = root / "loaded.json"
    if marker.exists():
        return LoadedStore(**json.loads(marker.read_text()))
    if root.exists():  # a load that did not finish
        shutil.rmtree(root)
    root.mkdir(parents=True)
    from memtrace import Memtrace

    dataset = Dataset(size, seed=seed)
    data_dir, raw_path = root / "data", root / "raw.db"
    raw = _connect(raw_path)
    for statement in ONE_INDEX_SCHEMA:
        raw.execute(statement)
    insert = f"INSERT INTO memories ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
    rates: list[float] = []
    raw_rates: list[float] = []
    payload = 0
    agent_counts: dict[str, int] = {}
    log(f"loading {size:,} memories through add_memories (batches of {BATCH:,})")
    started = time.perf_counter()
    with Memtrace.open(data_dir) as client:
        for i, batch in enumerate(dataset.batches(BATCH)):
            if i == 0:
                first = batch[0]
            requests = [m.to_request() for m in batch]
            rows = raw_tuples(batch)
            for m in batch:
                agent_counts[m.agent_id] = agent_counts.get(m.agent_id, 0) + 1
            payload += sum(len(r[7].encode()) + len((r[8] or "").encode()) + len(r[9] or "") for r in rows)
            t0 = time.perf_counter()
            result = client.add_memories(requests)
            rates.append(len(batch) / (time.perf_counter() - t0))
            check(len(result) == len(batch) and result.skipped == 0, f"batch {i}: {result.skipped} skipped")
            t0 = time.perf_counter()
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(insert, rows)
            raw.execute("COMMIT")
            raw_rates.append(len(batch) / (time.perf_counter() - t0))
            if (i + 1) % 100 == 0:
                log(
                    f"  {(i + 1) * BATCH:,} loaded, last batch {rates[-1]:,.0f}/s (raw {raw_rates[-1]:,.0f}/s)"
                )
        # The first search pays for keyword indexing the writes deferred: charge it to the last batch.
        t0 = time.perf_counter()
        find_one(client, batch[-1])
        rates[-1] = len(batch) / (len(batch) / rates[-1] + time.perf_counter() - t0)
        find_one(client, first)
    raw_count = raw.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
    raw.close()
    conn = sqlite3.connect(data_dir / "memtrace.db")
    stored = conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
    conn.close()
    check(stored == size, f"stored {stored}, expected {size}")
    check(raw_count == size, f"raw table holds {raw_count}, expected {size}")
    log(f"loaded {size:,} in {time.perf_counter() - started:.1f} s")
    store = LoadedStore(
        size=size,
        seed=seed,
        anchor_us=dataset.anchor_us,
        data_dir=str(data_dir),
        raw_db=str(raw_path),
        rates=rates,
        raw_rates=raw_rates,
        data_bytes=dir_bytes(data_dir),
        raw_bytes=raw_path.stat().st_size,
        payload_bytes=payload,
        agent_counts=agent_counts,
    )
    marker.write_text(json.dumps(asdict(store)))
    return store
