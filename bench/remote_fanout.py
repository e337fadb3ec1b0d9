"""Fan-out through one remote `AsyncMemtrace`: 1,000 concurrent `list_memories` against a real `memtrace serve`.

Issue #15 bug 2: with httpx's pool defaults (100 connections, 20 kept alive) 1,000 concurrent calls took 9-20 s.
`AsyncHttpBackend` now queues callers on a per-loop semaphore in front of 8 kept-alive connections (see
`memtrace.backends.http.POOL_SIZE`). Each run is its own `asyncio.run`, so one client also serves many event loops
(bug 1).

Peer, same run, same server, same 1,000 calls: the sync `Memtrace` shared by 16 threads. Also reported (extra):
raw `httpx.AsyncClient` with its default limits, the configuration the bug was measured with.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .common import Row, check, latency_row, log, median, temp_dir
from .server import RunningServer, running_server

CALLS = 1_000
THREADS = 16
TARGET_S = 2.0
AGENT = "fanout_agent"


def ours(client: object) -> float:
    """Seconds for CALLS concurrent list_memories on a fresh event loop."""
    from memtrace import AsyncMemtrace, ListOptions

    assert isinstance(client, AsyncMemtrace)
    options = ListOptions(agent_id=AGENT, limit=10)

    async def burst() -> float:
        await client.list_memories(options)  # this loop's connections, as a caller's first call opens them
        t0 = time.perf_counter()
        pages = await asyncio.gather(*(client.list_memories(options) for _ in range(CALLS)))
        elapsed = time.perf_counter() - t0
        check(all(p.count == 10 for p in pages), "a fan-out call returned the wrong page")
        return elapsed

    return asyncio.run(burst())


def peer_threads(server: RunningServer) -> float:
    from memtrace import ListOptions, Memtrace

    options = ListOptions(agent_id=AGENT, limit=10)
    with Memtrace(server.base_url, server.api_key) as client, ThreadPoolExecutor(THREADS) as pool:
        list(
            pool.map(lambda _: client.list_memories(options), range(THREADS))
        )  # warm every thread's connection
        t0 = time.perf_counter()
        pages = list(pool.map(lambda _: client.list_memories(options), range(CALLS)))
        elapsed = time.perf_counter() - t0
    check(all(p.count == 10 for p in pages), "a threaded call returned the wrong page")
    return elapsed


def raw_httpx_defaults(server: RunningServer) -> float:
    async def burst() -> float:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"x-api-key": server.api_key}
        ) as client:
            params = {"agent_id": AGENT, "limit": "10"}
            (await client.get("/api/v1/memories", params=params)).raise_for_status()
            t0 = time.perf_counter()
            answers = await asyncio.gather(
                *(client.get("/api/v1/memories", params=params) for _ in range(CALLS))
            )
            elapsed = time.perf_counter() - t0
        check(all(a.status_code == 200 for a in answers), "a raw httpx call failed")
        return elapsed

    return asyncio.run(burst())


def run(quick: bool) -> list[Row]:
    from memtrace import AddMemoryRequest, AsyncMemtrace, Memtrace

    runs = 5 if quick else 10
    ours_s: list[float] = []
    peer_s: list[float] = []
    with temp_dir("fanout") as work, running_server(work / "data", work) as server:
        with Memtrace(server.base_url, server.api_key) as mt:
            mt.add_memories([AddMemoryRequest(agent_id=AGENT, content=f"memory {i}") for i in range(20)])
        client = AsyncMemtrace(server.base_url, server.api_key)
        for r in range(runs):  # alternate, so both sides see the same machine
            ours_s.append(ours(client))
            peer_s.append(peer_threads(server))
            log(f"fan-out run {r + 1}/{runs}: AsyncMemtrace {ours_s[-1]:.2f} s, threads {peer_s[-1]:.2f} s")
        asyncio.run(client.aclose())
        defaults_s = raw_httpx_defaults(server)
        log(f"raw httpx.AsyncClient, default limits: {defaults_s:.2f} s")
    row = latency_row(
        "15. Remote async fan-out",
        f"s for {CALLS:,} concurrent list_memories through one remote AsyncMemtrace",
        ours_s,
        f"sync Memtrace shared by {THREADS} threads, same calls",
        peer_s,
        target_ms=TARGET_S,
        target=f"<= {TARGET_S:g} s",
        notes=(
            f"each run a new asyncio.run on the same client; raw httpx.AsyncClient with default limits "
            f"(the configuration issue #15 measured) took {defaults_s:.2f} s in this run"
        ),
    )
    row.extra["httpx_defaults_s"] = defaults_s
    row.met = median(ours_s) <= TARGET_S
    return [row]
