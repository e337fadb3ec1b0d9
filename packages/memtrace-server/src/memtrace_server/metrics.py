"""Prometheus metrics, in a registry of the app's own (two apps in one process do not collide)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from memtrace.stores.base import StoreStats

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StoreCollector(Collector):
    """Store size gauges, read when scraped."""

    def __init__(self, stats: Callable[[], StoreStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stats = self._stats()
        except Exception:  # a scrape must not fail because the store is busy or closing
            return
        if stats.memories is not None:  # Arc cannot say without a query
            yield GaugeMetricFamily(
                "memtrace_store_memories", "Memories stored, all organisations.", stats.memories
            )
        yield GaugeMetricFamily("memtrace_store_bytes", "Size of the store's database file.", stats.bytes)


class Metrics:
    """The server's counters and histograms.

    - ``memtrace_writes_total{kind}``: memories written (``single``/``batch``);
    - ``memtrace_duplicates_total``: memories rejected or skipped as duplicates;
    - ``memtrace_queries_total{kind}``: read queries answered (list, search, get, context, stats, ...);
    - ``memtrace_errors_total{kind}``: error responses by kind (validation, auth, permission, ...);
    - ``memtrace_request_duration_seconds{method,route,status}``: request latency by route template;
    - ``memtrace_write_group_size``: concurrent single writes that shared one transaction;
    - ``memtrace_store_memories`` / ``memtrace_store_bytes``: store size, read at scrape time.
    """

    def __init__(self, store_stats: Callable[[], StoreStats] | None = None) -> None:
        disable_created_metrics()  # the *_created series double the output and nobody graphs them
        self.registry = CollectorRegistry(auto_describe=True)
        self.writes = Counter("memtrace_writes", "Memories written.", ["kind"], registry=self.registry)
        self.duplicates = Counter(
            "memtrace_duplicates", "Memories rejected or skipped as duplicates.", registry=self.registry
        )
        self.queries = Counter("memtrace_queries", "Read queries answered.", ["kind"], registry=self.registry)
        self.errors = Counter("memtrace_errors", "Error responses by kind.", ["kind"], registry=self.registry)
        self.latency = Histogram(
            "memtrace_request_duration_seconds",
            "Request latency by route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.group_size = Histogram(
            "memtrace_write_group_size",
            "Single-memory writes stored by one engine call (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        if store_stats is not None:
            self.registry.register(_StoreCollector(store_stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)
