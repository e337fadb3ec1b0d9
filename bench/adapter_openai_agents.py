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
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import SQLiteSession

from bench.common import Row, median, percentile
from memtrace import AsyncMemtrace
from memtrace_openai_agents import MemtraceSession

BENCHMARK = "openai-agents session"


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


async def _workload(session: Any, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        await session.add_items([make_item(i)])
    items = await session.get_items()
    elapsed = (time.perf_counter() - t0) * 1000
    if len(items) != n or items[-1] != make_item(n - 1):
        raise AssertionError(f"{type(session).__name__} returned {len(items)} items, expected {n}")
    return elapsed


async def _ours(root: Path, n: int) -> float:
    async with AsyncMemtrace.open(root / "memtrace") as client:
        session = MemtraceSession("bench-conversation", client=client)
        return await _workload(session, n)


async def _peer(root: Path, n: int) -> float:
    session = SQLiteSession("bench-conversation", root / "agents.sqlite")
    try:
        return await _workload(session, n)
    finally:
        session.close()


def _sample(fn: Callable[[Path, int], Awaitable[float]], n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-oa-") as tmp:
        return asyncio.run(fn(Path(tmp), n))


def run(quick: bool) -> list[Row]:
    n = 1000
    repeats = 3 if quick else 7
    _sample(_ours, 50)  # warm imports and code paths for both before timing
    _sample(_peer, 50)
    ours: list[float] = []
    peer: list[float] = []
    for r in range(repeats):
        pair = [(_ours, ours), (_peer, peer)]
        for fn, samples in pair if r % 2 == 0 else reversed(pair):
            samples.append(_sample(fn, n))
    ours_ms, peer_ms = median(ours), median(peer)
    return [
        Row(
            benchmark=BENCHMARK,
            metric=f"ms for {n:,} add_items (1 item each) + get_items()",
            ours=ours_ms,
            peer_name="SQLiteSession (file)",
            peer=peer_ms,
            target="ours/peer <= 1.0 (not slower)",
            met=ours_ms <= peer_ms,
            ours_p99=percentile(ours, 99),
            peer_p99=percentile(peer, 99),
            notes=f"{repeats} repeats, fresh files each; MemtraceSession embedded via AsyncMemtrace.open",
            extra={"ours_over_peer": ours_ms / peer_ms},
        )
    ]


def main(argv: list[str]) -> int:
    rows = run(quick="--quick" in argv)
    for row in rows:
        print(f"{row.benchmark}: {row.metric}")
        print(f"  MemtraceSession median {row.ours:.1f} ms (p99 {row.ours_p99:.1f})")
        print(f"  {row.peer_name} median {row.peer:.1f} ms (p99 {row.peer_p99:.1f})")
        print(
            f"  ours/peer = {row.extra['ours_over_peer']:.2f}  target {row.target}: {'met' if row.met else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
