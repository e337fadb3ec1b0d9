"""`StoreBundle`: the pair of stores one engine runs on, opened together (by `memtrace.stores.open_stores`) and
closed together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .base import EventStore, MetadataStore, StoreStats


class StoreBundle:
    """An event store and a metadata store, with what an operator asks of both: `ping`, `stats`, `close`.

    `description` says where the data is, without secrets (for the start-up line and errors).
    `on_close` runs after both stores are closed (e.g. a connection pool they share)."""

    def __init__(
        self,
        events: EventStore,
        metadata: MetadataStore,
        *,
        description: str,
        on_close: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.events = events
        self.metadata = metadata
        self.description = description
        self._on_close = list(on_close)
        self._closed = False
        self._lock = threading.Lock()

    def ping(self) -> None:
        """Raise if the stores cannot answer (readiness)."""
        self.metadata.ping()

    def stats(self) -> StoreStats:
        """The event store's size figures (for gauges)."""
        return self.events.stats()

    def with_events(self, events: EventStore) -> StoreBundle:
        """This bundle with `events` in front of its event store (e.g. a router by organisation that falls back
        to it). The returned bundle owns both: closing it closes `events`, then this bundle."""
        with self._lock:
            self._closed = True  # the new bundle closes the stores now
        return StoreBundle(
            events,
            self.metadata,
            description=self.description,
            on_close=[self.events.close, *self._on_close],
        )

    def close(self) -> None:
        """Close every store once (later calls do nothing)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.events.close()
        self.metadata.close()
        for close in self._on_close:
            close()
