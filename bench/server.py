"""A real `memtrace serve` subprocess for the HTTP benchmarks (started by the one launcher,
`memtrace_server.testing`), and the memory it uses.

The server runs as its own process on a free loopback port, like a deployment would; the load generator
(`bench.loadgen`) is a third process, so neither the benchmark driver nor the load competes with the server
for its interpreter.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from memtrace_server.testing import ServerProcess
from memtrace_server.testing import start_server as launch_server

from .common import CorrectnessError


def api_key_for(seed: str) -> str:
    """A well-formed `mtk_` key (spec §6.1): 32 bytes, URL-safe base64 (43 characters and one '=')."""
    return "mtk_" + base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def server_available() -> str | None:
    """None when `memtrace serve` can run here, else why not (reported in RESULTS.md, never hidden)."""
    import importlib.util

    try:
        if importlib.util.find_spec("memtrace_server") is None:
            return "memtrace-server is not installed"
        if importlib.util.find_spec("memtrace_server.cli") is None:
            return "memtrace-server has no CLI yet (memtrace_server.cli is missing)"
    except ImportError as exc:
        return f"memtrace-server cannot be imported: {exc}"
    return None


RunningServer = ServerProcess


def start_server(
    data_dir: Path, log_dir: Path, *, api_key: str | None = None, env: dict[str, str] | None = None
) -> RunningServer:
    """Start `memtrace serve` on `data_dir` with a known admin key; wait until /ready says 200 (the one
    launcher, `memtrace_server.testing`: the shell's MEMTRACE_* settings do not reach the server)."""
    reason = server_available()
    if reason:
        raise RuntimeError(reason)
    return launch_server(
        data_dir,
        api_key=api_key or api_key_for("memtrace-bench-admin"),
        # The defaults otherwise; the per-org rate limit (off by default) is pinned off, since a benchmark
        # measures the server, not its abuse protection.
        env={"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "0", **(env or {})},
        log_dir=log_dir,
        ready_timeout=60,
    )


def stop_server(server: RunningServer) -> None:
    server.stop(timeout=15)


@contextlib.contextmanager
def running_server(data_dir: Path, log_dir: Path) -> Iterator[RunningServer]:
    server = start_server(data_dir, log_dir)
    try:
        yield server
    finally:
        stop_server(server)
        # A server that died under load is a failed benchmark, not a slow one.
        if server.process.returncode not in (0, -15, None):
            raise CorrectnessError(f"server exited with {server.process.returncode}: {tail(server.log_path)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def process_tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and its children (a server might fork workers)."""
    try:
        import psutil
    except ImportError:  # Linux without psutil: the process alone
        return _proc_status_kib(pid, "VmRSS") * 1024
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs if p.is_running())
    except psutil.Error:
        return 0


def _proc_status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class RssSampler:
    """Samples a process tree's RSS every `interval` seconds in a thread; `peak` is the largest seen."""

    pid: int
    interval: float = 0.05
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = process_tree_rss(self.pid)
            if rss:
                self.samples.append(rss)
            self._stop.wait(self.interval)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)
