"""A real ``memtrace serve`` process for tests and benchmarks, and ``memtrace`` CLI runs: the one launcher.

    server = start_server(tmp_path / "data", api_key=key)      # a free loopback port; waits for /ready
    with server.client() as http: ...                          # httpx, with the admin key
    server.stop()

The child never sees the caller's ``MEMTRACE_*`` variables (a developer's URL, data directory or limits must not
change the server under test); pass what it should see in `env`. Its output goes to a log file beside the data
directory, shown in the error when it does not start.
"""

from __future__ import annotations

import functools
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

COMMAND = (sys.executable, "-m", "memtrace_server")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``MEMTRACE_*`` setting, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_")}
    return {**clean, **(env or {})}


@dataclass
class ServerProcess:
    """A running ``memtrace serve``."""

    base_url: str
    api_key: str
    """The admin key it was started with (``MEMTRACE_ADMIN_KEY``), or "" when it generated one."""
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def client(self, key: str | None = None, *, timeout: float = 30) -> httpx.Client:
        """An HTTP client for the server, with `key` (default: the admin key)."""
        return httpx.Client(
            base_url=self.base_url, headers={"x-api-key": key or self.api_key}, timeout=timeout
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 20) -> int:
        """Send `sig` and wait (killing it after `timeout` seconds); its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    data_dir: Path,
    *,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    config: Path | None = None,
    log_dir: Path | None = None,
    ready_timeout: float = 30.0,
    fd_limit: int | None = None,
    store_url: str | None = None,
) -> ServerProcess:
    """Start ``memtrace serve`` on `data_dir` and a free loopback port; return once /ready answers 200.

    `api_key` becomes ``MEMTRACE_ADMIN_KEY``; `env` adds variables (nothing else of ours is inherited); `args`
    are more ``serve`` flags; `fd_limit` lowers its open-file limit; `store_url` becomes ``--store-url`` (e.g. a
    ``postgresql://`` database: `data_dir` then only names where the log goes, and must stay absent). Raises `RuntimeError` with the log when the server exits or is not ready in time.
    """
    port = free_port()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = (log_dir or data_dir.parent) / f"server-{port}.log"
    variables = child_env({"MEMTRACE_ADMIN_KEY": api_key} if api_key else None)
    variables.update(env or {})
    command = [*COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    if config is not None:
        command += ["--config", str(config)]
    if store_url is not None:
        command += ["--store-url", store_url]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command, *args],
            env=variables,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir.parent,
            preexec_fn=None if fd_limit is None else functools.partial(_limit_descriptors, fd_limit),
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", api_key or "", data_dir, process, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"memtrace serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"memtrace serve did not become ready in {ready_timeout:g} s:\n{server.log()}")


def _limit_descriptors(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``memtrace ARGS`` to completion (same environment rule as `start_server`)."""
    return subprocess.run(
        [*COMMAND, *args], env=child_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


__all__ = ["ServerProcess", "child_env", "free_port", "run_cli", "start_server"]
