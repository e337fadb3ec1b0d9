"""Servers for tests: the app in-process (`Api`), and real ``memtrace serve`` processes through the one launcher,
`memtrace_server.testing` (which bench/ uses too). Child processes never inherit the developer's ``MEMTRACE_*``."""

from __future__ import annotations

import base64
import secrets
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from memtrace_server.testing import ServerProcess, free_port, run_cli, start_server

__all__ = [
    "Api",
    "ServerProcess",
    "free_port",
    "launch",
    "make_api_key",
    "memtrace",
    "new_key",
    "run_cli",
    "start_server",
    "stop",
]


def new_key() -> str:
    """A random well-formed ``mtk_`` key."""
    return "mtk_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def make_api_key(seed: bytes) -> str:
    """A well-formed ``mtk_`` key (spec §6.1) derived from a seed, so tests can start servers with known keys."""
    return "mtk_" + base64.urlsafe_b64encode(seed.ljust(32, b"\0")[:32]).decode()


@dataclass
class Api:
    """The app in-process, with an admin key for org_default."""

    client: TestClient
    key: str
    data_dir: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}


def launch(
    data_dir: Path,
    api_key: str | None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] | None = None,
    *,
    fd_limit: int | None = None,
) -> ServerProcess:
    """`start_server` with the positional shape the server tests use."""
    return start_server(data_dir, api_key=api_key, env=env, args=args or (), fd_limit=fd_limit)


def stop(server: ServerProcess, sig: int = signal.SIGTERM) -> int:
    return server.stop(sig, timeout=15)


def memtrace(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``memtrace ARGS``."""
    return run_cli(args, env, cwd=cwd)
