"""Benchmark 4: how read cost grows with data, at 10,000 and 100,000 memories (and 1,000,000 with --full).

Each size is a store bulk-loaded with the same generator (shared with the read benchmark), read in-process
with the operations of `bench.read_ops` (`READ_OPS`, both query mixes). The peer of each row is the same
operation at the smallest size, so the ratio is the growth factor; the target is sub-linear growth (ten times
the data, less than ten times the time). `python -m bench` draws these rows as docs/scaling.png (see
`bench.plot`).

`python -m bench --scale 10m` (not part of `make bench`) runs this benchmark alone on a tenfold ladder ending at
the given size (100,000, 1,000,000, 10,000,000), with each size's bulk-load rates (first and last 10% of its
batches) beside the reads: `MEMTRACE_BENCH_SCALE` carries the size to the worker.
"""

from __future__ import annotations

import os

from .bulk_load import load_store
from .common import Row, latency_row, log, median
from .read_ops import OP_LABELS, READ_OPS, plan
from .reads import PUBLISHED_MS, WARMUP_ROUNDS, _load_row, measure_ours

BENCHMARK = "4. scaling (in-process)"


def measure(sizes: tuple[int, ...], iterations: int) -> dict[int, dict[str, list[float]]]:
    """ms per call, by size and op."""
    out = {}
    for size in sizes:
        store = load_store(size)
        log(f"scaling: {iterations} rounds at {size:,} memories")
        calls = plan(store.dataset().shape, iterations + WARMUP_ROUNDS, seed=11, ops=READ_OPS)
        out[size] = measure_ours(store, calls)
    return out


def rows_from(results: dict[int, dict[str, list[float]]]) -> list[Row]:
    sizes = sorted(results)
    base = sizes[0]
    rows = []
    for op in READ_OPS:
        base_ms = results[base][op]
        for size in sizes:
            ms = results[size][op]
            row = latency_row(
                BENCHMARK,
                f"{OP_LABELS[op]} at {size:,} memories, ms",
                ms,
                f"same op at {base:,} memories",
                base_ms if size != base else None,
                target_ms=None,
                target="baseline" if size == base else f"growth < {size // base}x (sub-linear)",
                published=PUBLISHED_MS[op],
            )
            row.extra = {"size": float(size)}
            if size != base:
                growth = median(ms) / median(base_ms)
                row.extra["ratio"] = growth
                row.met = growth < size / base
                row.notes = f"ratio = growth factor over {base:,} for {size // base}x the data"
            rows.append(row)
    return rows


SCALE_ENV = "MEMTRACE_BENCH_SCALE"


def parse_size(text: str) -> int:
    """``10m`` -> 10,000,000; ``300k`` -> 300,000; ``5000`` -> 5,000."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if factor != 1 else text
    size = int(float(number) * factor)
    if size < 1_000:
        raise ValueError(f"scale {text!r}: at least 1,000 memories")
    return size


def ladder(top: int) -> tuple[int, ...]:
    """A tenfold ladder of sizes ending at `top`, three steps when the smallest stays >= 1,000."""
    return tuple(s for s in (top // 100, top // 10, top) if s >= 1_000)


def run(quick: bool) -> list[Row]:
    scale = os.environ.get(SCALE_ENV)
    if scale:
        sizes = ladder(parse_size(scale))
        loads = [_load_row(load_store(size)) for size in sizes]
        for row in loads:
            row.benchmark = BENCHMARK
        return loads + rows_from(measure(sizes, 200 if sizes[-1] >= 1_000_000 else 40))
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    return rows_from(measure(sizes, 100 if quick else 200))
