"""Helpers for the server tests: the in-process app and real `memtrace serve` processes."""

from __future__ import annotations

import base64
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi.testclient import TestClient


def new_key() -> str:
    return "mtk_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Api:
    """The app in-process, with an admin key for org_default."""

    client: TestClient
    key: str
    data_dir: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}


@dataclass
class SpawnedServer:
    base_url: str
    api_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"x-api-key": key or self.api_key}, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    data_dir: Path,
    api_key: str | None,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    *,
    fd_limit: int | None = None,
) -> SpawnedServer:
    """Start `python -m memtrace_server serve` and wait for /ready; `fd_limit` lowers its open-file limit."""
    port = _free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_")}
    if api_key:
        full_env["MEMTRACE_ADMIN_KEY"] = api_key
    full_env.update(env or {})
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "memtrace_server", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir), *(args or [])],
            env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir.parent,
            preexec_fn=None if fd_limit is None else lambda: _limit_descriptors(fd_limit),
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(base_url + "/ready", timeout=1).status_code == 200:
                return SpawnedServer(base_url, api_key or "", data_dir, proc, log_path)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not become ready:\n{log_path.read_text()}")


def _limit_descriptors(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def stop(server: SpawnedServer, sig: int = signal.SIGTERM) -> int:
    if server.process.poll() is None:
        server.process.send_signal(sig)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode
