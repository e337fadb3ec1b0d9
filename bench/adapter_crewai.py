"""CrewAI memory: MemtraceMemory (embedded, on a file) vs CrewAI's default Memory on LanceDB.

The workload is what a crew does with memory: save 1,000 memories, then run 100 recalls (``limit=5``). It
runs twice: saving one ``remember`` call at a time (the Save-to-memory tool, user code), and in
``remember_many`` batches of 10 (a crew saving the facts of each finished task; CrewAI's own Memory encodes
those in the background, so its time runs until ``drain_writes()`` returns). The peer is CrewAI's own `Memory` with its default LanceDB storage, given a local
deterministic hash embedder (no API key, no network) and a scripted LLM that answers CrewAI's consolidation
prompt instantly ("insert"). Both get scope, categories and importance on every save, so neither asks an LLM
to analyse a save. The peer recalls ``depth="shallow"`` (one embedding and one vector search, its fastest
path: deep recall may also call the LLM); ours recalls with CrewAI's default arguments. Each repeat uses fresh
directories; ours and the peer alternate so drift on a shared machine hits both. Opening the stores and
importing LanceDB are not timed. Both recalls are checked for finding the memory each query is about.

    uv run python -m bench.adapter_crewai [--quick]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Frameworks under test never phone home, and crewai writes into $HOME at import: keep it in a temp dir when
# not run by `python -m bench` (which sets its own).
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
if "MEMTRACE_BENCH_WORKDIR" not in os.environ:
    os.environ["HOME"] = tempfile.mkdtemp(prefix="memtrace-bench-crewai-home-")

from crewai.events.event_listener import event_listener
from crewai.llms.base_llm import BaseLLM
from crewai.memory.unified_memory import Memory
from crewai.utilities.i18n import I18N_DEFAULT
from pydantic import Field

from bench.common import Row, check, log, median, percentile, temp_dir
from memtrace import Memtrace
from memtrace_crewai import MemtraceMemory

# Quiet, as under a Crew(verbose=False): CrewAI otherwise prints a console panel for every memory event.
event_listener.formatter.verbose = False

BENCHMARK = "crewai memory"
N_MEMORIES = 1000
N_RECALLS = 100
TARGET = 10.0
_SYLLABLES = ["ka", "lo", "mi", "ren", "ta", "vo", "zu", "pel", "qui", "dar", "sen", "bro"]
_REGIONS = ["eu-north", "eu-west", "us-east", "us-west", "ap-south"]
_TEAMS = ["payments", "search", "identity", "growth", "platform", "data"]


def service_name(i: int) -> str:
    """A unique made-up word per memory, so each query has exactly one right answer."""
    parts, n = [], i + 1000
    while n:
        n, r = divmod(n, len(_SYLLABLES))
        parts.append(_SYLLABLES[r])
    return "".join(parts)


def corpus() -> tuple[list[str], list[tuple[str, int]]]:
    memories = [
        f"Service {service_name(i)} runs on port {8000 + i} in {_REGIONS[i % 5]} and is owned by the "
        f"{_TEAMS[i % 6]} team."
        for i in range(N_MEMORIES)
    ]
    step = N_MEMORIES // N_RECALLS
    queries = [(f"Which port does service {service_name(i)} use?", i) for i in range(0, N_MEMORIES, step)]
    return memories, queries


def hash_embed(texts: list[str], dims: int = 256) -> list[list[float]]:
    """A local deterministic embedder: hashed bag of words, L2-normalised."""
    vectors = []
    for text in texts:
        v = [0.0] * dims
        for token in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(token.encode()).hexdigest(), 16) % dims] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        vectors.append([x / norm for x in v])
    return vectors


class InstantLLM(BaseLLM):
    """Answers CrewAI's consolidation prompt with "insert the new memory", instantly; counts its calls."""

    calls: list[str] = Field(default_factory=list)  # a list: Memory works on a shallow copy of its LLM

    def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
        self.calls.append("call")
        system = messages[0].get("content") if isinstance(messages, list) and messages else None
        if system == I18N_DEFAULT.memory("consolidation_system"):
            return json.dumps({"actions": [], "insert_new": True, "insert_reason": ""})
        return "{}"


def _workload(
    memory: Memory, memories: list[str], queries: list[tuple[str, int]], batch: int, **recall_args: Any
) -> dict[str, Any]:
    save_ms: list[float] = []
    fields: dict[str, Any] = {"scope": "/bench", "categories": ["services"], "importance": 0.5}
    for start in range(0, len(memories), batch):
        t0 = time.perf_counter()
        if batch == 1:
            memory.remember(memories[start], **fields)
        else:
            memory.remember_many(memories[start : start + batch], **fields)
        save_ms.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    memory.drain_writes()  # CrewAI's remember_many saves in the background: wait until it is stored
    save_ms.append((time.perf_counter() - t0) * 1000)
    recall_ms: list[float] = []
    hits = 0
    for query, target in queries:
        t0 = time.perf_counter()
        matches = memory.recall(query, limit=5, **recall_args)
        recall_ms.append((time.perf_counter() - t0) * 1000)
        hits += any(service_name(target) in m.record.content.split() for m in matches)
    check(len(memory.list_records(limit=N_MEMORIES + 1)) == len(memories), "not every memory was stored")
    return {"save": save_ms, "recall": recall_ms, "hit_rate": hits / len(queries)}


def _ours(root: Path, memories: list[str], queries: list[tuple[str, int]], batch: int) -> dict[str, Any]:
    with Memtrace.open(root / "memtrace") as client:
        return _workload(MemtraceMemory(client), memories, queries, batch)


def _peer(root: Path, memories: list[str], queries: list[tuple[str, int]], batch: int) -> dict[str, Any]:
    from crewai.memory.storage.lancedb_storage import LanceDBStorage

    llm = InstantLLM(model="instant")
    memory = Memory(storage=LanceDBStorage(path=root / "lancedb"), embedder=hash_embed, llm=llm)
    try:
        result = _workload(memory, memories, queries, batch, depth="shallow")
    finally:
        memory.close()
    result["llm_calls"] = len(llm.calls)
    return result


def _sample(fn: Any, memories: list[str], queries: list[tuple[str, int]], batch: int) -> dict[str, Any]:
    with temp_dir("crewai") as root:
        return fn(root, memories, queries, batch)


PATTERNS = (
    (1, "remember, one per call (the Save-to-memory tool, user code)"),
    (10, "remember_many, batches of 10 (a crew saving each task's facts)"),
)


def _rows(pattern: str, ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> list[Row]:
    def totals(samples: list[dict[str, Any]], part: str) -> list[float]:
        return [sum(s[part]) for s in samples]

    def per_op_p99(samples: list[dict[str, Any]], part: str) -> float:
        return percentile([ms for s in samples for ms in s[part]], 99)

    repeats = len(ours)
    peer_name = "crewai Memory on LanceDB (hash embedder)"
    ours_hit, peer_hit = median([s["hit_rate"] for s in ours]), median([s["hit_rate"] for s in peer])
    check(ours_hit >= 0.9, f"MemtraceMemory found the right memory for only {ours_hit:.0%} of queries")
    rows = []
    for part, metric in (
        ("save", f"ms to save {N_MEMORIES:,} memories: {pattern}"),
        ("recall", f"ms for {N_RECALLS} recalls (limit 5), after {pattern.split(',')[0]}"),
    ):
        o, p = totals(ours, part), totals(peer, part)
        rows.append(
            Row(
                benchmark=BENCHMARK,
                metric=metric,
                ours=median(o),
                peer_name=peer_name,
                peer=median(p),
                target="informational (the target is on the total)",
                met=True,
                ours_p99=percentile(o, 99),
                peer_p99=percentile(p, 99),
                notes=f"per-call p99: ours {per_op_p99(ours, part):.2f} ms, peer {per_op_p99(peer, part):.2f} ms",
                extra={
                    "ours_per_call_p99_ms": per_op_p99(ours, part),
                    "peer_per_call_p99_ms": per_op_p99(peer, part),
                },
                samples=repeats,
            )
        )
    o_total = [a + b for a, b in zip(totals(ours, "save"), totals(ours, "recall"), strict=True)]
    p_total = [a + b for a, b in zip(totals(peer, "save"), totals(peer, "recall"), strict=True)]
    ratio = median(p_total) / median(o_total)
    llm_calls = median([s["llm_calls"] for s in peer])
    rows.append(
        Row(
            benchmark=BENCHMARK,
            metric=f"ms to save {N_MEMORIES:,} memories + {N_RECALLS} recalls: {pattern}",
            ours=median(o_total),
            peer_name=peer_name,
            peer=median(p_total),
            target=f">= {TARGET:.0f}x faster",
            met=ratio >= TARGET,
            ours_p99=percentile(o_total, 99),
            peer_p99=percentile(p_total, 99),
            notes=(
                f"{repeats} repeats, fresh directories each; ours durable per call (SQLite synchronous=FULL); "
                f"peer: shallow recall, {llm_calls:.0f} consolidation LLM calls answered instantly; "
                f"right memory in the top 5: ours {ours_hit:.0%}, peer {peer_hit:.0%}"
            ),
            extra={"ours_hit_rate": ours_hit, "peer_hit_rate": peer_hit, "peer_llm_calls": llm_calls},
            samples=repeats,
        )
    )
    return rows


def run(quick: bool) -> list[Row]:
    memories, queries = corpus()
    repeats = 3 if quick else 7
    for batch, _ in PATTERNS:  # warm imports (LanceDB's takes seconds) and code paths
        _sample(_ours, memories[:50], queries[:5], batch)
        _sample(_peer, memories[:50], queries[:5], batch)
    rows: list[Row] = []
    for batch, pattern in PATTERNS:
        ours: list[dict[str, Any]] = []
        peer: list[dict[str, Any]] = []
        for r in range(repeats):
            log(f"crewai memory ({pattern}): repeat {r + 1}/{repeats}")
            pair = [(_ours, ours), (_peer, peer)]
            for fn, samples in pair if r % 2 == 0 else reversed(pair):
                samples.append(_sample(fn, memories, queries, batch))
        rows += _rows(pattern, ours, peer)
    return rows


def main(argv: list[str]) -> int:
    for row in run(quick="--quick" in argv):
        print(f"{row.benchmark}: {row.metric}")
        print(f"  MemtraceMemory median {row.ours:.1f} ms (p99 {row.ours_p99:.1f})")
        print(f"  {row.peer_name} median {row.peer:.1f} ms (p99 {row.peer_p99:.1f})")
        print(f"  peer/ours = {row.ratio:.1f}x; target {row.target}: {'met' if row.met else 'NOT met'}")
        print(f"  {row.notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
