"""The load generator: a separate process that drives a memtrace server over HTTP/1.1 keep-alive.

    python -m bench.loadgen JOB.json   ->   JSON results on stdout

It speaks just enough HTTP/1.1 over asyncio streams to keep its own cost per request to a few microseconds, so
on a two-core machine the server, not the generator, is what gets measured. Request bodies are built before the
clock starts. Jobs (one JSON object):

- ``{"mode": "batch", "url", "api_key", "batch_size", "memories", "seed", "concurrency", "agent_prefix"}``:
  POST batches of generated memories to ``/api/v1/memories``; checks each response's count. The optional
  `agent_prefix` is put before every agent and session id, so a load can share a store with other data.
- ``{"mode": "single", "url", "api_key", "concurrency", "seconds", "seed", "agent_prefix", "pool"}``: each of
  `concurrency` connections POSTs one memory at a time for `seconds` (agents ``<agent_prefix>00``..., session
  ids prefixed too); every answer must be 201. ``"urls": [...]`` instead of `url` spreads the connections over
  several servers (connection k on ``urls[k % len(urls)]``), as a load balancer would, from this one process:
  replicas are then driven at the same client-side cost as one server. The load is sized by time only: the `pool` of generated bodies
  (default 20,000) is reused with distinct contents when a fast machine sends more (`SingleWriteBodies`).
- ``{"mode": "requests", "url", "api_key", "warmup", "requests": [{"kind", "method", "path", "body",
  "expect"}]}``: run the requests in order on one connection (after `warmup` untimed ones) and check each
  answer (see `_check`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


class HttpConnection:
    """One keep-alive HTTP/1.1 connection. Not a general client: JSON in, status and body out."""

    def __init__(self, url: str, api_key: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._auth = f"x-api-key: {api_key}\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None and self._writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._auth}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + (body or b""))
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._read_chunked()
        else:
            data = b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await self._reader.readline()
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readline()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


# ------------------------------------------------------------------------------------------- batch ingest


async def _batch(job: dict[str, Any]) -> dict[str, Any]:
    from .dataset import Dataset

    size = int(job["batch_size"])
    prefix = job.get("agent_prefix", "")
    bodies = []
    for batch in Dataset(int(job["memories"]), seed=int(job["seed"])).batches(size):
        wires = [m.to_wire() for m in batch]
        for w in wires:
            w["agent_id"] = prefix + w["agent_id"]
            if "session_id" in w:
                w["session_id"] = prefix + w["session_id"]
        bodies.append(json.dumps({"memories": wires}).encode())
    concurrency = int(job.get("concurrency", 1))
    queue = list(reversed(bodies))
    latencies: list[float] = []
    stored = 0
    errors: list[str] = []

    async def client() -> None:
        nonlocal stored
        conn = HttpConnection(job["url"], job["api_key"])
        while queue:
            body = queue.pop()
            t0 = time.perf_counter()
            status, data = await conn.request("POST", "/api/v1/memories", body)
            latencies.append(time.perf_counter() - t0)
            if status != 201:
                errors.append(f"{status}: {data[:300]!r}")
                continue
            stored += int(json.loads(data)["count"])
        await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "latencies_s": latencies,
        "batch_size": size,
        "sent": int(job["memories"]),
        "stored": stored,
        "elapsed_s": elapsed,
        "errors": errors[:5],
        "error_count": len(errors),
    }


# ------------------------------------------------------------------------------------------ single writes


class SingleWriteBodies:
    """Request bodies for single writes, as many as the clock allows: a load sized by time never runs dry.

    A pool of `pool_size` generated memories is encoded before the clock starts; the first lap sends them as
    they are, and every later lap sends them again with the lap number put *before* the content, so each body is
    still a new memory to the server's dedup (its key reads only the first 200 bytes of content; a repeat within
    24 hours would be a 409).
    Re-encoding one body costs a few microseconds, far below a request's time.
    """

    def __init__(self, pool_size: int, seed: int, concurrency: int, prefix: str) -> None:
        from .dataset import Dataset

        self._wires: list[dict[str, Any]] = []
        for i, m in enumerate(Dataset(max(1, pool_size), seed=seed)):
            wire = m.to_wire()
            del wire["time"]  # live writes happen now
            wire["agent_id"] = f"{prefix}{i % concurrency:02d}"
            if "session_id" in wire:
                wire["session_id"] = prefix + wire["session_id"]
            self._wires.append(wire)
        self._first_lap = [json.dumps(w).encode() for w in self._wires]
        self.sent = 0

    @property
    def laps(self) -> int:
        """How many times the pool was started (1 while the first lap lasts)."""
        return self.sent // len(self._wires) + 1

    def next(self) -> bytes:
        lap, index = divmod(self.sent, len(self._wires))
        self.sent += 1
        if lap == 0:
            return self._first_lap[index]
        wire = self._wires[index]
        return json.dumps({**wire, "content": f"(lap {lap + 1}) {wire['content']}"}).encode()


async def _single(job: dict[str, Any]) -> dict[str, Any]:
    concurrency = int(job["concurrency"])
    seconds = float(job["seconds"])
    bodies = SingleWriteBodies(
        int(job.get("pool", 20_000)), int(job["seed"]), concurrency, job["agent_prefix"]
    )
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    per_agent: dict[str, int] = {}
    deadline = 0.0

    urls = job.get("urls") or [job["url"]]

    async def client(k: int) -> None:
        conn = HttpConnection(urls[k % len(urls)], job["api_key"])
        while time.perf_counter() < deadline:
            body = bodies.next()
            t0 = time.perf_counter()
            status, data = await conn.request("POST", "/api/v1/memories", body)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 201:
                agent = json.loads(data)["agent_id"]
                per_agent[agent] = per_agent.get(agent, 0) + 1
            elif len(errors) < 5:
                errors.append(f"{status}: {data[:300]!r}")
        await conn.close()

    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "latencies_s": latencies,
        "elapsed_s": elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
        "per_agent": per_agent,
        "errors": errors,
        "laps": bodies.laps,
    }


# ------------------------------------------------------------------------------------------------- reads


def _check(kind: str, expect: dict[str, Any], status: int, data: bytes) -> str | None:
    """Why an answer is wrong, or None. A fast wrong answer must not count as a fast answer."""
    if status != 200:
        return f"{kind}: HTTP {status}: {data[:200]!r}"
    body = json.loads(data)
    if "memories" in expect:
        got = len(body.get("memories", []))
        if got != expect["memories"]:
            return f"{kind}: {got} memories, expected {expect['memories']}"
    if "memory_count" in expect and body.get("memory_count") != expect["memory_count"]:
        return f"{kind}: memory_count {body.get('memory_count')}, expected {expect['memory_count']}"
    if "agent_id" in expect:
        items = body.get("results", body.get("memories", []))
        if any(m["agent_id"] != expect["agent_id"] for m in items):
            return f"{kind}: a result of another agent"
    return None


async def _requests(job: dict[str, Any]) -> dict[str, Any]:
    conn = HttpConnection(job["url"], job["api_key"])
    reqs = job["requests"]
    encoded = [
        (
            r["kind"],
            r["method"],
            r["path"],
            json.dumps(r["body"]).encode() if r.get("body") is not None else None,
        )
        for r in reqs
    ]
    for _kind, method, path, body in encoded[: int(job.get("warmup", 0))]:
        await conn.request(method, path, body)
    latencies: dict[str, list[float]] = {}
    nonempty: dict[str, int] = {}
    failures: list[str] = []
    for (kind, method, path, body), r in zip(encoded, reqs, strict=True):
        t0 = time.perf_counter()
        status, data = await conn.request(method, path, body)
        latencies.setdefault(kind, []).append(time.perf_counter() - t0)
        problem = _check(kind, r.get("expect", {}), status, data)
        if problem:
            failures.append(problem)
            continue
        parsed = json.loads(data)
        items = parsed.get("results", parsed.get("memories"))
        if items or parsed.get("memory_count"):
            nonempty[kind] = nonempty.get(kind, 0) + 1
    await conn.close()
    return {
        "latencies_s": latencies,
        "nonempty": nonempty,
        "failures": failures[:10],
        "failure_count": len(failures),
    }


MODES = {"batch": _batch, "single": _single, "requests": _requests}


def run_job(job: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run `job` in a fresh load-generator process (the caller's side); return its results."""
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="memtrace-loadgen-", delete=False) as f:
        json.dump(job, f)
        path = f.name
    try:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", path],
            cwd=root, env=env, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return dict(json.loads(proc.stdout))


def main() -> None:
    with open(sys.argv[1]) as f:
        job = json.load(f)
    result = asyncio.run(MODES[job["mode"]](job))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
