"""Facts that change (issue #17): reading a fact's current version in a large store, and what a key costs a write.

- ``get_fact`` p50 in process on SQLite, in the store the read benchmarks load (100,000 memories in quick mode,
  1,000,000 with --full), plus 1,000 keys of 10 versions each, in the same organisation, under an agent of their
  own and dated before every other memory: a plan that walked a time index would meet them last. Target: p50 <=
  1 ms. (This benchmark runs after the read benchmarks, so their answers are unchanged.)
- A keyed write against an unkeyed one, single writes and batches of 100, interleaved in one fresh store in the
  same run: every keyed write supersedes the current version of its key. Target: at most 1.5x the unkeyed cost.

Each call checks its answer, so a fast wrong answer fails the benchmark; nothing fails for being fast.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from .bulk_load import load_store
from .common import Row, check, latency_row, log, median, temp_dir

BENCHMARK = "facts that change (in-process, SQLite)"
AGENT = "facts-bench"
DAY_US = 86_400_000_000
KEYS = 1_000
VERSIONS = 10
BATCH = 100


def _key(i: int) -> str:
    return f"user:u{i:05d}/city"


def get_fact_latency(size: int, calls: int) -> list[float]:
    from memtrace import AddMemoryRequest, Memtrace

    store = load_store(size)
    with Memtrace.open(store.path) as client:
        if not client.list_facts(agent_id=AGENT, limit=1).memories:
            log(f"facts: writing {KEYS:,} keys x {VERSIONS} versions beside {size:,} memories")
            start = datetime.fromtimestamp((store.anchor_us - 400 * DAY_US) / 1e6, tz=UTC)
            for version in range(VERSIONS):
                client.add_memories(
                    [
                        AddMemoryRequest(
                            agent_id=AGENT,
                            content=f"city {version} of {i}",
                            key=_key(i),
                            time=start + timedelta(hours=version, microseconds=i),
                        )
                        for i in range(KEYS)
                    ]
                )
        rng = random.Random(5)
        picks = [rng.randrange(KEYS) for _ in range(calls)]
        samples = []
        for i in picks:
            t0 = time.perf_counter()
            memory = client.get_fact(_key(i))
            samples.append((time.perf_counter() - t0) * 1000)
            check(
                memory.content == f"city {VERSIONS - 1} of {i}", f"get_fact({_key(i)}) is {memory.content!r}"
            )
    return samples[len(samples) // 10 :]  # the first tenth warms the page cache


def write_costs(rounds: int) -> dict[str, list[float]]:
    """ms per single write and per batch of `BATCH`, keyed and unkeyed, interleaved round by round."""
    from memtrace import AddMemoryRequest, Memtrace

    out: dict[str, list[float]] = {"single": [], "single_keyed": [], "batch": [], "batch_keyed": []}
    with temp_dir("facts") as directory, Memtrace.open(directory / "data") as client:
        for r in range(rounds):
            for keyed in (False, True):
                request = AddMemoryRequest(
                    agent_id="writer", content=f"value {r} {keyed}", key=_key(r % 50) if keyed else None
                )
                t0 = time.perf_counter()
                memory = client.add_memory(request)
                out["single_keyed" if keyed else "single"].append((time.perf_counter() - t0) * 1000)
                check(memory.valid_until is None, "a new write is current")
            if r % 10 == 0:
                for keyed in (False, True):
                    batch = [
                        AddMemoryRequest(
                            agent_id="writer",
                            content=f"batch {r} item {i} {keyed}",
                            key=_key(1000 + i) if keyed else None,
                        )
                        for i in range(BATCH)
                    ]
                    t0 = time.perf_counter()
                    written = client.add_memories(batch)
                    out["batch_keyed" if keyed else "batch"].append((time.perf_counter() - t0) * 1000)
                    check(len(written) == BATCH, f"batch wrote {len(written)} of {BATCH}")
    return out


def run(quick: bool) -> list[Row]:
    size = 100_000 if quick else 1_000_000
    rows = [
        latency_row(
            BENCHMARK,
            f"get_fact at {size:,} memories (+{KEYS * VERSIONS:,} versions), ms",
            get_fact_latency(size, 2_000 if quick else 5_000),
            "target",
            None,
            target_ms=1.0,
        )
    ]
    costs = write_costs(200 if quick else 600)
    for kind, label in (("single", "one add_memory"), ("batch", f"add_memories of {BATCH}")):
        keyed, plain = costs[f"{kind}_keyed"], costs[kind]
        ratio = median(keyed) / median(plain)
        row = latency_row(
            BENCHMARK,
            f"keyed write, {label} (every write supersedes), ms",
            keyed,
            "the same write without a key",
            plain,
            target_ms=None,
            target="<= 1.5x the unkeyed write",
            notes="ratio = keyed / unkeyed median, same store, interleaved",
        )
        row.extra["ratio"] = ratio
        row.met = ratio <= 1.5
        rows.append(row)
    return rows
