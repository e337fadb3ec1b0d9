"""Benchmark 2: ingest over HTTP against a real `memtrace serve`, driven by a separate load-generator process.

- batches of 1,000 memories (`POST /api/v1/memories` with `{"memories": [...]}`), one client, repeated runs;
- batches of 100, the size the original Go server's published 2,222 memories/s was measured with;
- single-memory POSTs from 32 concurrent keep-alive clients: requests/s, and p50/p99 latency.

The same-run peer is our own engine in-process on the same memories (what the server could reach if HTTP cost
nothing), so the ratio is the share of the engine's speed the server delivers. Every acknowledged memory is
counted back (batch responses' counts; per-agent stats for the single writes).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from .common import GO_PUBLISHED, Row, check, latency_row, log, median, percentile, rate_row, temp_dir
from .dataset import Dataset
from .loadgen import run_job
from .server import RssSampler, RunningServer, running_server

TARGET_BATCH_RATE = 20_000.0
TARGET_SINGLE_RPS = 1_000.0
TARGET_SINGLE_P99_MS = 50.0
CONCURRENCY = 32


def _agent_count(server: RunningServer, agent_id: str) -> int:
    req = urllib.request.Request(
        f"{server.base_url}/api/v1/agents/{agent_id}/stats", headers={"x-api-key": server.api_key}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return int(json.load(resp)["memory_count"])


def http_batches(server: RunningServer, batch_size: int, memories: int, runs: int, seed: int) -> list[float]:
    """Per-request rates (memories/s) of `runs` runs of `memories` memories in batches of `batch_size`."""
    rates: list[float] = []
    for r in range(runs):
        result = run_job(
            {
                "mode": "batch",
                "url": server.base_url,
                "api_key": server.api_key,
                "batch_size": batch_size,
                "memories": memories,
                "seed": seed + r,
                "concurrency": 1,
            }
        )
        check(result["error_count"] == 0, f"batch POSTs failed: {result['errors']}")
        check(result["stored"] == memories, f"server stored {result['stored']} of {memories} memories")
        rates.extend(batch_size / s for s in result["latencies_s"])
        log(
            f"HTTP batches of {batch_size}: run {r + 1}/{runs} {memories / result['elapsed_s']:,.0f} memories/s"
        )
    return rates


def inprocess_batches(data_dir: Path, batch_size: int, memories: int, seed: int) -> list[float]:
    from memtrace import Memtrace

    rates = []
    with Memtrace.open(data_dir) as client:
        for batch in Dataset(memories, seed=seed).batches(batch_size):
            requests = [m.to_request() for m in batch]
            t0 = time.perf_counter()
            result = client.add_memories(requests)
            rates.append(len(batch) / (time.perf_counter() - t0))
            check(len(result) == len(batch), "in-process batch dropped memories")
    return rates


def inprocess_singles(data_dir: Path, count: int, seed: int) -> list[float]:
    """ms per `add_memory`, one writer, one after another: the engine's own floor for a single write."""
    from memtrace import Memtrace

    latencies = []
    with Memtrace.open(data_dir) as client:
        for m in Dataset(count, seed=seed):
            req = m.to_request().model_copy(update={"time": None})
            t0 = time.perf_counter()
            client.add_memory(req)
            latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def run(quick: bool) -> list[Row]:
    batch_memories, batch_runs = (10_000, 3) if quick else (50_000, 5)
    small_memories, small_runs = (5_000, 2) if quick else (20_000, 3)
    single_seconds = 8.0 if quick else 20.0
    with temp_dir("http-ingest") as work:
        with running_server(work / "data", work) as server:
            log(f"HTTP ingest against {server.base_url}")
            with RssSampler(server.process.pid) as rss:
                big = http_batches(server, 1_000, batch_memories, batch_runs, seed=1_000)
                small = http_batches(server, 100, small_memories, small_runs, seed=2_000)
                log(f"HTTP single POSTs: {CONCURRENCY} clients for {single_seconds:.0f} s")
                single = run_job(
                    {
                        "mode": "single",
                        "url": server.base_url,
                        "api_key": server.api_key,
                        "concurrency": CONCURRENCY,
                        "seconds": single_seconds,
                        "seed": 3_000,
                        "agent_prefix": "single_",
                    }
                )
            statuses = single["statuses"]
            acknowledged = statuses.get("201", 0)
            check(
                set(statuses) == {"201"},
                f"single POSTs got non-201 answers: {statuses} {single['errors']}",
            )
            counted = sum(_agent_count(server, agent) for agent in single["per_agent"])
            check(counted == acknowledged, f"server counts {counted} memories, acknowledged {acknowledged}")
        log("in-process peers for the same writes")
        peer_big = inprocess_batches(work / "peer-1000", 1_000, batch_memories, seed=1_000)
        peer_small = inprocess_batches(work / "peer-100", 100, small_memories, seed=2_000)
        peer_single = inprocess_singles(work / "peer-single", 2_000 if quick else 5_000, seed=3_000)

    rps = acknowledged / single["elapsed_s"]
    lat_ms = [s * 1000 for s in single["latencies_s"]]
    p99 = percentile(lat_ms, 99)
    peer_rps = 1000 / median(peer_single)
    rss_note = f"server peak RSS {rss.peak / 2**20:,.0f} MiB during these runs"
    single_latency = latency_row(
        "2. HTTP ingest",
        f"single POST latency at {CONCURRENCY} concurrent clients, ms",
        lat_ms,
        "ours in-process add_memory, one writer",
        peer_single,
        target_ms=None,
        target=f"p99 <= {TARGET_SINGLE_P99_MS:g} ms",
        notes=f"{len(lat_ms):,} requests; Go published its single-write p50",
        published=GO_PUBLISHED["single_write_p50_ms"],
    )
    single_latency.met = p99 <= TARGET_SINGLE_P99_MS
    return [
        rate_row(
            "2. HTTP ingest",
            "memories/s, POST batches of 1,000 (one client)",
            big,
            "ours in-process add_memories, same batches",
            peer_big,
            target=f">= {TARGET_BATCH_RATE:,.0f}/s",
            met=median(big) >= TARGET_BATCH_RATE,
            notes=f"{batch_runs} runs x {batch_memories:,} memories; per-request rates; {rss_note}",
        ),
        rate_row(
            "2. HTTP ingest",
            "memories/s, POST batches of 100 (one client)",
            small,
            "ours in-process add_memories, batches of 100",
            peer_small,
            target=f"> {GO_PUBLISHED['batch100_memories_per_s']:,.0f}/s (Go's published, batches of 100)",
            met=median(small) > GO_PUBLISHED["batch100_memories_per_s"],
            published=GO_PUBLISHED["batch100_memories_per_s"],
            notes=f"{small_runs} runs x {small_memories:,} memories",
        ),
        Row(
            benchmark="2. HTTP ingest",
            metric=f"single POSTs/s at {CONCURRENCY} concurrent clients",
            ours=rps,
            peer_name="ours in-process add_memory/s, one writer",
            peer=peer_rps,
            target=f">= {TARGET_SINGLE_RPS:,.0f} req/s",
            met=rps >= TARGET_SINGLE_RPS,
            notes=f"{acknowledged:,} memories in {single['elapsed_s']:.1f} s, all counted back via agent stats",
            extra={"ratio": rps / peer_rps},
            samples=1,
        ),
        single_latency,
    ]
