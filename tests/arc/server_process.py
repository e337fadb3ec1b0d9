"""A real `memtrace serve` process (and `memtrace` CLI runs) for the server's Arc tests."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def new_api_key() -> str:
    return "mtk_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def memtrace_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``memtrace ARGS`` (as ``python -m memtrace_server``) with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "memtrace_server", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Server:
    base_url: str
    admin_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"x-api-key": key or self.admin_key}, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve(data_dir: Path, env: dict[str, str], *, config: Path | None = None) -> Server:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    admin_key = new_api_key()
    log_path = data_dir.parent / f"serve-{port}.log"
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    if config is not None:
        args += ["--config", str(config)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "memtrace_server", *args],
            env={**os.environ, "MEMTRACE_ADMIN_KEY": admin_key, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", admin_key, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"memtrace serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"memtrace serve did not become ready:\n{server.log()}")
