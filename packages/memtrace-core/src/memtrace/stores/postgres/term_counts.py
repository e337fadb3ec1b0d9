"""`TermCountCache`: per-org document frequencies of query terms, valid while the org has had no write."""

from __future__ import annotations

import threading
from collections import OrderedDict


class TermCountCache:
    """(org, term) -> document count, each stamped with the org's write counter when it was counted. A lookup
    with a different counter misses, so a hit is exactly what counting again would give. Bounded: the least
    recently used entries go first."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, org_id: str, version: int, terms: list[str]) -> list[int | None]:
        out: list[int | None] = []
        with self._lock:
            for term in terms:
                entry = self._entries.get((org_id, term))
                if entry is not None and entry[0] == version:
                    self._entries.move_to_end((org_id, term))
                    out.append(entry[1])
                else:
                    out.append(None)
        return out

    def put(self, org_id: str, version: int, counts: dict[str, int]) -> None:
        with self._lock:
            for term, count in counts.items():
                self._entries[(org_id, term)] = (version, count)
                self._entries.move_to_end((org_id, term))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


__all__ = ["TermCountCache"]
