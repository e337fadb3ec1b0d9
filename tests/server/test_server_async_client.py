"""A remote `AsyncMemtrace` against a real server: across event loops, from several threads, and under fan-out.

Issue #15 bugs 1 and 2: the client's httpx connections belonged to the first event loop that used it
(`RuntimeError: Event loop is closed` on the next `asyncio.run`), and 1,000 concurrent calls stalled in httpx's
pool. Timing targets live in bench/remote_fanout.py; these tests check that the calls complete and are served.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
import warnings

import httpx

from memtrace import AddMemoryRequest, AsyncMemtrace, ListOptions


def _uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def _list_queries(base_url: str) -> float:
    text = httpx.get(base_url + "/metrics").text
    match = re.search(r'^memtrace_queries_total\{kind="list"\} ([0-9.e+]+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_one_client_across_asyncio_run_calls(live_server) -> None:  # type: ignore[no-untyped-def]
    client, uid = AsyncMemtrace(live_server.base_url, live_server.api_key), _uid()

    async def write(content: str) -> None:
        await client.add_memory(AddMemoryRequest(agent_id=uid, content=content))

    async def read() -> list[str]:
        page = await client.list_memories(ListOptions(agent_id=uid, order="asc"))
        return [m.content for m in page.memories]

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # each loop's connections are closed with it
        asyncio.run(write("first"))
        asyncio.run(write("second"))
        assert asyncio.run(read()) == ["first", "second"]
        asyncio.run(client.aclose())


def test_one_client_from_threads_each_with_its_own_loop(live_server) -> None:  # type: ignore[no-untyped-def]
    client, uid = AsyncMemtrace(live_server.base_url, live_server.api_key), _uid()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    async def work(n: int) -> None:
        await asyncio.gather(
            *(client.add_memory(AddMemoryRequest(agent_id=uid, content=f"t{n}-{i}")) for i in range(10))
        )

    def thread(n: int) -> None:
        try:
            barrier.wait()
            asyncio.run(work(n))
            asyncio.run(work(n + 100))  # and a second loop in the same thread
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    async def count() -> int:
        try:
            return (await client.list_memories(ListOptions(agent_id=uid, limit=1000))).count
        finally:
            await client.aclose()

    assert asyncio.run(count()) == 80


async def test_a_thousand_concurrent_calls_complete(live_server) -> None:  # type: ignore[no-untyped-def]
    uid = _uid()
    async with AsyncMemtrace(live_server.base_url, live_server.api_key) as client:
        await client.add_memories([AddMemoryRequest(agent_id=uid, content=f"m{i}") for i in range(3)])
        before = await asyncio.to_thread(_list_queries, live_server.base_url)
        pages = await asyncio.gather(
            *(client.list_memories(ListOptions(agent_id=uid, limit=2)) for _ in range(1000))
        )
        after = await asyncio.to_thread(_list_queries, live_server.base_url)
    assert all(p.count == 2 and p.has_more for p in pages)
    assert after - before >= 1000  # every call reached the server (other tests may add more)
