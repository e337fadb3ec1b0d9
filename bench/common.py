"""What every benchmark shares: timing with repeats, and one result row shape for RESULTS.md.

A benchmark module exposes `run(quick: bool) -> list[Row]`. Each Row compares ours with a peer measured in the
same run, so machine noise cancels in the ratio.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

# The original Go server's published p50s and throughputs (issues 3 and 10), shown beside ours.
GO_PUBLISHED = {
    "list_p50_ms": 25.0,
    "search_p50_ms": 120.0,
    "context_p50_ms": 180.0,
    "single_write_p50_ms": 8.0,
    "batch100_memories_per_s": 2_222.0,
}


@dataclass
class Row:
    """One line of RESULTS.md."""

    benchmark: str
    metric: str  # what is measured, with its unit, e.g. "ms for 1,000 add_message + read"
    ours: float  # median
    peer_name: str
    peer: float | None  # peer's median in the same run (None when there is no peer, only a target)
    target: str  # e.g. ">= 5x faster", "<= 2 ms"
    met: bool
    ours_p99: float | None = None
    peer_p99: float | None = None
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    published: float | None = None
    """The original Go server's published figure for the same metric, where it published one."""
    samples: int | None = None
    """How many measurements the median and p99 are taken over."""

    @property
    def ratio(self) -> float | None:
        """peer / ours for time-like metrics (higher = we are faster); benchmarks that report rates set
        `extra['ratio']` explicitly."""
        if "ratio" in self.extra:
            return self.extra["ratio"]
        if self.peer is None or self.ours == 0:
            return None
        return self.peer / self.ours

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Run `fn` `warmup` + `repeat` times; return the `repeat` wall times in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def slow_tail_rate(rates: list[float]) -> float:
    """The p99 of a throughput: the rate that 99% of samples beat (the 1st percentile)."""
    return percentile(rates, 1)


def rate_row(
    benchmark: str,
    metric: str,
    ours_rates: list[float],
    peer_name: str,
    peer_rates: list[float] | None,
    *,
    target: str,
    met: bool,
    notes: str = "",
    published: float | None = None,
) -> Row:
    """A Row for a rate (higher is better): median and slow-tail p99 of both sides, ratio ours/peer."""
    ours = median(ours_rates)
    peer = median(peer_rates) if peer_rates else None
    extra = {"ratio": ours / peer} if peer else {}
    return Row(
        benchmark=benchmark,
        metric=metric,
        ours=ours,
        ours_p99=slow_tail_rate(ours_rates),
        peer_name=peer_name,
        peer=peer,
        peer_p99=slow_tail_rate(peer_rates) if peer_rates else None,
        target=target,
        met=met,
        notes=notes,
        extra=extra,
        published=published,
        samples=len(ours_rates),
    )


def latency_row(
    benchmark: str,
    metric: str,
    ours_ms: list[float],
    peer_name: str,
    peer_ms: list[float] | None,
    *,
    target_ms: float | None,
    target: str | None = None,
    notes: str = "",
    published: float | None = None,
) -> Row:
    """A Row for a latency in ms (lower is better): p50 and p99 of both sides, ratio peer/ours; `met` when
    our p50 is within `target_ms`."""
    ours = median(ours_ms)
    return Row(
        benchmark=benchmark,
        metric=metric,
        ours=ours,
        ours_p99=percentile(ours_ms, 99),
        peer_name=peer_name,
        peer=median(peer_ms) if peer_ms else None,
        peer_p99=percentile(peer_ms, 99) if peer_ms else None,
        target=target or (f"p50 <= {target_ms:g} ms" if target_ms is not None else "report only"),
        met=ours <= target_ms if target_ms is not None else True,
        notes=notes,
        published=published,
        samples=len(ours_ms),
    )


class CorrectnessError(AssertionError):
    """A benchmark's own check failed: a fast wrong answer must not pass as a result."""


def check(condition: bool, message: str) -> None:
    """Fail the benchmark (not just a row) when its result is wrong."""
    if not condition:
        raise CorrectnessError(message)


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory removed afterwards; the only place benchmarks write data (besides bench/)."""
    path = Path(tempfile.mkdtemp(prefix=f"memtrace-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def log(message: str) -> None:
    """Progress on stderr, so a long run shows where it is; quiet with MEMTRACE_BENCH_QUIET=1."""
    if not os.environ.get("MEMTRACE_BENCH_QUIET"):
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
