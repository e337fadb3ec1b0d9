"""A STAND-IN FOR ARC, FOR TESTS ONLY. This is not Arc and not a product.

Arc (Basekick Labs) cannot be built here (Go 1.26 and ~150 Go modules are out of reach), so the Arc store's
tests run against this small HTTP server, written from spec/arc-api.md and Arc's source, which reproduces the
behaviour a client depends on, traps included:

- ``POST /api/v1/write/msgpack``: gzip/zstd detected by magic bytes (never by header), the columnar, row,
  ``batch`` and top-level-array shapes, the column type rules (type from the first non-nil value, later floats
  truncated in an int column, ``bytes``/nested values a 500, an all-nil column a string column), time unit
  guessed from the FIRST element's magnitude and stored as microseconds, 204 with an empty body;
- a buffer: rows become queryable only after ``max_buffer_age_ms`` (checked by a ticker, so up to about 2x),
  ``max_buffer_size`` rows, or the admin-only ``POST /api/v1/write/line-protocol/flush``; killing the process
  loses the buffer (Arc's WAL is off by default), SIGTERM flushes it;
- ``POST /api/v1/query``: JSON only, Arc's literal masking (including its backslash quirk) before validation
  and before rewriting ``FROM <measurement>``; the 10,000-character limit, one statement, the keyword and
  file-function deny lists, ``db.table`` refused when ``x-arc-database`` is set, unknown measurements answered
  with ``success`` and ``columns: []``; times answered as RFC3339Nano UTC strings, NaN/Inf as null;
- ``POST /api/v1/delete``: admin only, off unless enabled, Arc's validation of the raw predicate, and its
  NULL hazard (in a file with a real match, rows whose predicate is NULL are deleted too); buffered rows are
  not deleted;
- tokens: ``Authorization: Bearer|Token|<raw>``, ``x-api-key``, ``?p=``; read/write/admin permissions.

How SQL runs: the client's DuckDB SQL is executed by SQLite after Arc's own rewrite of table references, plus
SQLite functions that match DuckDB's where the names differ or SQLite's differ (``lower`` is Unicode-aware,
``isnan``, ``chr``, ``ln``). Times are stored as fixed-width ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text, so
comparisons with the quoted ISO literals memtrace sends, and ORDER BY time, behave as DuckDB's TIMESTAMPTZ
does. Not emulated: DuckDB's float division of integers, NULLS LAST ordering, union_by_name type promotion,
partition pruning. Tests that need the real thing run against a real Arc (MEMTRACE_TEST_ARC_URL).

Test-only control endpoints live under ``/_standin/`` (admin token): fault injection (fail the next N
requests with a status, delay answers past the client's timeout, drop the buffer), request capture for
wire-format tests, statistics, and runtime settings.

Run: ``python standin_server.py --port 0 --data DIR --admin-token TOKEN`` (prints ``LISTENING <port>``).
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import math
import os
import re
import secrets
import signal
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgpack

try:  # zstd bodies are optional for the stand-in; without the module they are a 400 like a corrupt stream.
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None  # type: ignore[assignment]  # optional module: None means "not installed"

MAX_SQL_LENGTH = 10_000
DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
QUERY_DB_HEADER = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]{0,127}$")
MEASUREMENT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,127}$")
STORED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- Arc's SQL pre-pass


def _dollar_tag(sql: str, i: int) -> str | None:
    m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$").match(sql, i)
    return m.group(1) or "" if m else None


def _scan_quoted(sql: str, i: int, quote: str) -> int:
    """From the opening quote at `i`, the index just past the literal, as Arc's mask.go scans it: a doubled
    quote continues the literal, and so does a quote right after a backslash (DuckDB disagrees)."""
    i += 1
    n = len(sql)
    while True:
        i = sql.find(quote, i)
        if i < 0:
            return n
        if i + 1 < n and sql[i + 1] == quote:
            i += 2
            continue
        if sql[i - 1] == "\\":
            i += 1
            continue
        return i + 1


_MASK_START = re.compile(r"['\"$]|(?<![A-Za-z0-9_])[eE]'")


def mask_literals(sql: str) -> tuple[str, list[tuple[str, str, bool]]]:
    """Arc's MaskStringLiterals: literals -> ``__STR_n__``, quoted identifiers -> ``__IDENT_n__``."""
    if not any(c in sql for c in "'\"$"):
        return sql, []
    out: list[str] = []
    masks: list[tuple[str, str, bool]] = []
    idents: dict[str, str] = {}
    i = 0
    while True:
        m = _MASK_START.search(sql, i)
        if m is None:
            out.append(sql[i:])
            break
        start = m.start()
        out.append(sql[i:start])
        ch = sql[start]
        if ch == "$":
            tag = _dollar_tag(sql, start)
            if tag is None:
                out.append("$")
                i = start + 1
                continue
            closing = "$" + tag + "$"
            end = sql.find(closing, start + len(closing))
            stop = end + len(closing) if end >= 0 else len(sql)
            placeholder = f"__STR_{len(masks)}__"
            masks.append((placeholder, sql[start:stop], False))
        elif ch in "eE":
            stop = _scan_quoted(sql, start + 1, "'")
            placeholder = f"__STR_{len(masks)}__"
            masks.append((placeholder, sql[start:stop], False))
        else:
            stop = _scan_quoted(sql, start, ch)
            original = sql[start:stop]
            if ch == '"':
                placeholder = idents.get(original) or f"__IDENT_{len(masks)}__"
                if original not in idents:
                    idents[original] = placeholder
                    masks.append((placeholder, original, True))
            else:
                placeholder = f"__STR_{len(masks)}__"
                masks.append((placeholder, original, False))
        out.append(placeholder)
        i = stop
    return "".join(out), masks


_PLACEHOLDER = re.compile(r"__(?:STR|IDENT)_\d+__")


def unmask_literals(sql: str, masks: list[tuple[str, str, bool]]) -> str:
    originals = {placeholder: original for placeholder, original, _ in masks}
    return _PLACEHOLDER.sub(lambda m: originals.get(m.group(0), m.group(0)), sql)


def strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"--[^\n]*", " ", sql)


_DANGEROUS = [
    re.compile(p, re.I)
    for p in (
        r"\bDROP\s+TABLE\b",
        r"\bDELETE\s+FROM\b",
        r"\bINSERT\s+INTO\b",
        r"\bUPDATE\s+\w+\s+SET\b",
        r"\bCREATE\s+TABLE\b",
        r"\bALTER\s+TABLE\b",
        r"\bTRUNCATE\s+TABLE\b",
        r"\bATTACH\b",
        r"\bDETACH\b",
        r"\bCOPY\b",
        r"\b(EXPORT|IMPORT)\s+DATABASE\b",
        r"\bPRAGMA\b",
        r"\bLOAD\b",
        r"\bINSTALL\b",
        r"\bCALL\b",
        r"\bSET\b",
        r"\bRESET\b",
        r"\b(CREATE|DROP)\b[^;]*\bSECRET\b",
    )
]
_ANY_DANGEROUS = re.compile("|".join(f"(?:{p.pattern})" for p in _DANGEROUS), re.I)
_FILE_FUNCTION = re.compile(
    r"\b(read_parquet|parquet_scan|read_csv\w*|read_json\w*|read_text|read_blob|glob|read_ndjson\w*)\s*\(",
    re.I,
)
_LITERAL_IN_TABLE_POSITION = re.compile(r"\b(FROM|JOIN)\s+__STR_\d+__", re.I)
_CROSS_DB = re.compile(r"\b(FROM|JOIN)\s+([a-zA-Z0-9_]+)\.([a-zA-Z0-9_]+)\b", re.I)
_TABLE_REF = re.compile(
    r"\b(FROM|JOIN)(\s+)([a-zA-Z_][a-zA-Z0-9_]*|__IDENT_\d+__)(?:\.([a-zA-Z_][a-zA-Z0-9_]*|__IDENT_\d+__))?\b",
    re.I,
)
_CTE_NAME = re.compile(r"(?:\bWITH\s+(?:RECURSIVE\s+)?|,\s*)([A-Za-z_][A-Za-z0-9_]*)\s+AS\s*\(", re.I)


class ArcHTTPError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


def query_error(status: int, message: str) -> ArcHTTPError:
    return ArcHTTPError(
        status,
        {
            "success": False,
            "columns": None,
            "data": None,
            "row_count": 0,
            "execution_time_ms": 0,
            "timestamp": now_rfc3339(),
            "error": message,
        },
    )


def validate_sql(masked: str) -> None:
    """Arc's ValidateSQLRequest, on SQL whose literals are masked and comments stripped."""
    body = masked.strip().rstrip(";").strip()
    if ";" in body:
        raise query_error(400, "Multiple SQL statements are not allowed")
    if _ANY_DANGEROUS.search(body):
        raise query_error(400, "Dangerous SQL operation not allowed")
    m = _FILE_FUNCTION.search(body)
    if m:
        raise query_error(400, f"File I/O function not allowed in user SQL: {m.group(1).lower()}()")
    if _LITERAL_IN_TABLE_POSITION.search(body):
        raise query_error(400, "String literal in table position is not allowed")


# ----------------------------------------------------------------------------- time helpers


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_SECONDS: dict[int, str] = {}


def stored_time(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    head = _SECONDS.get(seconds)
    if head is None:
        if len(_SECONDS) > 100_000:
            _SECONDS.clear()
        head = _SECONDS[seconds] = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{micros:06d}Z"


def rfc3339_nano(stored: str) -> str:
    """Go's time.RFC3339Nano: fraction digits trimmed, none at all for whole seconds."""
    head, frac = stored[:19], stored[20:26].rstrip("0")
    return f"{head}.{frac}Z" if frac else f"{head}Z"


def normalize_time_column(values: list[Any]) -> list[int]:
    """Arc's normalizeTimestampColumns: the unit comes from element 0 alone, and applies to every row."""

    def as_int(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ArcHTTPError(
                400,
                {
                    "error": "Invalid MessagePack payload: failed to normalize timestamps: invalid timestamp "
                    f"type {type(v).__name__}"
                },
            )
        return int(v)

    ints = [as_int(v) for v in values]
    first = ints[0]
    if first < 1e10:
        return [v * 1_000_000 for v in ints]
    if first < 1e13:
        return [v * 1000 for v in ints]
    if first < 1e16:
        return ints
    return [v // 1000 for v in ints]


# ----------------------------------------------------------------------------- the write path


def column_type(name: str, values: list[Any]) -> str:
    """The Arrow type Arc gives a column: from its first non-nil value; an all-nil column is a string column."""
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int64"
        if isinstance(v, float):
            return "float64"
        if isinstance(v, str):
            return "utf8"
        raise conversion_error(name, v)
    return "utf8"


def conversion_error(name: str, value: Any) -> ArcHTTPError:
    go_names: dict[type, str] = {bytes: "[]uint8", list: "[]interface {}", dict: "map[string]interface {}"}
    go_type = go_names.get(type(value), type(value).__name__)
    return ArcHTTPError(
        500,
        {
            "error": "Failed to write records: failed to convert columns: unsupported column type for "
            f"'{name}': {go_type}"
        },
    )


_ALREADY_TYPED = {
    "utf8": {str, type(None)},
    "float64": {float, type(None)},
    "int64": {int, type(None)},
    "bool": {bool, type(None)},
}


def convert_column(name: str, kind: str, values: list[Any]) -> list[Any]:
    present = set(map(type, values))
    if present <= _ALREADY_TYPED[kind] and (
        kind != "int64" or max(v for v in values if v is not None) < 2**63
    ):
        return values if kind != "bool" else [None if v is None else int(v) for v in values]
    out: list[Any] = []
    for v in values:
        if v is None:
            out.append(None)
        elif kind == "int64":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise conversion_error(name, v)
            if isinstance(v, int) and v > 2**63 - 1:
                raise conversion_error(name, v)
            out.append(int(v))  # later floats are truncated, silently, as Arc does
        elif kind == "float64":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise conversion_error(name, v)
            out.append(float(v))
        elif kind == "utf8":
            if not isinstance(v, str):
                raise conversion_error(name, v)
            out.append(v)
        elif kind == "bool":
            if not isinstance(v, bool):
                raise conversion_error(name, v)
            out.append(1 if v else 0)
    return out


class Chunk:
    """One accepted write for one measurement: typed columns, time in microseconds."""

    def __init__(self, columns: dict[str, list[Any]], types: dict[str, str], rows: int) -> None:
        self.columns = columns
        self.types = types
        self.rows = rows

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.types.items()))


def bad_payload(message: str) -> ArcHTTPError:
    return ArcHTTPError(400, {"error": f"Invalid MessagePack payload: {message}"})


def measurement_name(m: Any) -> str:
    if isinstance(m, int) and not isinstance(m, bool):
        m = f"measurement_{m}"
    if not isinstance(m, str) or not m:
        raise bad_payload("missing measurement name 'm'")
    if not MEASUREMENT_NAME.match(m):
        raise ArcHTTPError(
            400,
            {
                "error": f'invalid measurement name "{m}": must start with a letter and contain only letters, '
                "numbers, underscores, or hyphens"
            },
        )
    return m


def decode_columnar(item: dict[str, Any]) -> tuple[str, Chunk]:
    m = measurement_name(item.get("m"))
    raw = item.get("columns")
    if not isinstance(raw, dict) or not raw:
        raise bad_payload("columns must be a non-empty map")
    lengths = {len(v) if isinstance(v, list) else -1 for v in raw.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise bad_payload("array length mismatch in columns")
    n = lengths.pop()
    if n == 0:
        raise bad_payload("empty columns")
    columns: dict[str, list[Any]] = {}
    types: dict[str, str] = {}
    if "time" in raw:
        columns["time"] = normalize_time_column(raw["time"])
    else:
        now = int(time.time() * 1_000_000)
        columns["time"] = [now] * n
    types["time"] = "timestamp"
    for name, values in raw.items():
        if name == "time":
            continue
        if not isinstance(name, str):
            raise bad_payload("column names must be strings")
        kind = column_type(name, values)
        columns[name] = convert_column(name, kind, values)
        types[name] = kind
    return m, Chunk(columns, types, n)


def decode_row(item: dict[str, Any]) -> tuple[str, Chunk]:
    m = measurement_name(item.get("m"))
    fields = item.get("fields")
    if fields is None and isinstance(item.get("f"), list):
        fields = {f"field_{i}": v for i, v in enumerate(item["f"])}
    if not isinstance(fields, dict):
        raise bad_payload("missing fields")
    tags = {k: v if isinstance(v, str) else str(v) for k, v in (item.get("tags") or {}).items()}
    host = item.get("h")
    tags["host"] = host if isinstance(host, str) else "unknown"  # Arc clobbers "host"
    columns: dict[str, list[Any]] = {
        "time": normalize_time_column([item["t"]]) if "t" in item else [int(time.time() * 1_000_000)]
    }
    types = {"time": "timestamp"}
    for name, value in tags.items():
        columns[name], types[name] = [value], "utf8"
    for name, value in fields.items():
        key = f"{name}_value" if name in tags else name
        kind = column_type(key, [value])
        columns[key], types[key] = convert_column(key, kind, [value]), kind
    return m, Chunk(columns, types, 1)


def decode_payload(body: bytes, max_bytes: int) -> list[tuple[str, Chunk]]:
    if not body:
        raise ArcHTTPError(400, {"error": "Empty payload"})
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise ArcHTTPError(400, {"error": f"Invalid gzip compression: {exc}"}) from None
    elif body[:4] == b"\x28\xb5\x2f\xfd":
        if zstandard is None:
            raise ArcHTTPError(400, {"error": "Invalid zstd compression: not supported by the stand-in"})
        try:
            body = zstandard.ZstdDecompressor().decompress(body, max_output_size=max_bytes)
        except zstandard.ZstdError as exc:
            raise ArcHTTPError(400, {"error": f"Invalid zstd compression: {exc}"}) from None
    if len(body) > max_bytes:
        raise ArcHTTPError(
            413, {"error": "Payload too large (max 1GB). Consider batching into smaller requests."}
        )
    try:
        payload = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as exc:
        raise bad_payload(str(exc)) from None

    def one(item: Any) -> tuple[str, Chunk]:
        if not isinstance(item, dict):
            raise bad_payload("expected a map")
        if "columns" in item:
            return decode_columnar(item)
        return decode_row(item)

    if isinstance(payload, dict) and "batch" in payload:
        items = payload["batch"] if isinstance(payload["batch"], list) else []
        return _lenient(items, one)  # failed items are logged and skipped; the request still gets 204
    if isinstance(payload, list):
        return _lenient(payload, one)
    return [one(payload)]


def _lenient(items: list[Any], one: Any) -> list[tuple[str, Chunk]]:
    out = []
    for item in items:
        try:
            out.append(one(item))
        except ArcHTTPError as exc:
            print(f"stand-in: skipped a batch item: {exc}", file=sys.stderr)
    return out


# ----------------------------------------------------------------------------- storage


def _sqlite_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _isnan(value: Any) -> Any:
    if value is None:
        return None
    return 1 if isinstance(value, float) and math.isnan(value) else 0


def _chr(code: Any) -> Any:
    return None if code is None else chr(int(code))


def _ln(value: Any) -> Any:
    return None if value is None or value <= 0 else math.log(value)


class Storage:
    """Tables of flushed rows (Arc's Parquet files), one per database and measurement, plus the buffer."""

    def __init__(self, path: str, *, max_buffer_age_ms: int, max_buffer_size: int) -> None:
        # Three locks, so that queries never wait for a flush (Arc writes Parquet files in the background):
        # `lock` guards the in-memory buffers, `write_lock` the writing connection, `read_lock` the reading one.
        self.lock = threading.RLock()
        self.write_lock = threading.RLock()
        self.read_lock = threading.Lock()
        self.db = self._connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS _files (tbl TEXT NOT NULL, file INTEGER NOT NULL, lo INTEGER NOT NULL, "
            "hi INTEGER NOT NULL, PRIMARY KEY (tbl, file))"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS _tokens (token TEXT PRIMARY KEY, name TEXT, permissions TEXT)"
        )
        self.rdb = self._connect(path)
        self.max_buffer_age_ms = max_buffer_age_ms
        self.max_buffer_size = max_buffer_size
        self.buffers: dict[tuple[str, str], list[Chunk]] = {}
        self.buffer_started: dict[tuple[str, str], float] = {}
        self.rows_written = 0

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.create_function("lower", 1, _sqlite_lower, deterministic=True)
        db.create_function("isnan", 1, _isnan, deterministic=True)
        db.create_function("chr", 1, _chr, deterministic=True)
        db.create_function("ln", 1, _ln, deterministic=True)
        return db

    @staticmethod
    def table(db: str, m: str) -> str:
        return f"{db}/{m}"

    def exists(self, db: str, m: str) -> bool:
        with self.read_lock:
            return (
                self.rdb.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self.table(db, m),)
                ).fetchone()
                is not None
            )

    def read(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self.read_lock:
            cur = self.rdb.execute(sql)
            rows = cur.fetchall()
            return [d[0] for d in cur.description or []], rows

    # buffer ---------------------------------------------------------------

    def buffer(self, db: str, m: str, chunk: Chunk) -> None:
        key = (db, m)
        with self.lock:
            held = self.buffers.get(key)
            changed = bool(held) and held[0].signature != chunk.signature  # type: ignore[index]
        if changed:
            self.flush([key])  # a new column signature triggers a flush, as in Arc
        with self.lock:
            self.buffers.setdefault(key, []).append(chunk)
            self.buffer_started.setdefault(key, time.monotonic())
            full = sum(c.rows for c in self.buffers[key]) >= self.max_buffer_size
        if full:
            self.flush([key])

    def buffered_rows(self) -> int:
        with self.lock:
            return sum(c.rows for chunks in self.buffers.values() for c in chunks)

    def flush_due(self) -> None:
        cutoff = time.monotonic() - self.max_buffer_age_ms / 1000
        with self.lock:
            due = [k for k, started in self.buffer_started.items() if started <= cutoff]
        if due:
            self.flush(due)

    def flush_all(self) -> None:
        self.flush(None)

    def flush(self, keys: list[tuple[str, str]] | None) -> None:
        """Write buffers out. Taking them under the write lock means that when this returns, everything
        buffered before the call is queryable (also what another flush was writing at that moment)."""
        with self.write_lock:
            with self.lock:
                taken = {k: self.buffers.pop(k) for k in (keys or list(self.buffers)) if k in self.buffers}
                for k in taken:
                    self.buffer_started.pop(k, None)
            for key, chunks in taken.items():
                self._write_file(key, chunks)

    def drop_buffers(self) -> int:
        """What a crash does to Arc's buffer when its WAL is off."""
        with self.lock:
            lost = sum(c.rows for chunks in self.buffers.values() for c in chunks)
            self.buffers.clear()
            self.buffer_started.clear()
            return lost

    def _write_file(self, key: tuple[str, str], chunks: list[Chunk]) -> None:
        """Write one measurement's buffer as one "file" (a rowid range, for the delete NULL hazard)."""
        table = self.table(*key)
        self.db.execute("BEGIN")
        try:
            self._ensure_table(table, chunks)
            # Explicit rowids above every rowid ever used, so a file's range never takes in later rows.
            used = self.db.execute(
                f"SELECT max(COALESCE((SELECT max(hi) FROM _files WHERE tbl = ?), 0), "
                f'COALESCE((SELECT max(rowid) FROM "{table}"), 0))',
                (table,),
            ).fetchone()[0]
            lo = next_rowid = used + 1
            for chunk in chunks:
                names = list(chunk.columns)
                cols = [chunk.columns[n] for n in names]
                cols[names.index("time")] = [stored_time(t) for t in chunk.columns["time"]]
                rowids = range(next_rowid, next_rowid + chunk.rows)
                quoted = ", ".join(f'"{n}"' for n in names)
                self.db.executemany(
                    f'INSERT INTO "{table}" (rowid, {quoted}) VALUES (?, {", ".join("?" * len(names))})',
                    zip(rowids, *cols, strict=True),
                )
                next_rowid += chunk.rows
                self.rows_written += chunk.rows
            file_no = self.db.execute(
                "SELECT COALESCE(max(file), 0) + 1 FROM _files WHERE tbl = ?", (table,)
            ).fetchone()[0]
            self.db.execute("INSERT INTO _files VALUES (?, ?, ?, ?)", (table, file_no, lo, next_rowid - 1))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _ensure_table(self, table: str, chunks: list[Chunk]) -> None:
        sql_type = {
            "timestamp": "TEXT",
            "int64": "INTEGER",
            "float64": "REAL",
            "utf8": "TEXT",
            "bool": "INTEGER",
        }
        existing = {c[1] for c in self.db.execute(f'PRAGMA table_info("{table}")').fetchall()}
        wanted: dict[str, str] = {}
        for chunk in chunks:
            for name, kind in chunk.types.items():
                wanted.setdefault(name, sql_type[kind])
        if not existing:
            # Arc's Parquet files order columns time first, then alphabetically.
            order = ["time", *sorted(n for n in wanted if n != "time")]
            self.db.execute(
                f'CREATE TABLE "{table}" ({", ".join(f"{chr(34)}{n}{chr(34)} {wanted[n]}" for n in order)})'
            )
            existing = set(wanted)
        else:
            for name, t in wanted.items():
                if name not in existing:
                    self.db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {t}')
                    existing.add(name)
        for name in ("time", "write_batch", "dedup_key"):
            if name in existing:  # stand-in speed only; Arc has no indexes (it prunes by time partition)
                self.db.execute(f'CREATE INDEX IF NOT EXISTS "{table}:{name}" ON "{table}" ("{name}")')


# ----------------------------------------------------------------------------- the server


class StandIn:
    def __init__(self, args: argparse.Namespace) -> None:
        self.storage = Storage(
            args.data, max_buffer_age_ms=args.max_buffer_age_ms, max_buffer_size=args.max_buffer_size
        )
        self.delete_enabled = args.delete_enabled
        self.max_payload = args.max_payload_bytes
        self.query_timeout_s = 300.0
        self.faults: list[dict[str, Any]] = []
        self.fault_lock = threading.Lock()
        self.capture = False
        self.captured: list[dict[str, Any]] = []
        self.requests: dict[str, int] = {}
        self.started = time.time()
        with self.storage.write_lock:
            self.storage.db.execute(
                "INSERT OR REPLACE INTO _tokens VALUES (?, 'admin', 'read,write,delete,admin')",
                (args.admin_token,),
            )
            self.tokens = {
                token: set(perms.split(","))
                for token, perms in self.storage.db.execute("SELECT token, permissions FROM _tokens")
            }

    # tokens -----------------------------------------------------------------

    def permissions(self, token: str | None) -> set[str] | None:
        return self.tokens.get(token) if token else None

    def create_token(self, name: str, permissions: list[str]) -> str:
        token = secrets.token_urlsafe(32)
        with self.storage.write_lock:
            self.storage.db.execute(
                "INSERT INTO _tokens VALUES (?, ?, ?)", (token, name, ",".join(permissions))
            )
        self.tokens[token] = set(permissions)
        return token

    # faults -----------------------------------------------------------------

    def take_fault(self, path: str) -> dict[str, Any] | None:
        with self.fault_lock:
            for fault in self.faults:
                if path.startswith(fault.get("path", "/api/")) and fault.get("count", 0) > 0:
                    fault["count"] -= 1
                    return dict(fault)
        return None

    def ticker(self) -> None:
        # Arc checks buffer age on a ticker (so a row can wait up to about twice max_buffer_age_ms); this one
        # ticks every 50 ms at most, so a changed max_buffer_age_ms applies at once.
        while True:
            time.sleep(min(max(self.storage.max_buffer_age_ms / 1000, 0.01), 0.05))
            try:
                self.storage.flush_due()
            except Exception as exc:  # pragma: no cover - keep ticking
                print(f"stand-in: flush failed: {exc}", file=sys.stderr)


def make_handler(app: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "arc-standin"
        disable_nagle_algorithm = True  # headers and body are separate writes; no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # helpers ----------------------------------------------------------------

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            self.send_response(status)
            if data:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "").strip()
            if auth:
                for scheme in ("Bearer ", "Token "):
                    if auth.startswith(scheme):
                        return auth[len(scheme) :].strip()
                return auth
            if self.headers.get("x-api-key"):
                return self.headers["x-api-key"].strip()
            query = parse_qs(urlsplit(self.path).query)
            return query.get("p", [None])[0]

        def _require(self, permission: str) -> None:
            token = self._token()
            if not token:
                raise ArcHTTPError(401, {"success": False, "error": "Authentication required"})
            perms = app.permissions(token)
            if perms is None:
                raise ArcHTTPError(401, {"success": False, "error": "Invalid or expired token"})
            if "admin" not in perms and permission not in perms:
                raise ArcHTTPError(
                    403, {"success": False, "error": f"Permission denied: {permission} required"}
                )

        def _dispatch(self, method: str) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            body = self._body()
            app.requests[path] = app.requests.get(path, 0) + 1
            fault = None if path.startswith("/_standin") else app.take_fault(path)
            try:
                if fault and fault.get("status"):
                    raise ArcHTTPError(
                        int(fault["status"]), {"error": fault.get("error", "injected by the stand-in")}
                    )
                if fault and fault.get("delay_s") and not fault.get("after"):
                    time.sleep(float(fault["delay_s"]))
                status, answer = self._route(method, path, body)
                if fault and fault.get("delay_s") and fault.get("after"):
                    time.sleep(float(fault["delay_s"]))  # processed, answer late: the client cannot know
                if fault and fault.get("drop_connection"):
                    self.close_connection = True
                    return
                self._send(status, answer)
            except ArcHTTPError as exc:
                self._send(exc.status, exc.body)
            except Exception as exc:  # pragma: no cover - a stand-in bug must be visible
                self._send(500, {"error": f"stand-in internal error: {exc!r}"})

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        # routes -----------------------------------------------------------------

        def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
            if path == "/health":
                return 200, {"status": "ok", "time": now_rfc3339(), "uptime_sec": time.time() - app.started}
            if path == "/ready":
                return 200, {"status": "ready", "time": now_rfc3339()}
            if method == "POST" and path == "/api/v1/write/msgpack":
                self._require("write")
                return self._write(body)
            if method == "POST" and path == "/api/v1/write/line-protocol/flush":
                self._require("admin")
                app.storage.flush_all()
                return 200, {"status": "success", "message": "All buffers flushed"}
            if method == "POST" and path == "/api/v1/query":
                self._require("read")
                return self._query(body)
            if path == "/api/v1/delete/config":
                self._require("admin")
                return 200, {
                    "enabled": app.delete_enabled,
                    "confirmation_threshold": 10000,
                    "max_rows_per_delete": 1000000,
                    "implementation": "rewrite-based",
                }
            if method == "POST" and path == "/api/v1/delete":
                self._require("admin")
                return self._delete(body)
            if method == "GET" and path == "/api/v1/auth/verify":
                self._require("read")
                return 200, {"valid": True, "permissions": sorted(app.permissions(self._token()) or [])}
            if method == "POST" and path == "/api/v1/auth/tokens":
                self._require("admin")
                req = json.loads(body or b"{}")
                perms = req.get("permissions")
                token = app.create_token(
                    req.get("name", "token"), ["read", "write"] if perms is None else perms
                )
                return 201, {"success": True, "token": token, "message": "Token created"}
            if path.startswith("/_standin/"):
                self._require("admin")
                return self._control(method, path, body)
            raise ArcHTTPError(404, {"error": f"Cannot {method} {path}"})

        def _database(self, *, for_query: bool) -> str | None:
            value = self.headers.get("x-arc-database")
            if not value:
                return None
            pattern = QUERY_DB_HEADER if for_query else DB_NAME
            if not pattern.match(value):
                if for_query:
                    raise query_error(400, f"invalid x-arc-database header: {value!r}")
                raise ArcHTTPError(
                    400,
                    {
                        "error": "invalid database name: must start with a letter and contain "
                        "only letters, numbers, underscores, or hyphens"
                    },
                )
            return value

        def _write(self, body: bytes) -> tuple[int, Any]:
            if app.capture:
                app.captured.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.hex()}
                )
            db = self._database(for_query=False) or "default"
            for measurement, chunk in decode_payload(body, app.max_payload):
                app.storage.buffer(db, measurement, chunk)
            return 204, None

        def _query(self, body: bytes) -> tuple[int, Any]:
            started = time.perf_counter()
            if "application/json" not in (self.headers.get("Content-Type") or ""):
                raise query_error(400, "Invalid request body: Unprocessable Entity")
            try:
                sql = json.loads(body or b"{}").get("sql")
            except (ValueError, AttributeError):
                raise query_error(400, "Invalid request body: Unprocessable Entity") from None
            if not isinstance(sql, str) or not sql.strip():
                raise query_error(400, "SQL query is required")
            if len(sql) > MAX_SQL_LENGTH:
                raise query_error(400, f"SQL query exceeds maximum length ({MAX_SQL_LENGTH} characters)")
            header_db = self._database(for_query=True)
            masked, masks = mask_literals(sql)
            masked = strip_comments(masked)
            validate_sql(masked)
            if header_db and _CROSS_DB.search(masked):
                raise query_error(
                    400,
                    "Cross-database queries (db.table syntax) not allowed when x-arc-database header is set",
                )
            idents = {p: o[1:-1].replace('""', '"') for p, o, is_ident in masks if is_ident}
            ctes = {name.lower() for name in _CTE_NAME.findall(masked)}
            missing = False

            def rewrite(m: re.Match[str]) -> str:
                nonlocal missing
                first, second = m.group(3), m.group(4)
                first = idents.get(first, first)
                second = idents.get(second, second) if second else None
                if second is None and (
                    first.lower() in ctes
                    or first.lower().startswith(("information_schema", "pg_", "duckdb_"))
                ):
                    return m.group(0)
                db, measurement = (first, second) if second else (header_db or "default", first)
                if not app.storage.exists(db, measurement):
                    missing = True
                return f'{m.group(1)}{m.group(2)}"{Storage.table(db, measurement)}"'

            rewritten = _TABLE_REF.sub(rewrite, masked)
            if missing:
                # No Parquet files under that path: Arc answers success with nothing in it.
                return 200, self._result([], [], started)
            final = unmask_literals(rewritten, masks)
            try:
                columns, rows = app.storage.read(final)
            except sqlite3.Error as exc:
                raise query_error(500, f"Binder Error: {exc}") from None
            data = [[_json_value(v) for v in row] for row in rows]
            return 200, self._result(columns, data, started)

        @staticmethod
        def _result(columns: list[str], data: list[list[Any]], started: float) -> dict[str, Any]:
            return {
                "success": True,
                "columns": columns,
                "data": data,
                "row_count": len(data),
                "execution_time_ms": round((time.perf_counter() - started) * 1000, 3),
                "timestamp": now_rfc3339(),
            }

        def _delete(self, body: bytes) -> tuple[int, Any]:
            def fail(status: int, message: str) -> ArcHTTPError:
                return ArcHTTPError(status, {"success": False, "error": message})

            if not app.delete_enabled:
                raise fail(
                    403, "Delete operations are disabled. Set delete.enabled=true in arc.toml to enable."
                )
            try:
                req = json.loads(body or b"{}")
            except ValueError as exc:
                raise fail(400, f"Invalid request body: {exc}") from None
            db, measurement, where = req.get("database", ""), req.get("measurement", ""), req.get("where", "")
            if not db:
                raise fail(400, "database is required")
            if not measurement:
                raise fail(400, "measurement is required")
            full_table = validate_delete_where(where)
            dry_run, confirm = bool(req.get("dry_run")), bool(req.get("confirm"))
            if full_table and not confirm:
                raise fail(400, "Full table delete detected (WHERE 1=1). Set confirm=true to proceed.")
            if not dry_run and not confirm:
                raise fail(
                    400,
                    "Confirmation required for delete operation. Set confirm=true or use dry_run=true to preview.",
                )
            started = time.perf_counter()
            storage = app.storage
            table = Storage.table(db, measurement)
            with storage.write_lock:
                if not storage.exists(db, measurement):
                    return 200, _delete_response(0, 0, 0, started, dry_run)
                files = storage.db.execute(
                    "SELECT file, lo, hi FROM _files WHERE tbl = ? ORDER BY lo", (table,)
                ).fetchall()
                los = [f[1] for f in files]
                try:
                    matched = storage.db.execute(f'SELECT rowid FROM "{table}" WHERE {where}').fetchall()
                except sqlite3.Error as exc:
                    raise fail(500, f"Failed to find affected files: {exc}") from None
                per_file: dict[int, int] = {}
                for (rowid,) in matched:
                    at = bisect.bisect_right(los, rowid) - 1
                    if at >= 0 and files[at][1] <= rowid <= files[at][2]:
                        per_file[at] = per_file.get(at, 0) + 1
                total = sum(per_file.values())
                if total > 1_000_000:
                    raise fail(400, f"Delete would affect {total} rows, exceeding maximum of 1000000.")
                if dry_run or not per_file:
                    return 200, _delete_response(total, len(per_file), 0, started, dry_run)
                deleted = 0
                storage.db.execute("BEGIN")
                try:
                    for at in sorted(per_file):
                        file_no, lo, hi = files[at]
                        # Arc keeps only rows where NOT (<where>) is TRUE: a NULL predicate deletes the row.
                        deleted += storage.db.execute(
                            f'DELETE FROM "{table}" WHERE rowid BETWEEN ? AND ? AND (NOT ({where})) IS NOT 1',
                            (lo, hi),
                        ).rowcount
                        left = storage.db.execute(
                            f'SELECT count(*) FROM "{table}" WHERE rowid BETWEEN ? AND ?', (lo, hi)
                        ).fetchone()[0]
                        if left == 0:
                            storage.db.execute(
                                "DELETE FROM _files WHERE tbl = ? AND file = ?", (table, file_no)
                            )
                    storage.db.execute("COMMIT")
                except BaseException:
                    storage.db.execute("ROLLBACK")
                    raise
                return 200, _delete_response(deleted, len(per_file), len(per_file), started, False)

        def _control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
            req = json.loads(body or b"{}") if method == "POST" else {}
            if path == "/_standin/faults":
                with app.fault_lock:
                    app.faults.append(req)
                return 200, {"faults": app.faults}
            if path == "/_standin/clear_faults":
                with app.fault_lock:
                    app.faults.clear()
                return 200, {"faults": []}
            if path == "/_standin/capture":
                app.capture = bool(req.get("on", True))
                if req.get("reset", True):
                    app.captured.clear()
                return 200, {"capture": app.capture}
            if path == "/_standin/captured":
                return 200, {"requests": app.captured}
            if path == "/_standin/drop_buffers":
                return 200, {"lost_rows": app.storage.drop_buffers()}
            if path == "/_standin/config":
                if "delete_enabled" in req:
                    app.delete_enabled = bool(req["delete_enabled"])
                if "max_buffer_age_ms" in req:
                    app.storage.max_buffer_age_ms = int(req["max_buffer_age_ms"])
                return 200, {
                    "delete_enabled": app.delete_enabled,
                    "max_buffer_age_ms": app.storage.max_buffer_age_ms,
                }
            if path == "/_standin/stats":
                return 200, {
                    "requests": app.requests,
                    "rows_written": app.storage.rows_written,
                    "rows_buffered": app.storage.buffered_rows(),
                }
            raise ArcHTTPError(404, {"error": f"no such stand-in control {path}"})

    return Handler


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Arc writes NaN and +-Inf as null
    if isinstance(value, str) and len(value) == 27 and STORED_TIME.match(value):
        return rfc3339_nano(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _delete_response(
    deleted: int, affected: int, rewritten: int, started: float, dry_run: bool
) -> dict[str, Any]:
    return {
        "success": True,
        "deleted_count": deleted,
        "affected_files": affected,
        "rewritten_files": rewritten,
        "execution_time_ms": round((time.perf_counter() - started) * 1000, 3),
        "dry_run": dry_run,
        "files_processed": [],
    }


_DELETE_KEYWORDS = re.compile(
    r"(?i)\b(DROP|DELETE|INSERT|UPDATE|EXEC|EXECUTE|UNION|SELECT|CREATE|ALTER|COPY|ATTACH|DETACH|LOAD|INSTALL|"
    r"PRAGMA|CALL|SET)\b"
)


def validate_delete_where(where: str) -> bool:
    """Arc's validateWhereClause, checks on the raw text (string literals included). True for a full-table
    delete."""

    def fail(message: str) -> ArcHTTPError:
        return ArcHTTPError(400, {"success": False, "error": message})

    if not where or not where.strip():
        raise fail("WHERE clause is required. To delete all data, use WHERE clause '1=1' with confirm=true")
    upper = where.strip().upper()
    if upper.startswith("WHERE "):
        upper = upper[6:].strip()
    for pattern in (";", "--", "/*"):
        if pattern in upper:
            raise fail(f"WHERE clause contains forbidden pattern: {pattern}")
    m = _DELETE_KEYWORDS.search(where)
    if m:
        raise fail(f"WHERE clause contains forbidden keyword: {m.group(1).upper()}")
    for prefix in ("xp_", "sp_"):  # compared against the upper-cased text, so never matches: as in Arc
        if prefix in upper:
            raise fail(f"WHERE clause contains forbidden pattern: {prefix}")
    if where.count("'") % 2:
        raise fail("WHERE clause has unmatched quotes")
    if where.count("(") != where.count(")"):
        raise fail("WHERE clause has unmatched parentheses")
    return upper in ("1=1", "TRUE", "1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Arc stand-in for memtrace's tests (NOT Arc)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data", required=True, help="SQLite file holding the 'Parquet files'")
    parser.add_argument("--admin-token", default=os.environ.get("ARC_AUTH_BOOTSTRAP_TOKEN"), required=False)
    parser.add_argument("--max-buffer-age-ms", type=int, default=5000)
    parser.add_argument("--max-buffer-size", type=int, default=50_000)
    parser.add_argument("--max-payload-bytes", type=int, default=1 << 30)
    parser.add_argument("--delete-enabled", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if not args.admin_token or len(args.admin_token) < 32:
        parser.error("--admin-token (or ARC_AUTH_BOOTSTRAP_TOKEN) of at least 32 characters is required")
    app = StandIn(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(app))
    server.daemon_threads = True
    threading.Thread(target=app.ticker, daemon=True).start()

    def graceful(signum: int, frame: Any) -> None:
        # Arc flushes its buffers on a clean shutdown; a SIGKILL loses them.
        app.storage.flush_all()
        os._exit(0)

    signal.signal(signal.SIGTERM, graceful)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
