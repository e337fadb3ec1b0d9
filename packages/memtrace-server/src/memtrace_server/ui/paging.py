"""Keyset paging for the memories timeline: a page's position is "memories at or before time T, skipping the
first K that share T", so page 1,000 of a million memories costs what page 1 costs (no large OFFSET).

The cursor is ``<T in µs>.<K>``; K only counts memories that share the last time on the page, so it stays
small. It is turned into the list filters every store already understands (``until`` just after T, a small
``offset``), which keeps paging identical on SQLite, Arc and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from memtrace.models import Memory
from memtrace.timeparse import from_us, to_us

_CURSOR = re.compile(r"(\d{1,19})\.(\d{1,9})")
MAX_SKIP = 100_000


@dataclass(frozen=True, slots=True)
class Cursor:
    time_us: int
    skip: int

    def encode(self) -> str:
        return f"{self.time_us}.{self.skip}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """The cursor in `text`, or None for the first page (a malformed cursor also means the first page)."""
        match = _CURSOR.fullmatch(text or "")
        if match is None or int(match.group(2)) > MAX_SKIP:
            return None
        return cls(int(match.group(1)), int(match.group(2)))

    def bound(self, ascending: bool) -> str:
        """The ``until`` (descending) or ``since`` (ascending) that keeps T itself in the page (both are
        exclusive in every store)."""
        return from_us(self.time_us + (-1 if ascending else 1)).isoformat()


def next_cursor(page: Sequence[Memory], current: Cursor | None) -> Cursor | None:
    """Where the page after `page` starts."""
    if not page:
        return None
    last = to_us(page[-1].time)
    same = sum(1 for m in page if to_us(m.time) == last)
    skip = same + (current.skip if current is not None and current.time_us == last else 0)
    return Cursor(last, skip)
