"""Helpers shared by the Arc tests."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any

from memtrace.stores.arc import ArcConfig, ArcEventStore

from .standin import ArcStandIn
from .stores import fast_config


def arc_config(standin: ArcStandIn, *, database: str | None = None, **overrides: Any) -> ArcConfig:
    token = overrides.pop("token", None) or standin.create_token(["read", "write"])
    admin = overrides.pop("admin_token", standin.admin_token)
    return fast_config(standin.url, token, admin, database or "t_" + secrets.token_hex(6), **overrides)


def new_master_key() -> str:
    """A ``MEMTRACE_MASTER_KEY``: the base64 of 32 random bytes."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def drained(store: ArcEventStore) -> bool:
    """Everything the spool held is in Arc and queryable there."""
    return store.spool.status().total == 0


def assert_exactly_once(standin: ArcStandIn, database: str, acknowledged: set[str]) -> None:
    stored = standin.rows("SELECT id, count(*) AS n FROM events GROUP BY id ORDER BY id", database)
    twice = [row for row in stored if row["n"] > 1]
    assert twice == [], f"{len(twice)} memories stored more than once"
    missing = acknowledged - {row["id"] for row in stored}
    assert not missing, f"{len(missing)} acknowledged memories never arrived"
