"""What goes over the wire to Arc and back: columnar msgpack writes, JSON query rows, RFC3339 times.

Writes follow spec/arc-api.md §9: one measurement per request, ``{"m": ..., "columns": {...}}`` only (the row
and batch forms swallow failed items with a 204), ``time`` as integer microseconds, float columns always
floats (Arc truncates later floats in a column that started with an int), no ``bytes``, no nesting.

``importance`` is NaN when a memory has none: a column that is all nil in a batch would become a *string*
column in that Parquet file, and DuckDB's union_by_name would then turn importance into text everywhere.
Arc answers NaN as JSON ``null``, so it reads back as None.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import msgpack

from ...ids import id_time_ms
from ...records import MemoryRecord
from .queries import READ_COLUMNS, WRITE_COLUMNS
from .terms import search_terms

GZIP_MAGIC = b"\x1f\x8b"
MIN_TIME_US = 10**13
"""Arc guesses a time column's unit from its magnitude: below 1e13 it would read our microseconds as
milliseconds or seconds. 1e13 µs is 1970-04-26T17:46:40Z."""
MAX_TIME_US = 10**16
"""At 1e16 and above Arc reads nanoseconds (year 2286)."""

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD.encode())
_NAN = float("nan")

SpoolRow = tuple[Any, ...]
"""A memory as the spool keeps it, in `WRITE_COLUMNS` order without ``write_batch``."""


def encode_write(measurement: str, rows: Sequence[SpoolRow], batch: str) -> bytes:
    """The msgpack body for `rows`, one columnar map, every column present and typed (see module docstring)."""
    if not rows:
        raise ValueError("nothing to write")
    columns: dict[str, list[Any]] = {}
    transposed = list(zip(*rows, strict=True))
    for name, values in zip(WRITE_COLUMNS[:-1], transposed, strict=True):
        columns[name] = list(values)
    columns["importance"] = [_NAN if v is None else float(v) for v in columns["importance"]]
    # 0 for "never expires", so the column is always integers (an all-nil column would be a string column).
    columns["expires_us"] = [0 if v is None else int(v) for v in columns["expires_us"]]
    columns["write_batch"] = [batch] * len(rows)
    body: bytes = msgpack.packb(
        {"m": measurement, "columns": columns}, use_bin_type=True
    )  # msgpack is untyped
    return body


def maybe_gzip(body: bytes, min_bytes: int, level: int = 1) -> bytes:
    """Gzip bodies of at least `min_bytes` (Arc detects gzip by its magic bytes, not by a header)."""
    if len(body) < min_bytes:
        return body
    return gzip.compress(body, compresslevel=level, mtime=0)


def parse_time_us(value: str) -> int:
    """An RFC3339 time as Arc writes it (``2026-02-07T20:15:00.1234Z``: UTC, 0 to 9 fraction digits) in
    microseconds. Other offsets are accepted too; nanoseconds are truncated (Arc stores microseconds)."""
    if len(value) >= 20 and value[-1] in "Zz" and value[10] in "Tt " and value[4] == "-":
        days = date(int(value[0:4]), int(value[5:7]), int(value[8:10])).toordinal() - _EPOCH_ORDINAL
        seconds = days * 86400 + int(value[11:13]) * 3600 + int(value[14:16]) * 60 + int(value[17:19])
        micros = 0
        if len(value) > 21 and value[19] == ".":
            micros = int((value[20:-1] + "000000")[:6])
        return seconds * 1_000_000 + micros
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = head + "." + (tail[:digits] + "000000")[:6] + tail[digits:]
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def legacy_id(time_us: int, row: Sequence[Any]) -> str:
    """A stable id for a row written by the original Memtrace, which stored none: time plus a hash of the row,
    laid out like our ids. Such memories can be listed and searched; they cannot be fetched by this id."""
    digest = int.from_bytes(hashlib.sha256(repr(tuple(row)).encode()).digest()[:10], "big")
    value = ((time_us // 1000) << 80) | digest
    return "mem_" + base64.b32encode(value.to_bytes(16, "big"))[:26].translate(_TO_CROCKFORD).decode()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def records_from_query(columns: Sequence[str], data: Sequence[Sequence[Any]]) -> list[MemoryRecord]:
    """Memories from a query answer that selected `READ_COLUMNS` (extra columns, such as ``score``, ignored)."""
    if not data:
        return []
    index = {name: i for i, name in enumerate(columns)}
    at = [index[name] for name in READ_COLUMNS]
    out = []
    for row in data:
        time_us = parse_time_us(row[at[0]])
        memory_id = row[at[1]]
        legacy = not isinstance(memory_id, str) or not memory_id
        metadata_json = _text(row[at[8]])
        if legacy:
            memory_id = legacy_id(time_us, row)
            if metadata_json == "{}":  # the original wrote "{}" for "no metadata"
                metadata_json = None
        importance = row[at[11]]
        if isinstance(importance, (int, float)) and not isinstance(importance, bool):
            importance = None if math.isnan(importance) else float(importance)
        else:
            importance = None
        tags_csv = row[at[9]]
        expires_us = row[at[13]]
        out.append(
            MemoryRecord(
                id=memory_id,
                org_id=row[at[2]],
                time_us=time_us,
                agent_id=row[at[3]] or "",
                session_id=_text(row[at[4]]),
                memory_type=row[at[5]] or "episodic",
                event_type=row[at[6]] or "general",
                content=row[at[7]] or "",
                metadata_json=metadata_json,
                tags=tuple(tags_csv.split(",")) if isinstance(tags_csv, str) and tags_csv else (),
                dedup_key=_text(row[at[10]]),
                importance=importance,
                parent_id=_text(row[at[12]]),
                expires_us=expires_us if isinstance(expires_us, int) and expires_us > 0 else None,
            )
        )
    return out


def spool_row(org_id: str, r: MemoryRecord) -> SpoolRow:
    """`r` as the spool keeps it and the flusher sends it (`record_from_spool` reads it back), with its keyword
    columns (`terms.search_terms`)."""
    terms, term_count = search_terms(r.content)
    return (
        r.time_us,
        r.id,
        org_id,
        r.agent_id,
        r.session_id,
        r.memory_type,
        r.event_type,
        r.content,
        r.metadata_json,
        ",".join(r.tags) if r.tags else None,
        r.dedup_key,
        r.importance,
        r.parent_id,
        r.expires_us,
        terms,
        term_count,
    )


def record_from_spool(row: Sequence[Any]) -> MemoryRecord:
    """A memory from a spool row (`WRITE_COLUMNS` order, without ``write_batch``)."""
    tags_csv = row[9]
    return MemoryRecord(
        id=row[1],
        org_id=row[2],
        time_us=row[0],
        agent_id=row[3],
        session_id=row[4],
        memory_type=row[5],
        event_type=row[6],
        content=row[7],
        metadata_json=row[8],
        tags=tuple(tags_csv.split(",")) if tags_csv else (),
        dedup_key=row[10],
        importance=row[11],
        parent_id=row[12],
        expires_us=row[13],
    )


__all__ = [
    "MAX_TIME_US",
    "MIN_TIME_US",
    "encode_write",
    "id_time_ms",
    "maybe_gzip",
    "parse_time_us",
    "record_from_spool",
    "records_from_query",
    "spool_row",
]
