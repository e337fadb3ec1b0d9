"""How the conformance suite reaches a kind of store: a location `open_stores` accepts, and what it can do."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memtrace.stores import StoreBundle, open_stores


@dataclass(frozen=True)
class StoreLocation:
    """One fresh store: the arguments of `open_stores`. Opening it twice gives two handles on the same data
    (two server replicas, or two processes)."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self) -> StoreBundle:
        return open_stores(self.url, **self.options)


@dataclass(frozen=True)
class StoreTarget:
    """A kind of store under test."""

    locate: Callable[[Path], AbstractContextManager[StoreLocation]]
    """A fresh, empty location in the directory, cleaned up when the block ends."""
    shared: bool = False
    """Other processes can open the location by its URL alone: the concurrent-writer tests run against it."""
    own_metadata: bool = True
    """Its metadata store is its own (False: it is another target's, whose run already covers it)."""
