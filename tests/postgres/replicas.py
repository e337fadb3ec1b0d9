"""Real ``memtrace serve`` replicas on one PostgreSQL database, and a round-robin client in front of them (what a
load balancer does)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
from support.server import ServerProcess, make_api_key, start_server

ADMIN_KEY = make_api_key(b"replicas-admin")
UI_SECRET = "replica-test-ui-secret-0123456789"
READY_TIMEOUT_SECONDS = 120.0
"""Generous: several interpreters starting at once on a loaded 2-core machine take a while to import."""


def start_replica(
    root: Path, url: str, *, env: Mapping[str, str] | None = None, api_key: str = ADMIN_KEY
) -> ServerProcess:
    """One replica on the database at `url`. Its `data_dir` is a path that must never be created: a replica
    on PostgreSQL keeps nothing locally (its log goes to `root`)."""
    root.mkdir(parents=True, exist_ok=True)
    return start_server(
        root / "never-created",
        api_key=api_key,
        store_url=url,
        log_dir=root,
        env={"MEMTRACE_UI_SESSION_SECRET": UI_SECRET, **(env or {})},
        ready_timeout=READY_TIMEOUT_SECONDS,
    )


@contextmanager
def replicas(root: Path, url: str, count: int, **kwargs: object) -> Iterator[list[ServerProcess]]:
    """`count` replicas started one after the other (stopped afterwards, whatever happened)."""
    started: list[ServerProcess] = []
    try:
        for n in range(count):
            started.append(start_replica(root / f"replica-{n}", url, **kwargs))  # type: ignore[arg-type]
        yield started
    finally:
        for server in started:
            server.stop(timeout=15)


class RoundRobin:
    """An HTTP client that sends each request to the next replica, as a load balancer would. Thread-safe."""

    def __init__(self, servers: list[ServerProcess], key: str = ADMIN_KEY) -> None:
        self.clients = [s.client(key) for s in servers]
        self._next = itertools.cycle(range(len(self.clients)))
        self._lock = threading.Lock()

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        with self._lock:
            client = self.clients[next(self._next)]
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        for client in self.clients:
            client.close()
