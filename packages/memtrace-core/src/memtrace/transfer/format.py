"""The export file: JSON Lines, one object per line, written and read here and nowhere else.

    {"memtrace_export": 1, "org_id": "...", "exported_at": "...", "filter": {...}}     header, always first
    {"agent": {...}}                                                                    registered agents
    {"session": {...}}                                                                  created sessions
    {"memory": {...}}                                                                   memories, oldest first
    {"memtrace_export_end": {"agents": 2, "sessions": 5, "memories": 1000}}            trailer, always last

The objects inside are the stores' rows with their own field names (`MemoryRecord`, `AgentRow`, `SessionRow`
without ``org_id``), derived from the dataclasses, so a field added to a record travels without a change here.
Values are as stored: times in UTC microseconds, ``metadata_json``/``config_json`` as the stored JSON text (a
string, so its bytes come back exactly), tags as a list. docs/lifecycle.md documents every field.

Version rule: `FORMAT_VERSION` goes up whenever a line gains, loses or changes a field. A reader takes files of
its version and every older one (a field an older file lacks takes the record's default), and refuses a newer
version, and any field it does not know, rather than drop data silently.

The reader checks every value with the same rules a write through the API has (`memtrace.validation`), and
every problem names its line: ``line 17: invalid memory.agent_id: ...``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from .. import facts
from .. import validation as v
from ..dedup import dedup_key
from ..errors import ValidationError
from ..ids import id_time_ms
from ..limits import MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from ..records import MemoryRecord
from ..stores.base import AgentRow, SessionRow
from ..timeparse import MAX_TIME_US, MIN_TIME_US, from_us

FORMAT_VERSION = 1
HEADER_KEY = "memtrace_export"
TRAILER_KEY = "memtrace_export_end"
MEDIA_TYPE = "application/x-ndjson"
MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest line a reader takes (a memory's content plus its metadata are far below it)."""

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_decode = json.JSONDecoder().decode  # json.loads minus its per-call checks (a line is a str here)
# The org is the importer's; a score belongs to one search; `supersedes` is an instruction to a write (what it
# did is in the fields a version keeps: valid_until_us and superseded_by).
_NOT_STORED = frozenset({"org_id", "score", "supersedes"})


def _fields(kind: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(kind) if f.name not in _NOT_STORED)


MEMORY_FIELDS = tuple(f.name for f in _fields(MemoryRecord))
AGENT_FIELDS = tuple(f.name for f in _fields(AgentRow))
SESSION_FIELDS = tuple(f.name for f in _fields(SessionRow))


# ------------------------------------------------------------------ writing


def header_line(org_id: str, exported_at_us: int, flt: dict[str, Any]) -> bytes:
    header = {
        HEADER_KEY: FORMAT_VERSION,
        "org_id": org_id,
        "exported_at": from_us(exported_at_us).isoformat().replace("+00:00", "Z"),
        "filter": flt,
    }
    return _encode(header).encode() + b"\n"


_memory_values = operator.attrgetter(*MEMORY_FIELDS)


def memory_line(r: MemoryRecord) -> bytes:
    """One memory, every stored field (tags, a tuple, becomes a JSON list)."""
    return _encode({"memory": dict(zip(MEMORY_FIELDS, _memory_values(r), strict=True))}).encode() + b"\n"


def agent_line(row: AgentRow) -> bytes:
    return _encode({"agent": {name: getattr(row, name) for name in AGENT_FIELDS}}).encode() + b"\n"


def session_line(row: SessionRow) -> bytes:
    return _encode({"session": {name: getattr(row, name) for name in SESSION_FIELDS}}).encode() + b"\n"


@dataclass
class Counts:
    """What a file holds, as its trailer says (and a reader counts)."""

    agents: int = 0
    sessions: int = 0
    memories: int = 0


def trailer_line(counts: Counts) -> bytes:
    return _encode({TRAILER_KEY: dataclasses.asdict(counts)}).encode() + b"\n"


# ------------------------------------------------------------------ reading


class LineError(ValidationError):
    """A line of an export file that cannot be imported; `line` is its number (1 is the header)."""

    def __init__(self, line: int, message: str, field: str | None = None) -> None:
        super().__init__(f"line {line}: {message}", field)
        self.line = line


@dataclass(frozen=True)
class Header:
    version: int
    org_id: str | None
    exported_at: str | None
    filter: dict[str, Any]


class Item(NamedTuple):
    """One agent, session or memory read from line `line` (a tuple: one is made per line read)."""

    line: int
    value: AgentRow | SessionRow | MemoryRecord


@dataclass(frozen=True)
class ReadLimits:
    """The bounds a write through the API has (the engine's configuration)."""

    max_content_length: int | None = None
    max_tags: int | None = None
    max_metadata_bytes: int = MAX_METADATA_BYTES
    max_metadata_depth: int = MAX_METADATA_DEPTH
    recompute_dedup_keys: bool = True
    """A memory without a ``dedup_key`` field gets the key a write would give it (when dedup is on)."""


Check = Callable[[Any, str], Any]


def _str(value: Any, field: str) -> Any:
    """A string every store can keep: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8)."""
    if not isinstance(value, str) or "\x00" in value:
        raise ValidationError(f"invalid {field}: expected a string without NUL characters", field)
    return v.check_unicode(value, field)


def _opt_str(value: Any, field: str) -> Any:
    return value if value is None else _str(value, field)


def _time(value: Any, field: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_TIME_US <= value <= MAX_TIME_US:
        raise ValidationError(
            f"invalid {field}: expected microseconds since 1970 (an integer from {MIN_TIME_US} to {MAX_TIME_US})",
            field,
        )
    return value


def _opt_time(value: Any, field: str) -> Any:
    return value if value is None else _time(value, field)


def _opt_number(value: Any, field: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"invalid {field}: expected a number", field)
    return float(value)


def _json_object_text(value: Any, field: str) -> Any:
    """Stored JSON text: kept byte for byte, but it must be a JSON object (reads parse it)."""
    if value is None:
        return None
    _str(value, field)  # JSON text has no raw NUL, and a raw lone surrogate would not encode
    try:
        parsed = _decode(value)
    except (ValueError, RecursionError):  # nested ~1,000 deep, the decoder gives up with RecursionError
        parsed = None
    if not isinstance(parsed, dict):
        raise ValidationError(f"invalid {field}: expected the text of a JSON object", field)
    return value


def _id(value: Any, field: str) -> Any:
    return v.check_id(value, field)


def _opt_id(value: Any, field: str) -> Any:
    return v.check_id(value, field, required=False)


def _memory_checks(limits: ReadLimits) -> dict[str, Check]:
    """Each memory field's check: the write path's rules where one exists, else its type."""

    def metadata(value: Any, field: str) -> Any:
        text = _json_object_text(value, field)
        if text is not None and len(text.encode()) > limits.max_metadata_bytes:
            raise ValidationError(
                f"invalid {field}: at most {limits.max_metadata_bytes} bytes of JSON", field
            )
        # The API's depth bound: every level opens a bracket, so only a text with more brackets than levels
        # allowed needs the walk (as `validation.encode_metadata` does).
        if text is not None and text.count("{") + text.count("[") > limits.max_metadata_depth:
            v.check_depth(_decode(text), field, limits.max_metadata_depth)
        return text

    def tags(value: Any, field: str) -> Any:
        if not isinstance(value, list):
            raise ValidationError(f"invalid {field}: expected a list of tags", field)
        return v.check_tags(value, field, limits.max_tags)

    checks: dict[str, Check] = {
        "id": v.check_memory_id,
        "time_us": _time,
        "agent_id": _id,
        "session_id": _opt_id,
        "memory_type": v.check_memory_type,
        "event_type": v.check_event_type,
        "content": lambda value, field: v.check_content(value, field, limits.max_content_length),
        "metadata_json": metadata,
        "tags": tags,
        "dedup_key": v.check_dedup_key,
        "importance": v.check_importance,
        "parent_id": lambda value, field: v.check_text(value, field, max_length=256),
        "fact_key": facts.check_key,
    }
    return _with_type_checks(MemoryRecord, checks)


def _with_type_checks(kind: type[Any], checks: dict[str, Check]) -> dict[str, Check]:
    """`checks`, plus a type check for every other field of `kind` (from its annotation), so a field added to
    the record later is read without a change here. An annotation with no check fails at import time."""
    by_annotation: dict[str, Check] = {
        "str": _str,
        "str | None": _opt_str,
        "int": _time,
        "int | None": _opt_time,
        "float | None": _opt_number,
    }
    out = dict(checks)
    for f in _fields(kind):
        if f.name not in out:
            annotation = str(f.type)
            if f.name.endswith("_json"):
                out[f.name] = _json_object_text
            elif annotation in by_annotation:
                out[f.name] = by_annotation[annotation]
            else:
                raise TypeError(f"export format: no check for {kind.__name__}.{f.name}: {annotation}")
    return out


_AGENT_CHECKS = _with_type_checks(AgentRow, {"id": _id, "name": _str})
_SESSION_CHECKS = _with_type_checks(SessionRow, {"id": _id, "agent_id": _id})


def _required(kind: type[Any]) -> frozenset[str]:
    return frozenset(
        f.name
        for f in _fields(kind)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )


# "memory.agent_id" and the like, made once: the names errors give a field.
_LABELS = {
    what: {f.name: f"{what}.{f.name}" for f in _fields(kind)}
    for what, kind in (("memory", MemoryRecord), ("agent", AgentRow), ("session", SessionRow))
}
# The fields whose type allows None.
_NULLABLE = {
    what: frozenset(f.name for f in _fields(kind) if "None" in str(f.type))
    for what, kind in (("memory", MemoryRecord), ("agent", AgentRow), ("session", SessionRow))
}
_MEMORY_REQUIRED = _required(MemoryRecord) - {"dedup_key"}  # an absent key is recomputed (ReadLimits)
_AGENT_REQUIRED = _required(AgentRow)
_SESSION_REQUIRED = _required(SessionRow)

# A memory line with every field (what this memtrace writes) is read by `ExportReader._whole_memory`: its fields in
# MEMORY_FIELDS order, then one positional MemoryRecord(...) with the org and the score put where the record has
# them (keyword arguments cost twice as much, ~0.8 us a memory more). The record's fields must be the file's with
# ``org_id`` second, ``score`` just before `_SCORE_AT`'s field and ``supersedes`` last; a change to the record
# fails here, at import.
_MEMORY_KEYS = frozenset(MEMORY_FIELDS)
_SCORE_AT = MEMORY_FIELDS.index("expires_us")
if tuple(f.name for f in dataclasses.fields(MemoryRecord)) != (
    MEMORY_FIELDS[0],
    "org_id",
    *MEMORY_FIELDS[1:_SCORE_AT],
    "score",
    *MEMORY_FIELDS[_SCORE_AT:],
    "supersedes",  # write-only, defaulted
):
    raise TypeError(
        "export format: MemoryRecord's fields moved; update _SCORE_AT and ExportReader._whole_memory"
    )


class ExportReader:
    """Reads an export file line by line: `header` after the first line, then `items()` yields agents,
    sessions and memories as typed rows for `org_id`, and checks the trailer at the end.

    Every error is a `LineError` naming the line. A file that ends without its trailer raises one too (saying
    the file is truncated), after the items before it were yielded: the caller decides what to keep."""

    def __init__(
        self,
        lines: Iterable[bytes],
        org_id: str,
        limits: ReadLimits | None = None,
        *,
        first_line: int | None = None,
    ) -> None:
        self._lines = iter(lines)
        self.org_id = org_id
        self.limits = limits or ReadLimits()
        self._memory_checks = _memory_checks(self.limits)
        # (field, its check, its label, whether None needs no check) in MEMORY_FIELDS order: `_whole_memory`'s loop.
        self._memory_plan = tuple(
            (name, self._memory_checks[name], _LABELS["memory"][name], name in _NULLABLE["memory"])
            for name in MEMORY_FIELDS
        )
        self.line = 0
        self.counts = Counts()
        self.bytes_read = 0
        self.raw = b""
        """The current line's bytes, as read."""
        self.header = self._read_header()
        if first_line is not None:
            self.line = first_line - 1  # the line after the header is the larger file's `first_line`

    def _next(self) -> Any | None:
        """The next line's JSON value, or None at the end of the file."""
        for raw in self._lines:
            self.line += 1
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                raise LineError(self.line, f"the line is longer than {MAX_LINE_BYTES} bytes")
            self.raw = raw
            try:
                return _decode(raw.decode())
            except RecursionError:
                raise LineError(self.line, "not valid JSON here: nested too deeply") from None
            except ValueError as exc:
                if not raw.strip():  # looked at only here: a blank line never decodes
                    raise LineError(self.line, "empty line (an export file has none)") from None
                message = "not valid JSON" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
                # A cut can only explain a line that goes wrong at its end (bytes outside UTF-8 in its middle
                # are wrong whatever follows them).
                cut_short = not isinstance(exc, UnicodeDecodeError) or exc.reason == "unexpected end of data"
                if raw.endswith(b"\n") or not cut_short:
                    raise LineError(self.line, f"{message} ({exc})") from None
                raise LineError(
                    self.line, f"{message}: the file ends in the middle of this line (it is truncated)"
                ) from None
        return None

    def _read_header(self) -> Header:
        first = self._next()
        if first is None:
            raise LineError(1, "the file is empty (expected a memtrace export header)")
        if not isinstance(first, dict) or HEADER_KEY not in first:
            raise LineError(1, f'not a memtrace export: the first line must be {{"{HEADER_KEY}": ...}}')
        version = first[HEADER_KEY]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise LineError(1, f"invalid {HEADER_KEY}: expected a format version number", HEADER_KEY)
        if version > FORMAT_VERSION:
            raise LineError(
                1,
                f"this file is in export format {version}, newer than this memtrace reads (up to "
                f"{FORMAT_VERSION}); import it with a newer memtrace",
                HEADER_KEY,
            )
        org_id = first.get("org_id")
        flt = first.get("filter")
        return Header(
            version=version,
            org_id=org_id if isinstance(org_id, str) else None,
            exported_at=first.get("exported_at") if isinstance(first.get("exported_at"), str) else None,
            filter=flt if isinstance(flt, dict) else {},
        )

    def items(self) -> Iterator[Item]:
        """Every agent, session and memory, in file order; the trailer is checked when it comes."""
        while True:
            value = self._next()
            if value is None:
                raise LineError(
                    self.line + 1,
                    f"the file ends after line {self.line} without its trailer: it is truncated (the export "
                    "did not finish, or the file was cut)",
                )
            if not isinstance(value, dict) or len(value) != 1:
                raise LineError(
                    self.line, 'expected an object with one key: "agent", "session", "memory" or the trailer'
                )
            ((kind, body),) = value.items()
            if kind == "memory":
                self.counts.memories += 1
                yield Item(self.line, self._memory(body))
            elif kind == "session":
                self.counts.sessions += 1
                yield Item(
                    self.line, self._row(SessionRow, "session", body, _SESSION_CHECKS, _SESSION_REQUIRED)
                )
            elif kind == "agent":
                self.counts.agents += 1
                yield Item(self.line, self._row(AgentRow, "agent", body, _AGENT_CHECKS, _AGENT_REQUIRED))
            elif kind == TRAILER_KEY:
                self._check_trailer(body)
                return
            else:
                raise LineError(
                    self.line, f"unknown kind of line {kind!r} (expected agent, session or memory)"
                )

    def _values(
        self, what: str, body: Any, checks: dict[str, Check], required: frozenset[str]
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise LineError(self.line, f"{what}: expected an object", what)
        keys = body.keys()
        if not keys <= checks.keys():
            name = sorted(keys - checks.keys())[0]
            raise LineError(
                self.line,
                f"{what}.{name}: unknown field (written by a newer memtrace? this one reads format "
                f"{FORMAT_VERSION})",
                f"{what}.{name}",
            )
        if not keys >= required:
            name = sorted(required - keys)[0]
            raise LineError(self.line, f"{what}.{name} is required", f"{what}.{name}")
        labels, nullable = _LABELS[what], _NULLABLE[what]
        try:
            # Checked in place: `body` is this line's own dict, fresh from the decoder (a new dict per row was a
            # tenth of an import's reading time). Assigning to existing keys does not disturb the iteration.
            for name, value in body.items():
                # None needs no check where the record allows it (most optional fields are None).
                if value is not None or name not in nullable:
                    body[name] = checks[name](value, labels[name])
        except ValidationError as exc:
            raise LineError(self.line, exc.message, exc.field) from None
        return body

    def _memory(self, body: Any) -> MemoryRecord:
        if type(body) is dict and body.keys() == _MEMORY_KEYS:
            record = self._whole_memory(body)
            if record is not None:
                return record
        # Fields missing (an older file, no dedup key), unknown, or a value refused: the path that names the problem.
        values = self._values("memory", body, self._memory_checks, _MEMORY_REQUIRED)
        if id_time_ms(values["id"]) != values["time_us"] // 1000:
            # Every memtrace id is made from its memory's time, and lookups by id rely on it (Arc narrows them
            # to the time the id carries): a memory whose id says another time would be lost to them.
            raise LineError(
                self.line,
                "memory.id does not carry memory.time_us (a memory id starts with its time, in ms): the two "
                "were edited apart",
                "memory.id",
            )
        if "dedup_key" not in values:
            values["dedup_key"] = (
                dedup_key(values["agent_id"], values["event_type"], values["content"])
                if self.limits.recompute_dedup_keys
                else None
            )
        return MemoryRecord(org_id=self.org_id, **values)

    def _whole_memory(self, body: dict[str, Any]) -> MemoryRecord | None:
        """A memory line with exactly the fields of MEMORY_FIELDS, read with the same checks as `_values` in one
        pass; None when any check refuses a value (the caller then reads the line again the slow way, which
        reports the first bad field in file order, as it always has)."""
        values: list[Any] = []
        try:
            for name, check, label, nullable in self._memory_plan:
                value = body[name]
                values.append(value if value is None and nullable else check(value, label))
        except ValidationError:
            return None
        if id_time_ms(values[0]) != values[1] // 1000:  # id, time_us: see `_memory`
            return None
        values[1:1] = (self.org_id,)
        values.insert(_SCORE_AT + 1, None)  # the score
        return MemoryRecord(*values)

    def _row(
        self, kind: type[Any], what: str, body: Any, checks: dict[str, Check], required: frozenset[str]
    ) -> Any:
        values = self._values(what, body, checks, required)
        for name in (f.name for f in _fields(kind)):
            values.setdefault(name, None)  # optional fields an older file lacks
        return kind(org_id=self.org_id, **values)

    def _check_trailer(self, body: Any) -> None:
        trailer_line_number = self.line
        if not isinstance(body, dict):
            raise LineError(trailer_line_number, f"{TRAILER_KEY}: expected an object of counts")
        for name, counted in dataclasses.asdict(self.counts).items():
            said = body.get(name)
            if said != counted:
                raise LineError(
                    trailer_line_number,
                    f"the trailer counts {said!r} {name} but the file holds {counted}: it was cut or edited",
                )
        extra = self._next()
        if extra is not None:
            raise LineError(self.line, "a line after the trailer (the trailer must be the last line)")


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Whole lines (each with its ``\\n``, the last one possibly without) from arbitrary chunks of bytes."""
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        pending += chunk
        if b"\n" not in chunk:
            continue
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield line + b"\n"
    if pending:
        yield pending


__all__ = [
    "AGENT_FIELDS",
    "FORMAT_VERSION",
    "HEADER_KEY",
    "MEDIA_TYPE",
    "MEMORY_FIELDS",
    "SESSION_FIELDS",
    "TRAILER_KEY",
    "Counts",
    "ExportReader",
    "Header",
    "Item",
    "LineError",
    "ReadLimits",
    "agent_line",
    "header_line",
    "iter_lines",
    "memory_line",
    "session_line",
    "trailer_line",
]
