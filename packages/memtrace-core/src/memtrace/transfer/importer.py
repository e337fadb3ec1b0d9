"""Reading an export file into an organisation: agents and sessions created when absent, memories inserted with
their own ids and times, in batches.

Committed in batches, not all or nothing: a large file need not fit in one transaction, and an import can be
resumed. Every batch is one transaction (`EventStore.import_records`), and memories the organisation already
holds (by id) are skipped, so importing a file again adds only what is missing. When a line is bad, everything
before it is committed and the error (`ImportFailed`) says so: which line, and how much went in. A file without
its trailer (truncated) is imported up to its end and then refused the same way. Either way, fixing the file
(or exporting again) and re-running the import completes it, without duplicates.

The same row-level steps serve ``memtrace migrate-store`` (`ensure_agent`, `ensure_session` and the store's
`import_records`), so a copy and an import cannot differ in what they keep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import MemtraceError, ValidationError
from ..records import MemoryRecord
from ..stores.base import AgentRow, EventStore, MetadataStore, SessionRow
from .format import ExportReader, Header, LineError, ReadLimits
from .options import ImportReport

BATCH = 2000
"""Memories per transaction: large enough that a transaction's fixed cost is small, small enough that a batch
waits briefly for the write lock and holds it briefly."""

Progress = Callable[[ImportReport, int], None]
"""Called after each committed batch with the report so far and the bytes of the file read."""


class ImportFailed(ValidationError):
    """An import stopped at a bad line (or a truncated end). `problem` names the line and what is wrong with it;
    `report` is what was committed before it (everything up to ``report.lines``); the message says both."""

    def __init__(self, problem: str, report: ImportReport, line: int, field: str | None = None) -> None:
        done = report.lines
        before = (
            "nothing was imported"
            if done < 2 or not (report.memories or report.skipped or report.agents or report.sessions)
            else f"lines 1-{done} were imported: {report.summary()}"
        )
        super().__init__(
            f"{problem}. {before}; fix the file (or export it again) and import it again: what is already in "
            "is skipped",
            field,
        )
        self.problem = problem
        self.report = report
        self.line = line


def ensure_agent(metadata: MetadataStore, row: AgentRow) -> bool:
    """Create the agent with its own id and times unless the organisation has it; True if created."""
    existing = metadata.get_agent(row.org_id, row.id)
    if existing is not None and existing.id == row.id:
        return False
    metadata.create_agent(row)
    return True


def ensure_session(metadata: MetadataStore, row: SessionRow) -> bool:
    """Create the session with its own id, status and times unless the organisation has it; True if created."""
    if metadata.get_session(row.org_id, row.id) is not None:
        return False
    stored = metadata.create_session(row, exist_ok=True)
    return stored == row


@dataclass(frozen=True)
class _InFlight:
    """A batch being written: its lines, and how much of the file had been read when it was sent."""

    future: Future[tuple[int, int]]
    first: int
    last: int
    bytes_read: int


class Importer:
    """One import into `org_id`. `run(lines)` reads the file and returns the report, or raises `ImportFailed`.

    `first_line`: the lines are a part of a larger file (a header, then that file's lines from `first_line`
    on, then a trailer for the part), so errors and the report name the larger file's lines.
    `dedup_horizon_us`: where the dedup window starts (`EventStore.import_records`)."""

    def __init__(
        self,
        events: EventStore,
        metadata: MetadataStore,
        org_id: str,
        *,
        limits: ReadLimits | None = None,
        progress: Progress | None = None,
        batch: int = BATCH,
        first_line: int | None = None,
        dedup_horizon_us: int | None = None,
    ) -> None:
        self.events = events
        self.metadata = metadata
        self.org_id = org_id
        self.limits = limits or ReadLimits()
        self.progress = progress
        self.batch_size = batch
        self.first_line = first_line
        self.dedup_horizon_us = dedup_horizon_us
        self.report = ImportReport(complete=False)
        self.header: Header | None = None
        self._pending: list[MemoryRecord] = []
        self._pending_from = 0  # the line of the first pending memory
        self._read_to = 0  # the last line whose content is committed
        self._inflight: _InFlight | None = None
        self._writer: ThreadPoolExecutor

    def run(self, lines: Iterable[bytes]) -> ImportReport:
        reader: ExportReader | None = None
        # One batch is written while the next is read: SQLite and psycopg let go of the GIL while they work,
        # so reading (the Python part) and writing overlap. At most one batch is in flight, and every error
        # waits for it first, so "everything before line N is in" stays exact.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="memtrace-import") as writer:
            self._writer = writer
            try:
                reader = ExportReader(lines, self.org_id, self.limits, first_line=self.first_line)
                self.header = reader.header
                self._read_to = reader.line
                for item in reader.items():
                    value = item.value
                    if isinstance(value, MemoryRecord):
                        if not self._pending:
                            self._pending_from = item.line
                        self._pending.append(value)
                        if len(self._pending) >= self.batch_size:
                            self._send(item.line, reader.bytes_read)
                        continue
                    self._commit(item.line - 1, reader.bytes_read)
                    self._metadata_row(item.line, value)
                    self._read_to = item.line
                self._commit(reader.line, reader.bytes_read)
            except LineError as exc:
                self._commit(exc.line - 1, reader.bytes_read if reader else 0)
                raise self._failed(exc.message, exc.line, exc.field) from None
        self.report.lines = reader.line
        self.report.complete = True
        return self.report

    def _metadata_row(self, line: int, row: AgentRow | SessionRow) -> None:
        try:
            if isinstance(row, AgentRow):
                created = ensure_agent(self.metadata, row)
                self.report.agents += created
                self.report.agents_skipped += not created
            else:
                created = ensure_session(self.metadata, row)
                self.report.sessions += created
                self.report.sessions_skipped += not created
        except MemtraceError as exc:
            raise self._failed(f"line {line}: {exc.message}", line) from None

    def _send(self, upto_line: int, bytes_read: int) -> None:
        """Start writing the pending memories (lines up to `upto_line`), once the batch before is in."""
        self._settle()
        batch, self._pending = self._pending, []
        self._inflight = _InFlight(
            self._writer.submit(
                self.events.import_records, self.org_id, batch, dedup_horizon_us=self.dedup_horizon_us
            ),
            self._pending_from,
            upto_line,
            bytes_read,
        )

    def _settle(self) -> None:
        """Wait for the batch being written; count it, or raise `ImportFailed` naming its lines."""
        flight, self._inflight = self._inflight, None
        if flight is None:
            return
        try:
            inserted, skipped = flight.future.result()
        except MemtraceError as exc:
            where = (
                f"line {flight.first}"
                if flight.first == flight.last
                else f"lines {flight.first}-{flight.last}"
            )
            raise self._failed(f"{where}: {exc.message}", flight.first) from None
        self.report.memories += inserted
        self.report.skipped += skipped
        self._advance(flight.last, flight.bytes_read)

    def _commit(self, upto_line: int, bytes_read: int) -> None:
        """Write whatever is pending and wait for it: lines up to `upto_line` are then all in."""
        if self._pending:
            self._send(upto_line, bytes_read)
        self._settle()
        self._advance(upto_line, bytes_read)

    def _advance(self, line: int, bytes_read: int) -> None:
        self._read_to = max(self._read_to, line)
        self.report.lines = self._read_to
        if self.progress is not None:
            self.progress(self.report, bytes_read)

    def _failed(self, problem: str, line: int, field: str | None = None) -> ImportFailed:
        self.report.lines = self._read_to
        return ImportFailed(problem, self.report, line, field)


__all__ = ["BATCH", "ImportFailed", "Importer", "Progress", "ensure_agent", "ensure_session"]
