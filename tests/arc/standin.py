"""`ArcStandIn`: start, stop, kill and steer the Arc stand-in (`standin_server.py`, NOT Arc) from tests and bench.

The stand-in runs as its own process, so it competes with the client for CPU like a real server would, and
so "Arc crashed" can be a real SIGKILL (its unflushed buffer is lost, as in Arc without WAL).
"""

from __future__ import annotations

import atexit
import json
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

SERVER = Path(__file__).resolve().parent / "standin_server.py"


class ArcStandIn:
    """One stand-in process on loopback, with its data in `root`. Restarts keep the port and the data."""

    def __init__(
        self,
        root: Path,
        *,
        max_buffer_age_ms: int = 100,
        max_buffer_size: int = 50_000,
        delete_enabled: bool = True,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.admin_token = "standin-admin-" + secrets.token_hex(16)
        self.max_buffer_age_ms = max_buffer_age_ms
        self.max_buffer_size = max_buffer_size
        self.delete_enabled = delete_enabled
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log = open(self.root / "standin.log", "ab")  # noqa: SIM115 - lives as long as the stand-in

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ArcStandIn:
        if self.process is not None and self.process.poll() is None:
            return self
        command = [
            sys.executable,
            str(SERVER),
            "--port",
            str(self.port),
            "--data",
            str(self.root / "arc.sqlite"),
            "--admin-token",
            self.admin_token,
            "--max-buffer-age-ms",
            str(self.max_buffer_age_ms),
            "--max-buffer-size",
            str(self.max_buffer_size),
            "--delete-enabled" if self.delete_enabled else "--no-delete-enabled",
        ]
        deadline = time.monotonic() + 20
        while True:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log)
            assert self.process.stdout is not None
            line = self.process.stdout.readline().decode()
            if line.startswith("LISTENING "):
                self.port = int(line.split()[1])
                command[3] = str(self.port)
                break
            # The old process's port may not be free yet after a kill; try again briefly.
            self.process.wait()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Arc stand-in did not start; see {self.root / 'standin.log'}")
            time.sleep(0.2)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise RuntimeError("the Arc stand-in is not answering /health")

    def stop(self) -> None:
        """A clean shutdown: the stand-in flushes its buffer first (as Arc does)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """A crash: SIGKILL, the buffered (204-acknowledged, not yet flushed) rows are lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def down_for(self, seconds: float, *, crash: bool = True) -> threading.Thread:
        """Take the stand-in away for `seconds` (in the background), then start it again on the same port."""

        def outage() -> None:
            self.kill() if crash else self.stop()
            time.sleep(seconds)
            self.start()

        thread = threading.Thread(target=outage, daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------ admin API

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        response = httpx.request(
            method,
            self.url + path,
            headers={
                "Authorization": f"Bearer {token or self.admin_token}",
                "Content-Type": "application/json",
            },
            content=json.dumps(body).encode() if body is not None else None,
            timeout=30,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def create_token(self, permissions: list[str], name: str = "test") -> str:
        return str(
            self._call("POST", "/api/v1/auth/tokens", {"name": name, "permissions": permissions})["token"]
        )

    def query(self, sql: str, database: str) -> dict[str, Any]:
        """A raw query as a client would send it, with the admin token."""
        response = httpx.post(
            self.url + "/api/v1/query",
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "x-arc-database": database,
                "Content-Type": "application/json",
            },
            content=json.dumps({"sql": sql}).encode(),
            timeout=30,
        )
        return {"status": response.status_code, **response.json()}

    def rows(self, sql: str, database: str) -> list[dict[str, Any]]:
        answer = self.query(sql, database)
        assert answer["status"] == 200 and answer["success"], answer
        return [dict(zip(answer["columns"], row, strict=True)) for row in answer["data"]]

    def flush(self) -> None:
        self._call("POST", "/api/v1/write/line-protocol/flush")

    def fault(self, path: str, count: int, **spec: Any) -> None:
        """The next `count` requests to `path` get: ``status=503`` (an error answer), ``delay_s=x`` (a late
        answer; with ``after=True`` the request is processed first), ``drop_connection=True``."""
        self._call("POST", "/_standin/faults", {"path": path, "count": count, **spec})

    def clear_faults(self) -> None:
        self._call("POST", "/_standin/clear_faults", {})

    def capture(self, on: bool = True) -> None:
        self._call("POST", "/_standin/capture", {"on": on, "reset": True})

    def captured(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_standin/captured")["requests"])

    def drop_buffers(self) -> int:
        return int(self._call("POST", "/_standin/drop_buffers", {})["lost_rows"])

    def configure(self, **settings: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/_standin/config", settings))

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_standin/stats"))

    def close(self) -> None:
        self.kill()
        self._log.close()


_shared: ArcStandIn | None = None
_shared_lock = threading.Lock()


def shared_standin(root: Path) -> ArcStandIn:
    """One stand-in for the whole test process (each store uses its own database in it)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.process is None or _shared.process.poll() is not None:
            _shared = ArcStandIn(root).start()
            atexit.register(_shared.close)
        return _shared


__all__ = ["ArcStandIn", "shared_standin"]
