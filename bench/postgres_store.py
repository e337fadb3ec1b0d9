"""Benchmark 7: the PostgreSQL store beside the embedded SQLite store, same data, same run.

Both stores are loaded with the benchmark dataset through the engine's `add_memories` (batches of 1,000),
batch by batch in turn, so both see the machine at the same moment; then the five read operations of
`bench.read_ops` run call by call on each (PostgreSQL first, then SQLite), each answer checked. For ranked
searches, the PostgreSQL results are compared with SQLite's (share of SQLite's top 10 that PostgreSQL also
returned): the two rank the same way, so this should be 1.0 up to their different bounds on work.

Also: bytes on disk per memory (PostgreSQL: the memories partitions with their indexes and the keyword
statistics; SQLite: the data directory), and the PostgreSQL peers on the same database (`bench.postgres_peers`:
LangGraph's PostgresStore, langchain-postgres's chat history).

Sizes: 20,000 memories in quick mode (a couple of minutes, part of ``make bench``), 1,000,000 with
``python -m bench postgres --scale 1m`` (its own command: about half an hour on our 2 cores) or ``--full``.
The database is a fresh one named ``memtrace_bench_<random>`` on ``MEMTRACE_BENCH_POSTGRES_URL`` (default: the
local server, as the tests use), dropped at the end; ``MEMTRACE_BENCH_POSTGRES_SIZE`` overrides the size.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from .bulk_load import bench_workdir
from .common import Row, check, dir_bytes, latency_row, log, median, rate_row
from .dataset import Dataset
from .postgres_peers import chat_history_row, langgraph_store_row
from .read_ops import OP_LABELS, OPS, SEARCH_LIMIT, Truth, agreement, call_client, plan

BENCH = "7. PostgreSQL store"
URL_VARIABLE = "MEMTRACE_BENCH_POSTGRES_URL"
SIZE_VARIABLE = "MEMTRACE_BENCH_POSTGRES_SIZE"
"""Memories to load instead of the mode's size (a scale point between quick and --full)."""
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 1_000
TARGET_MS = {"list_agent": 5.0, "list_org": 5.0, "search_agent": 15.0, "search_org": 100.0, "context": 10.0}
TARGET_INGEST = 10_000.0
MIN_AGREEMENT = 0.9


def _database_url(server: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(server)._replace(path="/" + name))


def _clients(directory: Path, pg_url: str) -> tuple[Any, Any, Any]:
    from memtrace import Memtrace
    from memtrace.backends import LocalBackend
    from memtrace.engine import Engine, EngineConfig
    from memtrace.stores.postgres import (
        PoolOptions,
        PostgresEventStore,
        PostgresMetadataStore,
        open_postgres_database,
    )

    db = open_postgres_database(pg_url, PoolOptions(min_size=1, max_size=4))
    metadata = PostgresMetadataStore(db)
    metadata.ensure_org("org_default", "Default", time.time_ns() // 1000)
    pg = Memtrace.from_backend(
        LocalBackend(Engine(PostgresEventStore(db), metadata, EngineConfig()), "org_default")
    )
    sqlite = Memtrace.open(directory)
    return pg, sqlite, db


def _found(client: Any, query: str, agent: str | None) -> list[str]:
    from memtrace import SearchQuery

    results = client.search_memories(SearchQuery(query=query, agent_id=agent, limit=SEARCH_LIMIT)).results
    return [f"{m.time} {m.content}" for m in results]


def _pg_bytes(db: Any) -> int:
    with db.connection() as conn:
        conn.execute("VACUUM ANALYZE memories")
        row = conn.execute(
            "SELECT (SELECT COALESCE(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'memories'::regclass) + pg_total_relation_size('corpus_stats') "
            "+ pg_total_relation_size('term_stats')"
        ).fetchone()
    return int(row[0])


def run(quick: bool) -> list[Row]:
    import psycopg

    size = int(os.environ.get(SIZE_VARIABLE) or (20_000 if quick else 1_000_000))
    iterations = 40 if quick and size < 200_000 else 200
    server = os.environ.get(URL_VARIABLE) or DEFAULT_URL
    name = "memtrace_bench_" + secrets.token_hex(4)
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        return [
            Row(
                BENCH,
                "PostgreSQL reachable",
                0.0,
                "-",
                None,
                "a server to measure",
                False,
                notes=f"no PostgreSQL at {server} ({str(exc).strip()[:120]}); set {URL_VARIABLE}",
            )
        ]
    admin.execute(f'CREATE DATABASE "{name}"')  # generated name
    try:
        url = _database_url(server, name)
        rows = _measure(size, iterations, url)
        repeats = 2 if quick and size <= 100_000 else 3
        rows.append(langgraph_store_row(url, repeats))
        rows.append(chat_history_row(url, repeats))
        return rows
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _measure(size: int, iterations: int, pg_url: str) -> list[Row]:
    directory = bench_workdir() / f"pg-peer-sqlite-{size}"
    dataset = Dataset(size)
    pg, sqlite, db = _clients(directory, pg_url)
    rows: list[Row] = []
    try:
        pg_rates: list[float] = []
        sqlite_rates: list[float] = []
        agent_counts: dict[str, int] = {}
        log(f"loading {size:,} memories into PostgreSQL and SQLite, batch by batch")
        started = time.perf_counter()
        for i, batch in enumerate(dataset.batches(BATCH)):
            requests = [m.to_request() for m in batch]
            for m in batch:
                agent_counts[m.agent_id] = agent_counts.get(m.agent_id, 0) + 1
            t0 = time.perf_counter()
            result = pg.add_memories(requests)
            pg_rates.append(len(batch) / (time.perf_counter() - t0))
            check(len(result) == len(batch), f"PostgreSQL batch {i}: {result.skipped} skipped")
            t0 = time.perf_counter()
            result = sqlite.add_memories(requests)
            sqlite_rates.append(len(batch) / (time.perf_counter() - t0))
            check(len(result) == len(batch), f"SQLite batch {i}: {result.skipped} skipped")
            if (i + 1) % 50 == 0:
                log(
                    f"  {(i + 1) * BATCH:,}: PostgreSQL {pg_rates[-1]:,.0f}/s, SQLite {sqlite_rates[-1]:,.0f}/s"
                )
        log(f"loaded in {time.perf_counter() - started:.1f} s")
        # What autovacuum does to a live store: without statistics the planner guesses, and on a store loaded
        # in minutes (whose partitions autovacuum had not reached on our shared server) it listed an agent's
        # memories by sorting all of them (180 ms instead of 6-12).
        with db.connection() as conn:
            conn.execute("ANALYZE memories")
        ingest_ok = median(pg_rates) >= TARGET_INGEST
        rows.append(
            rate_row(
                BENCH,
                f"batch ingest, memories/s (add_memories of {BATCH:,}, {size:,} total)",
                pg_rates,
                "SQLite store",
                sqlite_rates,
                target=f">= {TARGET_INGEST:,.0f}/s",
                met=ingest_ok,
                notes="PostgreSQL: COPY per batch, advisory-lock dedup, GIN with a 1 MB pending list",
            )
        )

        truth = Truth(dataset.shape, agent_counts)
        calls = plan(dataset.shape, iterations)
        for call in calls[: 5 * len(OPS)]:  # warm caches and pools on both
            call_client(pg, call, truth)
            call_client(sqlite, call, truth)
        pg_ms: dict[str, list[float]] = {op: [] for op in OPS}
        sqlite_ms: dict[str, list[float]] = {op: [] for op in OPS}
        agree: dict[str, list[float]] = {op: [] for op in OPS}
        for call in calls:
            t0 = time.perf_counter()
            call_client(pg, call, truth)
            t1 = time.perf_counter()
            call_client(sqlite, call, truth)
            t2 = time.perf_counter()
            pg_ms[call.op].append((t1 - t0) * 1000)
            sqlite_ms[call.op].append((t2 - t1) * 1000)
            if call.op.startswith("search"):
                # The stores gave the memories different ids: compare what they hold (time and content).
                agent = call.agent if call.op == "search_agent" else None
                agree[call.op].append(
                    agreement(_found(pg, call.query, agent), _found(sqlite, call.query, agent))
                )
        for op in OPS:
            notes = ""
            if agree[op]:
                share = sum(agree[op]) / len(agree[op])
                check(share >= MIN_AGREEMENT, f"{op}: PostgreSQL returned {share:.0%} of SQLite's top 10")
                notes = f"agreement with SQLite's top 10: {share:.1%}"
            rows.append(
                latency_row(
                    BENCH,
                    f"{OP_LABELS[op]}, ms ({size:,} memories)",
                    pg_ms[op],
                    "SQLite store",
                    sqlite_ms[op],
                    target_ms=TARGET_MS[op],
                    notes=notes,
                )
            )

        pg_bytes = _pg_bytes(db)
        sqlite.close()
        sqlite_bytes = dir_bytes(directory)
        rows.append(
            Row(
                BENCH,
                f"bytes on disk per memory ({size:,} memories)",
                pg_bytes / size,
                "SQLite store",
                sqlite_bytes / size,
                "report only",
                True,
                notes="PostgreSQL: memories partitions + indexes + corpus_stats + term_stats, after VACUUM; "
                "SQLite: the data directory",
            )
        )
    finally:
        pg.close()
        sqlite.close()
        db.close()
    return rows
