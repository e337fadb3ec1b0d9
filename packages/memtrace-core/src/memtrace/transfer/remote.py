"""Export and import against a memtrace server: the request plans (`memtrace.backends.plans`) of the client's
`export_memories` and `import_memories`.

Export is one ``GET /api/v1/export`` whose body streams into the destination. Import sends the file in parts:
a server takes bodies up to its size limit, and a file can be far larger. The client reads the file with the same
reader the server uses (so a bad line is reported by its line number before anything about it is sent), and each
part is a small export file of its own (the file's header, up to `PART_LINES` of its lines, a trailer for the
part), sent with ``first_line`` so that the server's errors name the lines of the whole file. Parts go one after
another; the first refusal stops the import, after everything before it was committed, as in-process.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..backends.plans import HttpPlan, HttpReply, HttpRequest, require
from ..records import MemoryRecord
from ..stores.base import AgentRow
from .files import Destination, ExportWriter, Source, open_destination, open_source
from .format import MAX_LINE_BYTES, MEDIA_TYPE, Counts, ExportReader, LineError, ReadLimits, trailer_line
from .importer import ImportFailed, Progress
from .options import ExportOptions, ExportSummary, ImportReport

EXPORT_PATH = "/api/v1/export"
IMPORT_PATH = "/api/v1/import"
PART_LINES = 5000
PART_BYTES = 8 * 1024 * 1024
"""A part's size: well under a server's default body limit (32 MiB), large enough that requests are few. A
server configured below it answers 413, and the part goes again in halves."""


def export_params(options: ExportOptions | None) -> dict[str, Any]:
    """The export filter as query parameters (lists comma-joined, as the list endpoints take them)."""
    if options is None:
        return {}
    require(options, ExportOptions, "options")
    params: dict[str, Any] = options.model_dump(exclude_none=True)
    for name in ("memory_types", "tags"):
        if name in params:
            params[name] = ",".join(params[name])
    return params


def export_plan(
    dest: Destination, options: ExportOptions | None, progress: Callable[[ExportSummary], None] | None
) -> HttpPlan[ExportSummary]:
    params = export_params(options)
    with open_destination(dest) as out:
        writer = ExportWriter(out, progress)
        reply = yield HttpRequest("GET", EXPORT_PATH, params=params, sink=writer.write)
        reply.raise_for_status()
        return writer.summary()


class _ImportRefusal(BaseModel):
    """The body of a 400 from ``POST /api/v1/import`` that stopped at a line."""

    error: str
    field: str | None = None
    line: int | None = None
    problem: str | None = None
    imported: ImportReport | None = None


def import_plan(source: Source, progress: Progress | None) -> HttpPlan[ImportReport]:
    report = ImportReport(complete=False)
    with open_source(source) as lines:
        reader: ExportReader | None = None
        parts = _Parts()
        try:
            # Checked here for form (so a bad line is named before it is sent); sizes are the server's to bound,
            # with its own limits, which may be wider than the defaults.
            reader = ExportReader(
                lines,
                "org_unknown",
                ReadLimits(
                    max_metadata_bytes=MAX_LINE_BYTES,
                    max_metadata_depth=MAX_LINE_BYTES,
                    recompute_dedup_keys=False,
                ),
            )
            parts.header = reader.raw
            report.lines = reader.line
            for item in reader.items():
                if isinstance(item.value, MemoryRecord):
                    parts.add(item.line, reader.raw, "memories")
                elif isinstance(item.value, AgentRow):
                    parts.add(item.line, reader.raw, "agents")
                else:
                    parts.add(item.line, reader.raw, "sessions")
                if parts.full():
                    yield from _send(parts, report, progress, reader.bytes_read)
            yield from _send(parts, report, progress, reader.bytes_read)
        except LineError as exc:
            if reader is not None:
                yield from _send(parts, report, progress, reader.bytes_read)
            raise ImportFailed(exc.message, report, exc.line, exc.field) from None
        report.lines = reader.line
        report.complete = True
        return report


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    raw: bytes
    kind: str  # "memories", "agents" or "sessions": what it adds to its part's trailer


class _Parts:
    """The lines waiting to be sent."""

    def __init__(self) -> None:
        self.header = b""
        self.lines: list[_Line] = []
        self.size = 0

    def add(self, number: int, raw: bytes, kind: str) -> None:
        self.lines.append(_Line(number, raw if raw.endswith(b"\n") else raw + b"\n", kind))
        self.size += len(raw)

    def full(self) -> bool:
        return len(self.lines) >= PART_LINES or self.size >= PART_BYTES

    def take(self) -> list[_Line]:
        lines, self.lines, self.size = self.lines, [], 0
        return lines


def _send(
    parts: _Parts, report: ImportReport, progress: Progress | None, bytes_read: int
) -> Generator[HttpRequest, HttpReply, None]:
    """Send the waiting lines as one part (if any) and add its result to `report`."""
    if parts.lines:
        yield from _send_part(parts.header, parts.take(), report)
        if progress is not None:
            progress(report, bytes_read)


def _send_part(
    header: bytes, lines: list[_Line], report: ImportReport
) -> Generator[HttpRequest, HttpReply, None]:
    """One part: the header, `lines`, a trailer counting them. A server whose body limit is below the part's
    size (413) gets it in halves instead, down to single lines."""
    counts = Counts()
    for line in lines:
        setattr(counts, line.kind, getattr(counts, line.kind) + 1)
    body = b"".join([header, *(line.raw for line in lines), trailer_line(counts)])
    reply: HttpReply = yield HttpRequest(
        "POST", IMPORT_PATH, params={"first_line": lines[0].number}, content=body, content_type=MEDIA_TYPE
    )
    if reply.status == 413 and len(lines) > 1:
        half = len(lines) // 2
        yield from _send_part(header, lines[:half], report)
        yield from _send_part(header, lines[half:], report)
        return
    if reply.status == 400:
        try:
            refusal = _ImportRefusal.model_validate_json(reply.content)
        except ValueError:
            refusal = None
        if refusal is not None and refusal.line is not None and refusal.problem:
            if refusal.imported is not None:
                _add(report, refusal.imported)
                report.lines = max(report.lines, refusal.imported.lines)
            raise ImportFailed(refusal.problem, report, refusal.line, refusal.field)
    part = reply.model(ImportReport)
    _add(report, part)
    report.lines = lines[-1].number


def _add(report: ImportReport, part: ImportReport) -> None:
    report.memories += part.memories
    report.skipped += part.skipped
    report.agents += part.agents
    report.agents_skipped += part.agents_skipped
    report.sessions += part.sessions
    report.sessions_skipped += part.sessions_skipped


__all__ = ["EXPORT_PATH", "IMPORT_PATH", "export_params", "export_plan", "import_plan"]
