"""OpenAI Agents SDK session: MemtraceSession (embedded, on a file) vs the SDK's SQLiteSession (on a file).

The workload is the Runner's own pattern (spec frameworks §2.2.1): one small append per turn, then one full
read of the history. 1,000 ``add_items`` calls of one item each (a realistic mix of user messages, function
calls, their outputs and assistant messages), then ``get_items()``. Each repeat uses fresh files; ours and
the peer alternate so drift on a shared machine hits both. Setup (opening the store) is not timed.

    uv run python -m bench.adapter_openai_agents [--quick]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import SQLiteSession

from bench.common import Row, check, log, median, percentile, temp_dir
from memtrace import AsyncMemtrace
from memtrace_openai_agents import MemtraceSession

BENCHMARK = "openai-agents session"
TARGET_RATIO = 1.2
"""Issue #15: MemtraceSession at least 1.2x the speed of the SDK's own SQLiteSession."""


def make_item(i: int) -> dict[str, Any]:
    kind = i % 4
    if kind == 0:
        return {"role": "user", "content": f"Question {i}: what is the status of order {i * 7}?"}
    if kind == 1:
        return {
            "type": "function_call",
            "id": f"fc_{i}",
            "call_id": f"call_{i}",
            "name": "lookup_order",
            "arguments": f'{{"order_id": {i * 7}}}',
            "status": "completed",
        }
    if kind == 2:
        return {
            "type": "function_call_output",
            "call_id": f"call_{i - 1}",
            "output": f"order {i * 7}: shipped",
        }
    return {
        "type": "message",
        "id": f"msg_{i}",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": f"Order {i * 7} has shipped.", "annotations": []}],
    }


async def _workload(session: Any, n: int) -> tuple[float, float]:
    """(ms to add `n` items one call each, ms to read them all back), checked against what was written."""
    items = [make_item(i) for i in range(n)]
    t0 = time.perf_counter()
    for item in items:
        await session.add_items([item])
    t1 = time.perf_counter()
    got = await session.get_items()
    t2 = time.perf_counter()
    check(got == items, f"{type(session).__name__} returned {len(got)} items, not the {n} written")
    return (t1 - t0) * 1000, (t2 - t1) * 1000


async def _ours(root: Path, n: int) -> tuple[float, float]:
    async with AsyncMemtrace.open(root / "memtrace") as client:
        return await _workload(MemtraceSession("bench-conversation", client=client), n)


async def _peer(root: Path, n: int) -> tuple[float, float]:
    session = SQLiteSession("bench-conversation", root / "agents.sqlite")
    try:
        return await _workload(session, n)
    finally:
        session.close()


def _sample(
    fn: Callable[[Path, int], Coroutine[Any, Any, tuple[float, float]]], n: int
) -> tuple[float, float]:
    with temp_dir("openai-agents") as root:
        return asyncio.run(fn(root, n))


def run(quick: bool) -> list[Row]:
    n = 1000
    repeats = 5 if quick else 11
    _sample(_ours, 50)  # warm imports and code paths for both before timing
    _sample(_peer, 50)
    ours: list[tuple[float, float]] = []
    peer: list[tuple[float, float]] = []
    for r in range(repeats):
        log(f"openai-agents session: repeat {r + 1}/{repeats}")
        pair = [(_ours, ours), (_peer, peer)]
        for fn, samples in pair if r % 2 == 0 else reversed(pair):
            samples.append(_sample(fn, n))
    ours_total = [a + b for a, b in ours]
    peer_total = [a + b for a, b in peer]
    ours_ms, peer_ms = median(ours_total), median(peer_total)
    return [
        Row(
            benchmark=BENCHMARK,
            metric=f"ms for {n:,} add_items (1 item each) + get_items()",
            ours=ours_ms,
            peer_name="agents SQLiteSession (SQLite file)",
            peer=peer_ms,
            target=f">= {TARGET_RATIO:g}x faster",
            met=peer_ms / ours_ms >= TARGET_RATIO,
            ours_p99=percentile(ours_total, 99),
            peer_p99=percentile(peer_total, 99),
            notes=(
                f"{repeats} repeats, fresh files each; both durable per call (SQLite WAL, synchronous=FULL); "
                "ours also keeps a keyword index of every item"
            ),
            extra={
                "ours_over_peer": ours_ms / peer_ms,
                "ours_add_ms": median([a for a, _ in ours]),
                "ours_read_ms": median([b for _, b in ours]),
                "peer_add_ms": median([a for a, _ in peer]),
                "peer_read_ms": median([b for _, b in peer]),
            },
            samples=repeats,
        )
    ]


def main(argv: list[str]) -> int:
    for row in run(quick="--quick" in argv):
        x = row.extra
        print(f"{row.benchmark}: {row.metric}")
        print(
            f"  MemtraceSession median {row.ours:.1f} ms (p99 {row.ours_p99:.1f}; "
            f"add {x['ours_add_ms']:.1f}, read {x['ours_read_ms']:.1f})"
        )
        print(
            f"  {row.peer_name} median {row.peer:.1f} ms (p99 {row.peer_p99:.1f}; "
            f"add {x['peer_add_ms']:.1f}, read {x['peer_read_ms']:.1f})"
        )
        print(f"  {row.ratio:.2f}x faster; target {row.target}: {'met' if row.met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
