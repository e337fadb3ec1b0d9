"""What every benchmark shares: timing with repeats, and one result row shape for RESULTS.md.

A benchmark module exposes `run(quick: bool) -> list[Row]`. Each Row compares ours with a peer measured in the
same run, so machine noise cancels in the ratio.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


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

    @property
    def ratio(self) -> float | None:
        """peer / ours for time-like metrics (higher = we are faster); benchmarks that report rates set
        `extra['ratio']` explicitly."""
        if "ratio" in self.extra:
            return self.extra["ratio"]
        if self.peer is None or self.ours == 0:
            return None
        return self.peer / self.ours


def percentile(samples: list[float], p: float) -> float:
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


def median(samples: list[float]) -> float:
    return statistics.median(samples)
