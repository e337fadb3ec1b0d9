"""Benchmark 5: footprint. What memtrace costs in memory, on disk and at import.

- server RSS under load: the peak resident memory of `memtrace serve` (on a copy of the 100k store) while the
  load generator runs batch writes, 32 concurrent single writes and reads; the peer is a bare FastAPI + uvicorn
  app that answers the same single-write load (the framework's own floor);
- bytes on disk per memory in the bulk-loaded store, next to the same rows in a raw sqlite3 one-index table and
  the memories' own payload bytes (content, metadata, tags);
- `import memtrace` in a fresh interpreter, next to importing pydantic alone (its one heavy dependency that
  loads at import; httpx loads only with the remote client).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from memtrace_server.testing import free_port

from .bulk_load import load_store
from .common import Row, check, latency_row, log, median, percentile, temp_dir
from .loadgen import run_job
from .read_ops import OPS, http_request, plan
from .reads import truth_of
from .server import RssSampler, api_key_for, running_server, tail

IMPORT_TARGET_MS = 500.0
IMPORT_RUNS = 7


def import_ms(statement: str) -> float:
    """Wall ms of `statement` in a fresh interpreter (so nothing is cached in-process)."""
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def import_rows() -> list[Row]:
    # Warm the OS file cache once for both, then alternate.
    import_ms("import memtrace")
    import_ms("from pydantic import BaseModel")
    ours, peer = [], []
    for _ in range(IMPORT_RUNS):
        ours.append(import_ms("import memtrace"))
        peer.append(import_ms("from pydantic import BaseModel"))
    return [
        latency_row(
            "5. footprint",
            "import memtrace, ms (fresh interpreter)",
            ours,
            "from pydantic import BaseModel (its heavy dependency)",
            peer,
            target_ms=IMPORT_TARGET_MS,
            target=f"<= {IMPORT_TARGET_MS:g} ms (ARCHITECTURE: well under a second)",
            notes=f"{IMPORT_RUNS} runs, alternating; ratio < 1: memtrace adds to what pydantic costs",
        )
    ]


def disk_rows(size: int) -> list[Row]:
    store = load_store(size)
    ours = store.data_bytes / size
    raw = store.raw_bytes / size
    payload = store.payload_bytes / size
    return [
        Row(
            benchmark="5. footprint",
            metric=f"bytes on disk per memory ({size:,} stored, with indexes and FTS5)",
            ours=ours,
            peer_name="raw sqlite3 one-index table, same rows",
            peer=raw,
            target="report only (no target set)",
            met=True,
            notes=f"the memories' own payload is {payload:,.0f} bytes each; ours/payload = {ours / payload:.2f}x",
            extra={"ratio": raw / ours},
            samples=1,
        )
    ]


_BARE_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/api/v1/memories")
    async def create(request: Request):
        return JSONResponse(await request.json(), status_code=201)

    @app.get("/ready")
    async def ready():
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def _single_load(url: str, api_key: str, seconds: float, seed: int) -> dict[str, Any]:  # the worker's JSON
    return run_job(
        {
            "mode": "single",
            "url": url,
            "api_key": api_key,
            "concurrency": 32,
            "seconds": seconds,
            "seed": seed,
            "agent_prefix": "footprint_",
        }
    )


def bare_app_peak_rss(work: Path, seconds: float) -> int:
    """Peak RSS of a bare FastAPI + uvicorn app under the same 32-client single-write load."""
    import urllib.request

    script = work / "bare_app.py"
    script.write_text(_BARE_APP)
    port = free_port()
    log_path = work / "bare-app.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port)], stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1):
                    break
            except OSError:
                check(
                    proc.poll() is None and time.monotonic() < deadline, f"bare app failed: {tail(log_path)}"
                )
                time.sleep(0.1)
        with RssSampler(proc.pid) as rss:
            result = _single_load(f"http://127.0.0.1:{port}", api_key_for("bare"), seconds, seed=5_000)
        check(set(result["statuses"]) == {"201"}, f"bare app answered {result['statuses']}")
        return rss.peak
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def server_rss_rows(size: int, seconds: float) -> list[Row]:
    store = load_store(size)
    truth = truth_of(store)
    with temp_dir("footprint") as work:
        data = work / "data"
        shutil.copytree(store.path, data)  # the load writes; the shared store stays as loaded
        with running_server(data, work) as server:
            idle = _rss_now(server.process.pid)
            with RssSampler(server.process.pid) as rss:
                batch = run_job(
                    {
                        "mode": "batch",
                        "url": server.base_url,
                        "api_key": server.api_key,
                        "batch_size": 1_000,
                        "memories": 10_000,
                        "seed": 4_000,
                        "agent_prefix": "footprint_",
                    }
                )
                check(batch["stored"] == 10_000, f"footprint batch load stored {batch['stored']}")
                single = _single_load(server.base_url, server.api_key, seconds, seed=4_100)
                check(set(single["statuses"]) == {"201"}, f"single writes answered {single['statuses']}")
                reads = run_job(
                    {
                        "mode": "requests",
                        "url": server.base_url,
                        "api_key": server.api_key,
                        "requests": [http_request(c, truth) for c in plan(truth.shape, 40)],
                    }
                )
                check(reads["failure_count"] == 0, f"footprint reads failed: {reads['failures']}")
            samples = rss.samples
        peer_peak = bare_app_peak_rss(work, seconds)
    mib = 2**20
    return [
        Row(
            benchmark="5. footprint",
            metric=f"server peak RSS under load, MiB ({size:,} stored)",
            ours=rss.peak / mib,
            ours_p99=percentile(samples, 99) / mib,
            peer_name="bare FastAPI + uvicorn app, same single-write load",
            peer=peer_peak / mib,
            target="report only (no target set)",
            met=True,
            notes=(
                f"idle after start {idle / mib:,.0f} MiB, median under load {median(samples) / mib:,.0f} MiB; "
                f"load: 10,000 memories in batches, 32 single writers for {seconds:g} s, {len(OPS) * 40} reads"
            ),
            extra={"ratio": peer_peak / rss.peak if rss.peak else 0.0},
            samples=len(samples),
        )
    ]


def _rss_now(pid: int) -> int:
    from .server import process_tree_rss

    return process_tree_rss(pid)


def run(quick: bool) -> list[Row]:
    size = 100_000 if quick else 1_000_000
    rows = import_rows()
    rows += disk_rows(size)
    log("footprint: server RSS under load")
    rows += server_rss_rows(size, 5.0 if quick else 15.0)
    return rows
