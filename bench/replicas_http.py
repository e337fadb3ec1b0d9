"""Benchmark: single-memory writes over HTTP at 32 concurrent clients against servers on PostgreSQL, one replica
and two, beside the same load against a server on the embedded SQLite store, all in the same run.

Each configuration gets the same job (`bench.loadgen` "single" mode, fresh memories, keep-alive clients) for the
same time, from one load-generator process. Two replicas are driven as a load balancer would spread the clients:
half of them on each replica, from that same one process, so both sides of the comparison spend the same client
resources (two processes of 16 clients had cost ~0.1 core more, on a machine with two). Every acknowledged write
is counted back from the database.

Targets: >= 1,000 req/s and p99 <= 50 ms on PostgreSQL, and two replicas at least as fast as one. On a 2-core
machine the two replicas, PostgreSQL and the load generator share the same two cores, so "two >= one" measures
whether a second replica costs anything, not how far it scales.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from memtrace_server.testing import start_server as launch_server

from .common import Row, check, log, median, percentile, temp_dir
from .loadgen import run_job
from .server import RunningServer, api_key_for, stop_server

BENCH = "2b. HTTP ingest on PostgreSQL"
URL_VARIABLE = "MEMTRACE_BENCH_POSTGRES_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONCURRENCY = 32
TARGET_RPS = 1_000.0
TARGET_P99_MS = 50.0


def _start(root: Path, name: str, store_url: str | None) -> RunningServer:
    return launch_server(
        root / name,
        api_key=api_key_for("memtrace-bench-admin"),
        env={"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "0", "MEMTRACE_UI_SESSION_SECRET": "bench-" + "x" * 32},
        log_dir=root,
        ready_timeout=60,
        store_url=store_url,
    )


def _drive(servers: list[RunningServer], seconds: float, seed: int, label: str) -> dict[str, Any]:
    """32 clients of one load-generator process, spread evenly over `servers`; the results."""
    result = run_job(
        {
            "mode": "single",
            "urls": [s.base_url for s in servers],
            "api_key": servers[0].api_key,
            "concurrency": CONCURRENCY,
            "seconds": seconds,
            "seed": seed,
            "agent_prefix": f"{label}_",
        }
    )
    statuses = result["statuses"]
    check(set(statuses) == {"201"}, f"{label}: non-201 answers {statuses} {result['errors']}")
    acknowledged = statuses["201"]
    latencies = [s * 1000 for s in result["latencies_s"]]
    rps = acknowledged / result["elapsed_s"]
    log(f"{label}: {rps:,.0f} req/s, p50 {median(latencies):.1f} ms, p99 {percentile(latencies, 99):.1f} ms")
    return {"rps": rps, "lat": latencies, "acknowledged": acknowledged}


def _count_pg(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM memories").fetchone()
    return int(row[0]) if row else 0


def run(quick: bool) -> list[Row]:
    import psycopg

    seconds = 8.0 if quick else 20.0
    server_url = os.environ.get(URL_VARIABLE) or DEFAULT_URL
    try:
        admin = psycopg.connect(server_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        return [
            Row(BENCH, "PostgreSQL reachable", 0.0, "-", None, "a server to measure", False,
                notes=f"no PostgreSQL at {server_url} ({str(exc).strip()[:120]}); set {URL_VARIABLE}")
        ]  # fmt: skip
    from urllib.parse import urlsplit, urlunsplit

    name = "memtrace_bench_replicas_" + secrets.token_hex(4)
    admin.execute(f'CREATE DATABASE "{name}"')  # generated name
    pg_url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    try:
        with temp_dir("replicas-http") as work:
            measured: dict[str, dict[str, Any]] = {}
            sqlite = _start(work, "sqlite-data", None)
            try:
                measured["sqlite"] = _drive([sqlite], seconds, 10_000, "sqlite")
            finally:
                stop_server(sqlite)
            one = _start(work, "pg-one", pg_url)
            try:
                measured["pg1"] = _drive([one], seconds, 20_000, "pg1")
                two = _start(work, "pg-two", pg_url)
                try:
                    measured["pg2"] = _drive([one, two], seconds, 30_000, "pg2")
                finally:
                    stop_server(two)
            finally:
                stop_server(one)
            stored = _count_pg(pg_url)
            expected = measured["pg1"]["acknowledged"] + measured["pg2"]["acknowledged"]
            check(stored == expected, f"PostgreSQL holds {stored} memories, {expected} were acknowledged")
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    rows = []
    for key, label in (("pg1", "one replica"), ("pg2", "two replicas")):
        m = measured[key]
        p99 = percentile(m["lat"], 99)
        rows.append(
            Row(
                BENCH,
                f"single POSTs/s at {CONCURRENCY} clients, PostgreSQL, {label}",
                m["rps"],
                "same load, server on SQLite",
                measured["sqlite"]["rps"],
                f">= {TARGET_RPS:,.0f} req/s, p99 <= {TARGET_P99_MS:g} ms"
                + (", >= one replica" if key == "pg2" else ""),
                m["rps"] >= TARGET_RPS
                and p99 <= TARGET_P99_MS
                and (key == "pg1" or m["rps"] >= measured["pg1"]["rps"]),
                ours_p99=p99,
                peer_p99=percentile(measured["sqlite"]["lat"], 99),
                notes=(
                    f"p50 {median(m['lat']):.1f} ms; {m['acknowledged']:,} writes in {seconds:g} s, all counted "
                    f"back; ratio to SQLite {m['rps'] / measured['sqlite']['rps']:.2f}"
                    + (f"; two/one = {m['rps'] / measured['pg1']['rps']:.2f}" if key == "pg2" else "")
                ),
                extra={"ratio": m["rps"] / measured["sqlite"]["rps"]},
                samples=len(m["lat"]),
            )
        )
    return rows
