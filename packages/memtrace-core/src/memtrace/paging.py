"""Reading every memory that matches a filter, page by page (the ``has_more`` loop, written once).

`MemoryPages` is the paging state the clients' ``iter_memories`` and the bridge's plans share: it says which
`ListMemories` to send next and takes each page's answer.
"""

from __future__ import annotations

from collections.abc import Generator

from .errors import ValidationError
from .models import ListOptions, Memory, MemoryList
from .operations import ListMemories

MAX_PAGE_SIZE = 1000
"""The largest page a server answers (`ListOptions.limit` is capped there)."""


class MemoryPages:
    """The pages of `opts`: its filters and order, from `opts.offset`, at most `opts.limit` memories in total
    (all when unset), `page_size` per request."""

    def __init__(self, opts: ListOptions | None = None, *, page_size: int = MAX_PAGE_SIZE) -> None:
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise ValidationError(f"invalid page_size: must be between 1 and {MAX_PAGE_SIZE}", "page_size")
        self._base = opts or ListOptions()
        self._page_size = page_size
        self._offset = self._base.offset or 0
        self._remaining = self._base.limit
        self._done = self._remaining is not None and self._remaining <= 0

    def next_page(self) -> ListMemories | None:
        """The next request, or None when every page has been read."""
        if self._done:
            return None
        size = self._page_size if self._remaining is None else min(self._page_size, self._remaining)
        return ListMemories(self._base.model_copy(update={"offset": self._offset, "limit": size}))

    def take(self, page: MemoryList) -> list[Memory]:
        """Record one page's answer; return its memories."""
        got = len(page.memories)
        self._offset += got
        if self._remaining is not None:
            self._remaining -= got
        if not page.has_more or got == 0 or (self._remaining is not None and self._remaining <= 0):
            self._done = True
        return page.memories


def read_memories(
    opts: ListOptions | None = None, *, page_size: int = MAX_PAGE_SIZE
) -> Generator[ListMemories, MemoryList, list[Memory]]:
    """A plan (see `memtrace.bridge`) that reads every page of `opts` and returns all their memories."""
    pages = MemoryPages(opts, page_size=page_size)
    out: list[Memory] = []
    while (op := pages.next_page()) is not None:
        out.extend(pages.take((yield op)))
    return out
