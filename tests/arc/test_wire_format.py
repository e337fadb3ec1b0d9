"""What the Arc store puts on the wire, decoded byte by byte from what the stand-in received."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime
from typing import Any

import msgpack

from memtrace.engine import Engine
from memtrace.ids import MemoryIdGenerator
from memtrace.models import AddMemoryRequest
from memtrace.stores.arc import queries
from memtrace.stores.arc.wire import id_time_ms, parse_time_us
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore

from .helpers import drained, wait_until

STRING_COLUMNS = {
    "id",
    "org_id",
    "agent_id",
    "session_id",
    "memory_type",
    "event_type",
    "content",
    "metadata_json",
    "tags_csv",
    "dedup_key",
    "parent_id",
    "search_terms",
    "write_batch",
}


def _captured_payloads(standin) -> list[tuple[dict[str, str], bytes, dict[str, Any]]]:
    out = []
    for request in standin.captured():
        raw = bytes.fromhex(request["body"])
        body = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        out.append((request["headers"], raw, msgpack.unpackb(body, raw=False)))
    return out


def test_every_column_and_type_on_the_wire(standin, make_store, tmp_path) -> None:
    store = make_store(standin, database="wire", flush_interval=60.0, batch_size=3)
    engine = Engine(store, SQLiteMetadataStore(SQLiteDatabase(tmp_path / "meta")))
    standin.capture(True)
    written = engine.add_memories(
        "org_w",
        [
            AddMemoryRequest(
                agent_id="agent_1",
                content="Prefers dark mode",
                session_id="sess-1",
                memory_type="decision",
                event_type="decision",
                tags=["ui", "prefs"],
                importance=1,  # an int from the caller: must still go out as a float
                metadata={"reasoning": "asked twice", "n": [1, 2]},
                parent_id="mem_parent",
                time=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
            ),
            AddMemoryRequest(agent_id="agent_1", content="no extras at all"),
            AddMemoryRequest(agent_id="agent_2", content="half", importance=0.5, dedup_key="msg-7"),
        ],
    )
    wait_until(lambda: drained(store), what="the batch to reach the stand-in")
    payloads = _captured_payloads(standin)
    assert len(payloads) == 1  # one measurement, one columnar map, one request
    headers, _raw, payload = payloads[0]

    assert headers["x-arc-database"] == "wire"
    assert headers["authorization"] == f"Bearer {store.config.token}"
    assert headers["content-type"] == "application/msgpack"
    assert set(payload) == {"m", "columns"}  # no "tags", no row form, no batch wrapper
    assert payload["m"] == "events"
    columns = payload["columns"]
    assert set(columns) == set(queries.WRITE_COLUMNS)
    assert {len(v) for v in columns.values()} == {3}

    rows = [{name: columns[name][i] for name in columns} for i in range(3)]
    first, plain, half = (rows[columns["id"].index(m.id)] for m in written)

    # time: integer microseconds, and the first element is in Arc's microsecond band (1e13 <= t < 1e16).
    assert all(type(t) is int for t in columns["time"])
    assert 10**13 <= columns["time"][0] < 10**16
    assert first["time"] == 1_772_366_400_123_456

    # importance: always a msgpack float on the wire (1 -> 1.0; msgpack ints would decode as int); absent is
    # NaN, never nil (an all-nil column would become a string column in that Parquet file).
    assert all(type(v) is float for v in columns["importance"])
    assert first["importance"] == 1.0 and half["importance"] == 0.5 and math.isnan(plain["importance"])

    # term_count: ints; strings are str (msgpack str, never bin); absent optional strings are nil.
    assert all(type(v) is int for v in columns["term_count"])
    for name in STRING_COLUMNS:
        assert all(v is None or type(v) is str for v in columns[name]), name
    assert not any(isinstance(v, bytes) for values in columns.values() for v in values)

    assert first["org_id"] == "org_w" and first["agent_id"] == "agent_1" and first["session_id"] == "sess-1"
    assert (first["memory_type"], first["event_type"]) == ("decision", "decision")
    assert first["tags_csv"] == "ui,prefs"
    assert json.loads(first["metadata_json"]) == {"reasoning": "asked twice", "n": [1, 2]}
    assert first["parent_id"] == "mem_parent"
    assert first["search_terms"] == " prefer  dark  mode " and first["term_count"] == 3
    assert plain["session_id"] is None and plain["tags_csv"] is None and plain["metadata_json"] is None
    assert plain["parent_id"] is None and plain["event_type"] == "general"
    assert half["dedup_key"] == "msg-7" and len(plain["dedup_key"]) == 32
    assert len(set(columns["write_batch"])) == 1  # the spool batch, used to confirm arrival


def test_large_batches_are_gzipped(standin, make_store, tmp_path) -> None:
    store = make_store(standin, database="wire_gz", gzip_min_bytes=1024, flush_interval=60.0, batch_size=200)
    engine = Engine(store, SQLiteMetadataStore(SQLiteDatabase(tmp_path / "meta")))
    standin.capture(True)
    engine.add_memories(
        "org_w", [AddMemoryRequest(agent_id="a", content=f"memory number {i} " * 5) for i in range(200)]
    )
    wait_until(lambda: drained(store), what="the batch to reach the stand-in")
    ((_headers, raw, payload),) = _captured_payloads(standin)
    assert raw[:2] == b"\x1f\x8b"  # Arc detects compression by these magic bytes
    assert len(payload["columns"]["id"]) == 200


def test_memory_ids_carry_their_millisecond_time() -> None:
    """The store narrows id lookups to the id's millisecond (partition pruning on a real Arc); this pins the
    decoding to how memtrace.ids lays ids out."""
    generator = MemoryIdGenerator()
    for t in (10**13, 1_772_366_400_123_456, 3 * 10**15 + 999):
        assert id_time_ms(generator.new(t)) == t // 1000
    assert id_time_ms("mem_short") is None and id_time_ms("not an id at all, thirty chars!") is None


def test_rfc3339_times_as_arc_answers_them() -> None:
    base = 1_772_366_400_000_000  # 2026-03-01T12:00:00Z
    assert parse_time_us("2026-03-01T12:00:00Z") == base
    assert parse_time_us("2026-03-01T12:00:00.1Z") == base + 100_000
    assert parse_time_us("2026-03-01T12:00:00.000001Z") == base + 1
    assert parse_time_us("2026-03-01T12:00:00.123456789Z") == base + 123_456  # nanoseconds truncated
    assert parse_time_us("2026-03-01T14:00:00.5+02:00") == base + 500_000
