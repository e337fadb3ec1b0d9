"""Benchmark 4: how read cost grows with data, at 10,000 and 100,000 memories (and 1,000,000 with --full).

Each size is a store bulk-loaded with the same generator (shared with the read benchmark), read in-process
with the operations of `bench.read_ops`. The peer of each row is the same operation at the smallest size, so the
ratio is the growth factor; the target is sub-linear growth (ten times the data, less than ten times the time).
`python -m bench` draws these rows as docs/scaling.png (see `bench.plot`).
"""

from __future__ import annotations

from .bulk_load import load_store
from .common import Row, latency_row, log, median
from .read_ops import OP_LABELS, OPS, plan
from .reads import PUBLISHED_MS, measure_inprocess

BENCHMARK = "4. scaling (in-process)"


def measure(sizes: tuple[int, ...], iterations: int) -> dict[int, dict[str, list[float]]]:
    """ms per call, by size and op."""
    out = {}
    for size in sizes:
        store = load_store(size)
        log(f"scaling: {iterations} rounds at {size:,} memories")
        ours, _raw, _found, _agree = measure_inprocess(
            store, plan(store.dataset().shape, iterations, seed=11)
        )
        out[size] = ours
    return out


def rows_from(results: dict[int, dict[str, list[float]]]) -> list[Row]:
    sizes = sorted(results)
    base = sizes[0]
    rows = []
    for op in OPS:
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


def run(quick: bool) -> list[Row]:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    return rows_from(measure(sizes, 100 if quick else 200))
