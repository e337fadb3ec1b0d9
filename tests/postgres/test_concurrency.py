"""Several processes on one PostgreSQL database: dedup lets exactly one of N identical writes through,
migrations are applied once, and one process at a time holds a leader lock."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memtrace.records import MemoryFilter
from memtrace.stores.postgres import PostgresDatabase, PostgresEventStore, SchemaTooNewError, migrate
from memtrace.stores.postgres.schema import SCHEMA_VERSION

from .stores import TEST_POOL

WRITER = r"""
import sys
from memtrace import AddMemoryRequest, ConflictError
from memtrace.engine import Engine, EngineConfig
from memtrace.stores.postgres import PoolOptions, PostgresEventStore, PostgresMetadataStore, open_postgres_database

url, name = sys.argv[1], sys.argv[2]
db = open_postgres_database(url, PoolOptions(min_size=1, max_size=2))
engine = Engine(PostgresEventStore(db), PostgresMetadataStore(db), EngineConfig())
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()  # start together
stored = 0
for round in range(5):
    # the same batch of 200 from every process (identical content: one dedup key each), in a different order
    batch = [AddMemoryRequest(agent_id="shared", content=f"contended {round} {i}") for i in range(200)]
    if name.endswith("1"):
        batch.reverse()
    stored += len(engine.add_memories("org_race", batch))
    for i in range(10):  # and single writes racing on one key
        try:
            engine.add_memory("org_race", AddMemoryRequest(agent_id="shared", content=f"single {round} {i}"))
            stored += 1
        except ConflictError:
            pass
db.close()
print(stored)
"""


def test_exactly_one_of_n_concurrent_identical_writes_is_stored(pg_url: str) -> None:
    migrate(pg_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, f"writer_{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", (
            p.stderr.read() if p.stderr else ""
        )
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    stored = 0
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
        stored += int(out.strip().splitlines()[-1])
    db = PostgresDatabase(pg_url, TEST_POOL)
    try:
        store = PostgresEventStore(db)
        rows = store.query("org_race", MemoryFilter(), order="asc", limit=10_000, offset=0)
        contents = [m.content for m in rows]
        expected = [f"contended {r} {i}" for r in range(5) for i in range(200)]
        expected += [f"single {r} {i}" for r in range(5) for i in range(10)]
        assert sorted(contents) == sorted(expected)  # every memory once: no duplicate, none lost
        assert stored == len(expected)  # and the writers were told the truth about which write was stored
    finally:
        db.close()


MIGRATOR = r"""
import sys
from memtrace.stores.postgres import migrate
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
print(migrate(sys.argv[1]))
"""


def test_three_processes_migrating_an_empty_database_apply_each_migration_once(pg_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATOR, pg_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        results.append(out.strip())
    assert sorted(results) == sorted([str(list(range(1, SCHEMA_VERSION + 1))), "[]", "[]"])
    assert migrate(pg_url) == []  # idempotent


def test_a_schema_newer_than_the_code_is_refused(pg_url: str) -> None:
    migrate(pg_url)
    db = PostgresDatabase(pg_url, TEST_POOL)
    with db.connection() as conn:
        conn.execute("UPDATE memtrace_schema SET version = %s", (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(SchemaTooNewError, match="newer than this memtrace"):
        migrate(pg_url)


def test_one_leader_at_a_time(pg_db: PostgresDatabase) -> None:
    with (
        pg_db.leader_lock("sweeper") as first,
        pg_db.leader_lock("sweeper") as second,
        pg_db.leader_lock("other job") as other,
    ):
        assert (first, second, other) == (True, False, True)
    with pg_db.leader_lock("sweeper") as again:
        assert again  # released with the block
