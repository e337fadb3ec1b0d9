"""Export and import on SQLite (issue #16: export >= 50,000 memories/s, import >= 20,000 memories/s), each next
to a raw peer doing the least the same job needs, in the same run:

- export, ours: `Memtrace.export_memories(path)` of the whole organisation (the file format, every field,
  pages read by time); peer: raw sqlite3 ``SELECT`` of the same rows in the same order, each row turned into a
  JSON object by ``json.dumps`` and written as a line.
- import, ours: `Memtrace.import_memories(path)` into a fresh data directory (every line checked, ids kept,
  existing ids looked up, keyword index kept up to date; the run's time includes the first search, which
  finishes the indexing the writes deferred); peer: raw sqlite3 reading the same file, ``json.loads`` per line
  and ``executemany`` in batches of 2,000 into a one-index table, one transaction each, same durability.

The import row also gives the rate at which the same memories went in through the engine's own `add_memories`
when the source store was loaded (same run): import does the same writes without re-deriving ids and keys.

Runs alternate between ours and the peer so machine drift hits both alike, each after `os.sync()` so neither
pays for writes the other (or an earlier benchmark) left to flush; the medians and ratio are reported.
A run on a slow or busy machine reports its figures; nothing here fails because a rate is low (only a wrong
result fails: counts and a round trip are checked).

    uv run python -m bench.transfer [--memories 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time
from pathlib import Path

from .common import Row, check, log, rate_row, temp_dir
from .core_ingest import ONE_INDEX_SCHEMA, _connect, find_one
from .dataset import Dataset, MemorySpec

QUICK_SIZE = 20_000
FULL_SIZE = 200_000
EXPORT_TARGET = 50_000.0
IMPORT_TARGET = 20_000.0
PEER_BATCH = 2_000
_PEER_COLUMNS = (
    "id, time_us, agent_id, session_id, memory_type, event_type, content, metadata_json, tags, dedup_key, "
    "importance, parent_id"
)


def _load(directory: Path, size: int) -> tuple[Dataset, float]:
    """The source store, loaded through `add_memories` (batches of 1,000); and that load's rate, the engine's
    own write path for the same memories, which the import row reports beside its raw peer."""
    from memtrace import Memtrace, SearchQuery

    dataset = Dataset(size)
    requests = [[m.to_request() for m in batch] for batch in dataset.batches(1_000)]
    with Memtrace.open(directory) as mt:
        t0 = time.perf_counter()
        for batch in requests:
            mt.add_memories(batch)
        mt.search_memories(
            SearchQuery(query="the")
        )  # the keyword indexing the writes deferred, as import's runs
        rate = size / (time.perf_counter() - t0)
    return dataset, rate


def _export_ours(data_dir: Path, out: Path) -> float:
    from memtrace import Memtrace

    with Memtrace.open(data_dir) as mt:
        t0 = time.perf_counter()
        summary = mt.export_memories(out)
        seconds = time.perf_counter() - t0
    return summary.memories / seconds


def _export_peer(data_dir: Path, out: Path) -> tuple[float, int]:
    conn = sqlite3.connect(data_dir / "memtrace.db")
    names = [c.strip() for c in _PEER_COLUMNS.split(",")]
    t0 = time.perf_counter()
    n = 0
    with open(out, "wb") as f:
        cursor = conn.execute(
            f"SELECT {_PEER_COLUMNS} FROM memories WHERE org_id = ? ORDER BY time_us, rowid", ("org_default",)
        )
        while rows := cursor.fetchmany(PEER_BATCH):
            f.write(b"".join(json.dumps(dict(zip(names, r, strict=True))).encode() + b"\n" for r in rows))
            n += len(rows)
    seconds = time.perf_counter() - t0
    conn.close()
    return n / seconds, n


def _import_ours(file: Path, data_dir: Path, probe: MemorySpec) -> float:
    from memtrace import Memtrace

    with Memtrace.open(data_dir) as mt:
        t0 = time.perf_counter()
        report = mt.import_memories(file)
        find_one(mt, probe)  # searchable: the run pays for the keyword indexing too
        seconds = time.perf_counter() - t0
    check(report.complete and report.skipped == 0, f"import: {report}")
    return report.memories / seconds


def _import_peer(file: Path, db: Path) -> float:
    conn = _connect(db)
    for statement in ONE_INDEX_SCHEMA:
        conn.execute(statement)
    names = [c.strip() for c in _PEER_COLUMNS.split(",")]
    insert = f"INSERT INTO memories (org_id, {_PEER_COLUMNS}) VALUES ({','.join('?' * (len(names) + 1))})"
    n = 0
    t0 = time.perf_counter()
    with open(file, "rb") as f:
        batch: list[tuple[object, ...]] = []
        for line in f:
            value = json.loads(line)
            memory = value.get("memory")
            if memory is None:
                continue
            tags = memory["tags"]
            memory["tags"] = "," + ",".join(tags) + "," if tags else None
            batch.append(("org_default", *(memory[k] for k in names)))
            if len(batch) == PEER_BATCH:
                n += _peer_commit(conn, insert, batch)
                batch = []
        n += _peer_commit(conn, insert, batch)
    seconds = time.perf_counter() - t0
    conn.close()
    return n / seconds


def _peer_commit(conn: sqlite3.Connection, insert: str, batch: list[tuple[object, ...]]) -> int:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(insert, batch)
    conn.execute("COMMIT")
    return len(batch)


def run(quick: bool = True, *, size: int | None = None, repeats: int = 3) -> list[Row]:
    size = size or (QUICK_SIZE if quick else FULL_SIZE)
    with temp_dir("transfer") as root:
        log(f"transfer: loading {size:,} memories")
        dataset, add_rate = _load(root / "source", size)
        probe = next(iter(dataset))
        ours_out, peer_out = root / "ours.jsonl", root / "peer.jsonl"
        exports: list[float] = []
        export_peers: list[float] = []
        imports: list[float] = []
        import_peers: list[float] = []
        for i in range(repeats):
            # Each timed side starts with the disk's queue empty: writes still being flushed (the other side's
            # file, or an earlier benchmark's hundreds of MB in `make bench`) otherwise land in its fsyncs
            # (import 17,400/s inside make bench against 20,000-23,000/s alone, the same code, quiet machine).
            os.sync()
            exports.append(_export_ours(root / "source", ours_out))
            os.sync()
            rate, n = _export_peer(root / "source", peer_out)
            export_peers.append(rate)
            check(n == size, f"peer exported {n}")
            os.sync()
            imports.append(_import_ours(ours_out, root / f"imported-{i}", probe))
            os.sync()
            import_peers.append(_import_peer(ours_out, root / f"peer-{i}.db"))
            log(
                f"  run {i + 1}: export {exports[-1]:,.0f}/s (peer {export_peers[-1]:,.0f}/s), "
                f"import {imports[-1]:,.0f}/s (peer {import_peers[-1]:,.0f}/s)"
            )
        from memtrace import ListOptions, Memtrace

        with Memtrace.open(root / "source") as a, Memtrace.open(root / "imported-0") as b:
            first = [m.model_dump() for m in a.list_memories(ListOptions(limit=200, order="asc")).memories]
            again = [m.model_dump() for m in b.list_memories(ListOptions(limit=200, order="asc")).memories]
        check(first == again, "the imported store lists differently from the source")
    export_median = sorted(exports)[len(exports) // 2]
    import_median = sorted(imports)[len(imports) // 2]
    rows = [
        rate_row(
            "transfer",
            f"export memories/s ({size:,} memories, SQLite, to a file)",
            exports,
            "raw sqlite3 SELECT + json.dumps per row",
            export_peers,
            target=f">= {EXPORT_TARGET:,.0f}/s",
            met=export_median >= EXPORT_TARGET,
            notes="ours writes every MemoryRecord field plus agents, sessions, header and trailer",
        ),
        rate_row(
            "transfer",
            f"import memories/s ({size:,} memories, SQLite, fresh store)",
            imports,
            "raw sqlite3 json.loads + executemany, one index",
            import_peers,
            target=f">= {IMPORT_TARGET:,.0f}/s",
            met=import_median >= IMPORT_TARGET,
            notes=(
                "ours checks every line, keeps ids, skips held ids, and includes keyword indexing; the same "
                f"memories through add_memories loaded at {add_rate:,.0f}/s in this run "
                f"(import/add_memories {import_median / add_rate:.2f}x)"
            ),
        ),
    ]
    rows[1].extra["vs_add_memories"] = import_median / add_rate
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memories", type=int, default=QUICK_SIZE)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for row in run(size=args.memories, repeats=args.repeats):
        ratio = row.extra.get("ratio")
        print(
            f"{row.metric}: ours {row.ours:,.0f} (p99 {row.ours_p99:,.0f}), {row.peer_name} {row.peer:,.0f}, "
            f"ratio {ratio:.2f}; target {row.target}: {'met' if row.met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
