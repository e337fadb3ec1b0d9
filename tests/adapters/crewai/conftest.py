"""Fixtures for the CrewAI adapter: a private HOME, no telemetry, no network, memtrace embedded or remote."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Before crewai is imported anywhere: it writes into $HOME (credentials, app data, the kickoff-output SQLite
# file) at import and kickoff, and would report telemetry and traces.
_HOME = tempfile.mkdtemp(prefix="memtrace-crewai-home-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.update(
    {
        "HOME": _HOME,
        "XDG_DATA_HOME": os.path.join(_HOME, ".local", "share"),
        "XDG_CONFIG_HOME": os.path.join(_HOME, ".config"),
        "CREWAI_STORAGE_DIR": os.path.join(_HOME, "crewai-storage"),
        "CREWAI_DISABLE_TELEMETRY": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "OTEL_SDK_DISABLED": "true",
    }
)
os.environ.pop("OPENAI_API_KEY", None)  # every test must work without a key

import ipaddress  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from memtrace import Memtrace  # noqa: E402


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any connection that leaves the machine (loopback, for the live server, is fine)."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(real: Callable[..., Any]) -> Callable[..., Any]:
        def connect(sock: socket.socket, address: Any) -> Any:
            if not _is_local(address):
                attempts.append(address)
                raise OSError(f"test tried to reach the network: {address!r}")
            return real(sock, address)

        return connect

    monkeypatch.setattr(socket.socket, "connect", guarded(real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(real_connect_ex))
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "memtrace-data"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique ids per test, since remote tests share one server."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def open_client(open_memtrace: Callable[[], Memtrace]) -> Callable[[], Memtrace]:
    """A factory of fresh `Memtrace` clients that all reach the same data (embedded, then remote)."""
    return open_memtrace


@pytest.fixture
def client(data_dir: Path) -> Iterator[Memtrace]:
    """An embedded client on a fresh data directory."""
    with Memtrace.open(data_dir) as c:
        yield c
