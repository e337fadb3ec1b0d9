"""LangChain chat history: MemtraceChatMessageHistory (embedded, on a file) vs langchain-community's
SQLChatMessageHistory (SQLAlchemy on a SQLite file).

The workload is how a chat app uses a history: one message appended per call (``add_message``), 1,000 of
them (a realistic mix of user messages, AI tool calls, tool results and AI answers), then one full read of
``.messages``, checked against what was written. Each repeat uses fresh files; ours and the peer alternate so
drift on a shared machine hits both. Setup (opening the store, creating the table) is not timed.

Two rows: the default, durable setting of each side (an acknowledged message survives a power loss), and both
relaxed the same way (WAL, no fsync per commit), which shows how much of the difference is fsyncs.

    uv run python -m bench.adapter_langchain [--quick]
"""

from __future__ import annotations

import functools
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_community.chat_message_histories import SQLChatMessageHistory
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlalchemy import create_engine, event

from bench.common import Row, check, log, median, percentile, temp_dir
from memtrace import Memtrace
from memtrace_langchain import MemtraceChatMessageHistory

BENCHMARK = "langchain chat history"
TARGET_RATIO = 5.0


def make_message(i: int) -> BaseMessage:
    kind = i % 4
    if kind == 0:
        return HumanMessage(f"Question {i}: what is the status of order {i * 7}?", id=f"h{i}")
    if kind == 1:
        return AIMessage(
            content="",
            id=f"a{i}",
            tool_calls=[
                {"name": "lookup_order", "args": {"order_id": i * 7}, "id": f"call_{i}", "type": "tool_call"}
            ],
        )
    if kind == 2:
        return ToolMessage(f"order {(i - 1) * 7}: shipped", tool_call_id=f"call_{i - 1}", id=f"t{i}")
    return AIMessage(f"Order {(i - 3) * 7} has shipped.", id=f"a{i}")


def _workload(history: BaseChatMessageHistory, n: int) -> tuple[float, float]:
    """(ms to add `n` messages one at a time, ms to read them back)."""
    messages = [make_message(i) for i in range(n)]
    t0 = time.perf_counter()
    for message in messages:
        history.add_message(message)
    t1 = time.perf_counter()
    got = history.messages
    t2 = time.perf_counter()
    check(got == messages, f"{type(history).__name__} returned {len(got)} messages, not the {n} written")
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def _ours(root: Path, n: int, *, durable: bool = True) -> tuple[float, float]:
    with Memtrace.open(root / "memtrace", synchronous="FULL" if durable else "NORMAL") as client:
        return _workload(MemtraceChatMessageHistory("bench-conversation", client=client), n)


def _peer(root: Path, n: int, *, durable: bool = True) -> tuple[float, float]:
    engine = create_engine(f"sqlite:///{root / 'langchain.sqlite'}")
    if not durable:
        # The peer's best relaxed setting, the same trade memtrace makes with synchronous=NORMAL: WAL, no
        # fsync per commit (safe against a crashed process, not against power loss).
        @event.listens_for(engine, "connect")
        def _relax(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    try:
        return _workload(SQLChatMessageHistory("bench-conversation", connection=engine), n)
    finally:
        engine.dispose()


Workload = Callable[[Path, int], tuple[float, float]]


def _sample(fn: Workload, n: int) -> tuple[float, float]:
    with temp_dir("langchain") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both history classes are deprecated upstream (langchain-core 1.6.4)
        return fn(tmp, n)


def _compare(
    ours_fn: Workload, peer_fn: Workload, n: int, repeats: int
) -> tuple[list[float], list[float], dict[str, float]]:
    ours: list[tuple[float, float]] = []
    peer: list[tuple[float, float]] = []
    for r in range(repeats):
        pair = [(ours_fn, ours), (peer_fn, peer)]
        for fn, samples in pair if r % 2 == 0 else reversed(pair):
            samples.append(_sample(fn, n))
    split = {
        "ours_add_ms": median([a for a, _ in ours]),
        "ours_read_ms": median([b for _, b in ours]),
        "peer_add_ms": median([a for a, _ in peer]),
        "peer_read_ms": median([b for _, b in peer]),
    }
    return [a + b for a, b in ours], [a + b for a, b in peer], split


def run(quick: bool) -> list[Row]:
    n = 1000
    repeats = 3 if quick else 7
    _sample(_ours, 50)  # warm imports and code paths for both before timing
    _sample(_peer, 50)
    rows = []
    for durable in (True, False):
        log(f"langchain chat history: {repeats} x {n:,} messages, {'durable' if durable else 'relaxed'}")
        ours, peer, split = _compare(
            functools.partial(_ours, durable=durable), functools.partial(_peer, durable=durable), n, repeats
        )
        ours_ms, peer_ms = median(ours), median(peer)
        if durable:
            setting = "both durable per write (SQLite synchronous=FULL; WAL for ours, rollback journal for the peer)"
        else:
            setting = "both relaxed: WAL + synchronous=NORMAL (survives a process crash, not a power loss)"
        rows.append(
            Row(
                benchmark=BENCHMARK if durable else f"{BENCHMARK} (relaxed durability)",
                metric=f"ms for {n:,} add_message (1 message each) + read .messages",
                ours=ours_ms,
                peer_name="langchain-community SQLChatMessageHistory (SQLite file)",
                peer=peer_ms,
                target=f">= {TARGET_RATIO:g}x faster",
                met=peer_ms / ours_ms >= TARGET_RATIO,
                ours_p99=percentile(ours, 99),
                peer_p99=percentile(peer, 99),
                notes=f"{repeats} repeats, fresh files each; {setting}",
                extra=split,
                samples=repeats,
            )
        )
    return rows


def main(argv: list[str]) -> int:
    for row in run(quick="--quick" in argv):
        x = row.extra
        print(f"{row.benchmark}: {row.metric}\n  {row.notes}")
        print(
            f"  MemtraceChatMessageHistory median {row.ours:.1f} ms (p99 {row.ours_p99:.1f}; "
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
