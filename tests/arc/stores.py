"""The Arc entries of the store conformance registry (`tests/conformance/conftest.py`): memories in Arc, metadata
in the embedded store beside the spool (so the metadata suite does not run again for them).

- ``arc-standin``: `ArcEventStore` against the Arc stand-in (one stand-in process per test run, one fresh Arc
  database per store), with a read/write token for ingest and queries and the admin token for deletes.
- ``arc-real``: the same against a real Arc when ``MEMTRACE_TEST_ARC_URL`` and ``MEMTRACE_TEST_ARC_TOKEN`` are
  set (``MEMTRACE_TEST_ARC_ADMIN_TOKEN`` optionally, if the first token is not an admin one; Arc needs
  ``delete.enabled=true`` for the delete tests). Skipped, saying so, otherwise.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from support.stores import StoreLocation, StoreTarget

from memtrace.stores.arc import ArcConfig

from .standin import shared_standin

REAL_ARC_URL = "MEMTRACE_TEST_ARC_URL"
REAL_ARC_TOKEN = "MEMTRACE_TEST_ARC_TOKEN"
REAL_ARC_ADMIN_TOKEN = "MEMTRACE_TEST_ARC_ADMIN_TOKEN"
REAL_ARC_SKIP = (
    f"no real Arc configured: set {REAL_ARC_URL} and {REAL_ARC_TOKEN} (and {REAL_ARC_ADMIN_TOKEN} if that token "
    "is not an admin token) to run this against a real Arc"
)

_standin_root: Path | None = None


def standin_root() -> Path:
    global _standin_root
    if _standin_root is None:
        _standin_root = Path(tempfile.mkdtemp(prefix="memtrace-arc-standin-"))
        atexit.register(shutil.rmtree, _standin_root, True)
    return _standin_root


def fast_config(
    url: str, token: str, admin_token: str | None, database: str, **overrides: object
) -> ArcConfig:
    """Timings for tests: partial batches go out after 20 ms, confirmations every 50 ms."""
    settings: dict[str, object] = {
        "flush_interval": 0.02,
        "confirm_interval": 0.05,
        "visibility_timeout": 5.0,
        "retry_initial": 0.05,
        "retry_max": 0.5,
        "close_timeout": 2.0,
        "timeout": 10.0,
    }
    settings.update(overrides)
    return ArcConfig(url=url, token=token, admin_token=admin_token, database=database, **settings)  # type: ignore[arg-type]


@contextmanager
def arc_standin_location(directory: Path) -> Iterator[StoreLocation]:
    standin = shared_standin(standin_root())
    token = standin.create_token(["read", "write"])
    config = fast_config(standin.url, token, standin.admin_token, "t_" + secrets.token_hex(8))
    yield StoreLocation(str(directory / "store"), {"arc": config})


@contextmanager
def arc_real_location(directory: Path) -> Iterator[StoreLocation]:
    url, token = os.environ.get(REAL_ARC_URL), os.environ.get(REAL_ARC_TOKEN)
    if not url or not token:
        pytest.skip(REAL_ARC_SKIP)
    admin = os.environ.get(REAL_ARC_ADMIN_TOKEN) or token
    database = "memtrace_test_" + secrets.token_hex(6)
    # A real Arc shows rows only after its buffer age (5 s by default): give confirmations room.
    config = fast_config(url, token, admin, database, visibility_timeout=60.0, confirm_interval=0.5)
    try:
        yield StoreLocation(str(directory / "store"), {"arc": config})
    finally:
        with contextlib.suppress(httpx.HTTPError):  # best effort: drop the test database
            httpx.delete(
                f"{config.base_url}/api/v1/databases/{database}",
                params={"confirm": "true"},
                headers={"Authorization": f"Bearer {admin}"},
                timeout=30,
            )


ARC_STORES: dict[str, StoreTarget] = {
    "arc-standin": StoreTarget(arc_standin_location, own_metadata=False),
    "arc-real": StoreTarget(arc_real_location, own_metadata=False),
}
