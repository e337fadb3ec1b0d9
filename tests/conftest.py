"""Fixtures shared by the whole suite.

`live_server` starts a real `memtrace serve` process on a free loopback port, with a known admin key, on a
fresh data directory, and stops it at the end of the session. Remote-mode tests of every package use it.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from memtrace import AsyncMemtrace, Memtrace


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    api_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]


def make_api_key(seed: bytes) -> str:
    """A well-formed `mtk_` key (spec §6.1) derived from a seed, so tests can start servers with known keys."""
    return "mtk_" + base64.urlsafe_b64encode(seed.ljust(32, b"\0")[:32]).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, api_key: str, *, extra_env: dict[str, str] | None = None) -> LiveServer:
    """Start `memtrace serve` as a subprocess and wait until /ready answers."""
    port = free_port()
    # A developer's MEMTRACE_* settings (a URL, a data dir, limits) must not change the server under test.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_")}
    env = {**inherited, "MEMTRACE_ADMIN_KEY": api_key, **(extra_env or {})}
    log = open(data_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memtrace_server",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"memtrace serve exited with {proc.returncode}; see {log.name}")
        try:
            if httpx.get(base_url + "/ready", timeout=1).status_code == 200:
                return LiveServer(base_url, api_key, data_dir, proc)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"memtrace serve did not become ready; see {log.name}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real memtrace server on loopback, shared by the session. Tests must scope their data by unique
    agent/session ids, since other tests write to the same server."""
    pytest.importorskip("memtrace_server.cli", reason="memtrace-server is not built yet")
    root = tmp_path_factory.mktemp("live-server")
    server = start_server(root / "data", make_api_key(b"memtrace-live-server-admin-key"))
    yield server
    stop_server(server)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh embedded data directory (suites may override it)."""
    return tmp_path / "data"


@pytest.fixture(params=["embedded", "remote"])
def open_memtrace(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Callable[[], Memtrace]]:
    """A factory of fresh `Memtrace` clients that all reach the same data: an embedded engine on `data_dir`,
    or the shared live server. Every test that takes it runs once per backend; clients are closed after."""
    if request.param == "remote":
        server: LiveServer = request.getfixturevalue("live_server")

        def make() -> Memtrace:
            return Memtrace(server.base_url, server.api_key)
    else:

        def make() -> Memtrace:
            return Memtrace.open(data_dir)

    opened: list[Memtrace] = []

    def factory() -> Memtrace:
        opened.append(make())
        return opened[-1]

    yield factory
    for client in opened:
        client.close()


@pytest.fixture(params=["embedded", "remote"])
async def open_async_memtrace(
    request: pytest.FixtureRequest, data_dir: Path
) -> AsyncIterator[Callable[[], AsyncMemtrace]]:
    """`open_memtrace` for `AsyncMemtrace`."""
    if request.param == "remote":
        server: LiveServer = request.getfixturevalue("live_server")

        def make() -> AsyncMemtrace:
            return AsyncMemtrace(server.base_url, server.api_key)
    else:

        def make() -> AsyncMemtrace:
            return AsyncMemtrace.open(data_dir)

    opened: list[AsyncMemtrace] = []

    def factory() -> AsyncMemtrace:
        opened.append(make())
        return opened[-1]

    yield factory
    for client in opened:
        await client.close()


@dataclass(frozen=True)
class ServerLauncher:
    """`start_server`, `stop_server` and `make_api_key` as a fixture, for suites whose own conftest.py shadows
    this module's name (``from conftest import ...`` would import their own)."""

    start: Callable[..., LiveServer] = start_server
    stop: Callable[[LiveServer], None] = stop_server
    make_key: Callable[[bytes], str] = make_api_key


@pytest.fixture(scope="session")
def server_launcher() -> ServerLauncher:
    return ServerLauncher()
