"""LlamaIndex chat stores: memtrace's (embedded, on a file) vs LlamaIndex's `SQLAlchemyChatStore` (aiosqlite
on a SQLite file), the store the new `Memory` uses by default.

The workload is how a chat app uses a store: one message appended per call, 1,000 of them (a realistic mix of
user messages, assistant tool calls, tool results and assistant answers), then one full read, checked against
what was written. Two rows:

- `MemtraceChatStore` (the `BaseChatStore` behind `ChatMemoryBuffer`, sync `add_message` / `get_messages`);
- `MemtraceDBChatStore` (the `AsyncDBChatStore` behind `Memory`, awaited `add_message` / `get_messages` over
  an `AsyncMemtrace`), the same interface as the peer.

Both sides are durable per write (SQLite synchronous=FULL: memtrace's default; the peer's rollback journal
default), so on a slow or busy disk fsync time dominates both and the ratio shrinks toward the ratio of fsyncs
per write (one WAL append for memtrace, journal and database for the peer). Each repeat uses fresh files and
starts after `os.sync()`; the stores alternate so drift on a shared machine hits all of them. Setup (opening
the store, creating the table) is not timed.

    uv run python -m bench.adapter_llamaindex [--quick]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore

from bench.common import Row, check, median, percentile
from memtrace import AsyncMemtrace, Memtrace
from memtrace_llamaindex import MemtraceChatStore, MemtraceDBChatStore

BENCHMARK = "llamaindex chat store"
TARGET_RATIO = 5.0
KEY = "bench-conversation"
PEER_NAME = "llama-index-core SQLAlchemyChatStore (aiosqlite, SQLite file)"

Sample = tuple[float, float]
"""(ms to add the messages one at a time, ms to read them back)."""


def make_message(i: int) -> ChatMessage:
    kind = i % 4
    if kind == 0:
        return ChatMessage(
            role=MessageRole.USER, content=f"Question {i}: what is the status of order {i * 7}?"
        )
    if kind == 1:
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[
                ToolCallBlock(
                    tool_call_id=f"call_{i}", tool_name="lookup_order", tool_kwargs={"order_id": i * 7}
                )
            ],
        )
    if kind == 2:
        return ChatMessage(
            role=MessageRole.TOOL,
            content=f"order {(i - 1) * 7}: shipped",
            additional_kwargs={"tool_call_id": f"call_{i - 1}", "name": "lookup_order"},
        )
    return ChatMessage(role=MessageRole.ASSISTANT, content=f"Order {(i - 3) * 7} has shipped.")


def _checked(name: str, got: list[ChatMessage], messages: list[ChatMessage]) -> None:
    check(got == messages, f"{name} returned {len(got)} messages, not the {len(messages)} written, in order")


def _chat_store(root: Path, n: int) -> Sample:
    messages = [make_message(i) for i in range(n)]
    with Memtrace.open(root / "memtrace") as client:
        store = MemtraceChatStore(client)
        t0 = time.perf_counter()
        for message in messages:
            store.add_message(KEY, message)
        t1 = time.perf_counter()
        got = store.get_messages(KEY)
        t2 = time.perf_counter()
    _checked("MemtraceChatStore", got, messages)
    return (t1 - t0) * 1000, (t2 - t1) * 1000


async def _async_workload(store: MemtraceDBChatStore | SQLAlchemyChatStore, n: int) -> Sample:
    messages = [make_message(i) for i in range(n)]
    t0 = time.perf_counter()
    for message in messages:
        await store.add_message(KEY, message)
    t1 = time.perf_counter()
    got = await store.get_messages(KEY)
    t2 = time.perf_counter()
    _checked(type(store).__name__, got, messages)
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def _db_chat_store(root: Path, n: int) -> Sample:
    async def go() -> Sample:
        async with AsyncMemtrace.open(root / "memtrace") as client:
            return await _async_workload(MemtraceDBChatStore(client), n)

    return asyncio.run(go())


def _peer(root: Path, n: int) -> Sample:
    async def go() -> Sample:
        store = SQLAlchemyChatStore(
            table_name="llama_index_memory", async_database_uri=f"sqlite+aiosqlite:///{root / 'peer.db'}"
        )
        await store.get_keys()  # creates the engine and the table: setup, not timed
        try:
            return await _async_workload(store, n)
        finally:
            if store._async_engine is not None:
                await store._async_engine.dispose()

    return asyncio.run(go())


def _sample(fn: Callable[[Path, int], Sample], n: int) -> Sample:
    # Flush what the previous sample left in the page cache, so no side pays for the other's writeback.
    os.sync()
    with tempfile.TemporaryDirectory(prefix="memtrace-bench-li-") as tmp:
        return fn(Path(tmp), n)


def _row(metric: str, ours: list[Sample], peer: list[Sample], repeats: int) -> Row:
    ours_total = [a + b for a, b in ours]
    peer_total = [a + b for a, b in peer]
    ours_ms, peer_ms = median(ours_total), median(peer_total)
    return Row(
        benchmark=BENCHMARK,
        metric=metric,
        ours=ours_ms,
        peer_name=PEER_NAME,
        peer=peer_ms,
        target=f">= {TARGET_RATIO:g}x faster",
        met=peer_ms / ours_ms >= TARGET_RATIO,
        ours_p99=percentile(ours_total, 99),
        peer_p99=percentile(peer_total, 99),
        notes=f"{repeats} repeats, fresh files each; both durable per write (SQLite synchronous=FULL)",
        extra={
            "ours_add_ms": median([a for a, _ in ours]),
            "ours_read_ms": median([b for _, b in ours]),
            "peer_add_ms": median([a for a, _ in peer]),
            "peer_read_ms": median([b for _, b in peer]),
        },
        samples=repeats,
    )


def run(quick: bool) -> list[Row]:
    n = 1000
    repeats = 3 if quick else 7
    for fn in (_chat_store, _db_chat_store, _peer):
        _sample(fn, 50)  # warm imports and code paths before timing
    chat: list[Sample] = []
    db: list[Sample] = []
    peer: list[Sample] = []
    for r in range(repeats):
        order = [(_chat_store, chat), (_db_chat_store, db), (_peer, peer)]
        for fn, samples in order if r % 2 == 0 else reversed(order):
            samples.append(_sample(fn, n))
    return [
        _row(
            f"ms for {n:,} add_message (1 message each) + get_messages: MemtraceChatStore (sync)",
            chat,
            peer,
            repeats,
        ),
        _row(
            f"ms for {n:,} add_message (1 message each) + get_messages: MemtraceDBChatStore (async)",
            db,
            peer,
            repeats,
        ),
    ]


def main(argv: list[str]) -> int:
    for row in run(quick="--quick" in argv):
        x = row.extra
        print(f"{row.benchmark}: {row.metric}")
        print(
            f"  ours median {row.ours:.1f} ms (p99 {row.ours_p99:.1f}; "
            f"add {x['ours_add_ms']:.1f}, read {x['ours_read_ms']:.1f})"
        )
        print(
            f"  {row.peer_name} median {row.peer:.1f} ms (p99 {row.peer_p99:.1f}; "
            f"add {x['peer_add_ms']:.1f}, read {x['peer_read_ms']:.1f})"
        )
        print(f"  {row.ratio:.1f}x faster; target {row.target}: {'met' if row.met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
