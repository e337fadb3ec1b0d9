"""LangChain chat history: MemtraceChatMessageHistory (embedded, on a file) vs langchain-community's
SQLChatMessageHistory (SQLAlchemy on a SQLite file).

The workload is how a chat app uses a history: one message appended per call (``add_message``), 1,000 of
them (a realistic mix of user messages, AI tool calls, tool results and AI answers), then one full read of
``.messages``, checked against what was written. Each repeat uses fresh files; ours and the peer alternate so
drift on a shared machine hits both. Setup (opening the store, creating the table) is not timed.

    uv run python -m bench.adapter_langchain [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from langchain_community.chat_message_histories import SQLChatMessageHistory
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from bench.common import Row, median, percentile
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
    if got != messages:
        raise AssertionError(f"{type(history).__name__} returned {len(got)} messages, not the {n} written")
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def _ours(root: Path, n: int) -> tuple[float, float]:
    with Memtrace.open(root / "memtrace") as client:
        return _workload(MemtraceChatMessageHistory("bench-conversation", client=client), n)


def _peer(root: Path, n: int) -> tuple[float, float]:
    history = SQLChatMessageHistory("bench-conversation", connection=f"sqlite:///{root / 'langchain.sqlite'}")
    try:
        return _workload(history, n)
    finally:
        history.engine.dispose()


def _sample(fn: Callable[[Path, int], tuple[float, float]], n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-lc-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both history classes are deprecated upstream (langchain-core 1.6.4)
        return fn(Path(tmp), n)


def run(quick: bool) -> list[Row]:
    n = 1000
    repeats = 3 if quick else 7
    _sample(_ours, 50)  # warm imports and code paths for both before timing
    _sample(_peer, 50)
    ours: list[tuple[float, float]] = []
    peer: list[tuple[float, float]] = []
    for r in range(repeats):
        pair = [(_ours, ours), (_peer, peer)]
        for fn, samples in pair if r % 2 == 0 else reversed(pair):
            samples.append(_sample(fn, n))
    ours_total = [a + b for a, b in ours]
    peer_total = [a + b for a, b in peer]
    ours_ms, peer_ms = median(ours_total), median(peer_total)
    return [
        Row(
            benchmark=BENCHMARK,
            metric=f"ms for {n:,} add_message (1 message each) + read .messages",
            ours=ours_ms,
            peer_name="langchain-community SQLChatMessageHistory (SQLite file)",
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
        )
    ]


def main(argv: list[str]) -> int:
    for row in run(quick="--quick" in argv):
        x = row.extra
        print(f"{row.benchmark}: {row.metric}")
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
