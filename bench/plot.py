"""docs/scaling.png: read latency (p50, p99 as a band) against stored memories, from the scaling rows.

matplotlib is in the `bench` dependency group only, so it is imported here, in the plot step, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .common import GO_PUBLISHED, Row

_OP_OF_METRIC = (
    ("list recent, one agent", "list, one agent"),
    ("list recent, whole org", "list, whole org"),
    ("ranked search, one agent", "search, one agent"),
    ("ranked search, whole org", "search, whole org"),
    ("session context", "context, 500 memories"),
)


def _series(rows: Sequence[Row]) -> dict[str, list[tuple[float, float, float]]]:
    series: dict[str, list[tuple[float, float, float]]] = {}
    for r in rows:
        if not r.benchmark.startswith("4. scaling") or "size" not in r.extra:
            continue
        label = next((lab for prefix, lab in _OP_OF_METRIC if r.metric.startswith(prefix)), r.metric)
        series.setdefault(label, []).append((r.extra["size"], r.ours, r.ours_p99 or r.ours))
    return {k: sorted(v) for k, v in series.items()}


def draw(rows: Sequence[Row], path: Path, subtitle: str) -> bool:
    """Draw the scaling plot; False when there are no scaling rows."""
    series = _series(rows)
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=120)
    for label, points in series.items():
        sizes = [p[0] for p in points]
        (line,) = ax.plot(sizes, [p[1] for p in points], marker="o", label=label)
        ax.plot(
            sizes, [p[2] for p in points], color=line.get_color(), linestyle="--", linewidth=0.8, alpha=0.6
        )
    for name, key in (
        ("Go list", "list_p50_ms"),
        ("Go search", "search_p50_ms"),
        ("Go context", "context_p50_ms"),
    ):
        ax.axhline(GO_PUBLISHED[key], color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"{name} p50 {GO_PUBLISHED[key]:g} ms (published)", (0.99, GO_PUBLISHED[key]),
                    xycoords=("axes fraction", "data"), fontsize=7, color="grey", ha="right", va="bottom")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memories stored")
    ax.set_ylabel("latency, ms (solid p50, dashed p99)")
    ax.set_title(f"memtrace in-process read latency vs. data size\n{subtitle}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
