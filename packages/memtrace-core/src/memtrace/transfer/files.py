"""Where an export goes and an import comes from: a path, an open binary file, or bytes.

An export to a path is written to ``<path>.partial`` and renamed when complete, so the path never holds a
half-written file (a failed export leaves the old file, if any, as it was).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import MemtraceError
from .format import TRAILER_KEY, iter_lines
from .options import ExportSummary

Destination = str | os.PathLike[str] | BinaryIO
Source = str | os.PathLike[str] | BinaryIO | bytes | Iterable[bytes]


@contextlib.contextmanager
def open_destination(dest: Destination) -> Iterator[BinaryIO]:
    if isinstance(dest, (str, os.PathLike)):
        path = Path(dest)
        partial = path.with_name(path.name + ".partial")
        try:
            # 0600 like the data directory's files: an export holds everything the store does.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                yield out
            os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    else:
        yield dest


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[Iterable[bytes]]:
    """The source's lines. An open file is read from where it stands."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield f
    elif isinstance(source, (bytes, bytearray)):
        yield iter_lines([bytes(source)])
    elif hasattr(source, "read") and hasattr(source, "readline"):
        yield source  # a binary file iterates by lines
    else:
        yield iter_lines(source)


class ExportWriter:
    """Writes an export's chunks and keeps what the summary needs (bytes written, the last line)."""

    def __init__(self, out: BinaryIO, progress: Callable[[ExportSummary], None] | None = None) -> None:
        self.out = out
        self.progress = progress
        self.bytes = 0
        self.lines = 0
        self._tail = b""

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.out.write(chunk)
        self.bytes += len(chunk)
        self.lines += chunk.count(b"\n")
        # The last line, whole: chunks (over HTTP) may end anywhere, even inside it.
        if self._tail.endswith(b"\n"):
            self._tail = b""
        cut = chunk.rfind(b"\n", 0, len(chunk) - 1)
        self._tail = chunk[cut + 1 :] if cut >= 0 else self._tail + chunk
        if self.progress is not None:
            self.progress(ExportSummary(memories=max(0, self.lines - 1), bytes=self.bytes))

    def summary(self) -> ExportSummary:
        """The counts of the trailer; `MemtraceError` if the export ended without one (it was cut short)."""
        try:
            trailer = json.loads(self._tail)[TRAILER_KEY]
            return ExportSummary(
                agents=trailer["agents"],
                sessions=trailer["sessions"],
                memories=trailer["memories"],
                bytes=self.bytes,
            )
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested ~1,000 deep
            raise MemtraceError(
                f"the export ended after {self.bytes} bytes without its trailer: the server stopped before "
                "finishing (see its log); the file is incomplete, export again"
            ) from None


__all__ = ["Destination", "ExportWriter", "Source", "open_destination", "open_source"]
