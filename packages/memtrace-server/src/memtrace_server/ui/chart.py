"""The overview's "memories over time" chart, laid out on the server as SVG shapes (a picture with no
JavaScript, no inline styles: colours come from CSS classes, so the strict CSP holds).

`build_chart` turns per-series bucket counts into bars, axis ticks and a legend; the template draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

WIDTH = 720
HEIGHT = 240
LEFT = 44
BOTTOM = 28
TOP = 10
RIGHT = 8
MAX_SERIES_CLASSES = 6


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[int, str, int]]
    """(series class, name, total) per series."""
    total: int
    summary: str
    """A sentence for screen readers."""


def _nice_max(value: int) -> int:
    """The smallest 1/2/5 x 10^n at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def build_chart(
    series: Sequence[tuple[str, Sequence[int]]], start_us: int, bucket_us: int, *, label_every: int = 1
) -> Chart:
    """Stacked bars: one bar per bucket, one segment per series (in the order given)."""
    buckets = len(series[0][1]) if series else 0
    totals = [sum(counts[i] for _, counts in series) for i in range(buckets)]
    top = _nice_max(max(totals, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(buckets, 1)
    bar_w = max(slot * 0.78, 1.0)
    hourly = bucket_us < 86_400_000_000
    bars: list[Bar] = []
    x_ticks: list[Tick] = []
    for i in range(buckets):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y: float = TOP + plot_h
        when = datetime.fromtimestamp((start_us + i * bucket_us) / 1e6, UTC)
        label = when.strftime("%H:%M" if hourly else "%b %d")
        for s, (name, counts) in enumerate(series):
            n = counts[i]
            if n <= 0:
                continue
            h = plot_h * n / top
            y -= h
            title = f"{name}: {n} memor{'y' if n == 1 else 'ies'}, {when:%Y-%m-%d %H:%M} UTC"
            bars.append(
                Bar(round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), s % MAX_SERIES_CLASSES, title)
            )
        if i % label_every == 0:
            x_ticks.append(Tick(round(LEFT + i * slot + slot / 2, 1), label))
    y_ticks = [Tick(round(TOP + plot_h - plot_h * f, 1), f"{int(top * f):,}") for f in (0, 0.5, 1)]
    legend = [(s % MAX_SERIES_CLASSES, name, sum(counts)) for s, (name, counts) in enumerate(series)]
    total = sum(totals)
    peak = max(totals, default=0)
    summary = f"{total:,} memories in {buckets} {'hourly' if hourly else 'daily'} bars; the busiest bar has {peak:,}."
    return Chart(WIDTH, HEIGHT, bars, y_ticks, x_ticks, legend, total, summary)
