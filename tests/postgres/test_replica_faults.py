"""A PostgreSQL that cuts connections, refuses them, or is given wrongly: 503 with Retry-After (never 500),
nothing acknowledged lost, recovery when it answers again, and a wrong URL fails start-up in one line.
The PostgreSQL service itself is never stopped: connections are cut with pg_terminate_backend and refused with
``ALTER DATABASE ... ALLOW_CONNECTIONS false`` on a database of the test's own."""

from __future__ import annotations

import concurrent.futures
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from support.server import run_cli

from .replicas import RoundRobin, replicas
from .server import allow_connections, fresh_database_url, terminate_backends

pytestmark = pytest.mark.slow


def test_a_wrong_url_fails_start_up_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    for url in (
        "postgresql://postgres@127.0.0.1:1/nowhere",
        "postgresql://postgres@127.0.0.1:5432/memtrace_test_absent",
    ):
        done = run_cli(["serve", "--port", "1", "--store-url", url], cwd=tmp_path)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(
            "memtrace: configuration error: store.url (--store-url / MEMTRACE_STORE_URL): "
        )
        assert "cannot connect to PostgreSQL" in lines[0]


class Writer:
    """Writes distinct memories as fast as it can; remembers what was acknowledged and every status seen."""

    def __init__(self, post) -> None:  # type: ignore[no-untyped-def]
        self.post = post
        self.acknowledged: set[str] = set()
        self.statuses: list[int] = []
        self.retry_after_missing = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def run(self, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            content = f"w{worker}-{n}"
            n += 1
            try:
                response = self.post(
                    {
                        "memories": [
                            {"agent_id": "load", "content": f"{content} part {p}", "tags": [content]}
                            for p in range(3)
                        ]
                    }
                )
            except httpx.TransportError:
                continue  # the connection to a killed replica: not acknowledged
            with self._lock:
                self.statuses.append(response.status_code)
                if response.status_code == 201:
                    self.acknowledged.add(content)
                elif response.status_code == 503 and "retry-after" not in response.headers:
                    self.retry_after_missing += 1


def _stored_groups(client: httpx.Client) -> dict[str, int]:
    groups: dict[str, int] = {}
    offset = 0
    while True:
        page = client.get(
            "/api/v1/memories", params={"agent_id": "load", "limit": 1000, "offset": offset}
        ).json()
        for m in page["memories"]:
            tag = m["tags"][0]
            groups[tag] = groups.get(tag, 0) + 1
        if len(page["memories"]) < 1000:
            return groups
        offset += 1000


def _wait_ready(client: httpx.Client, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, "not ready again in time"
        time.sleep(0.2)


def test_cut_and_refused_connections_answer_503_lose_nothing_and_recover(tmp_path: Path) -> None:
    with fresh_database_url() as url, replicas(tmp_path, url, 1) as [server]:
        client = server.client()
        writer = Writer(lambda body: client.post("/api/v1/memories", json=body))
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            workers = [pool.submit(writer.run, n) for n in range(4)]
            try:
                time.sleep(0.5)
                for _ in range(3):  # failovers: every connection cut under load
                    assert terminate_backends(url) > 0
                    time.sleep(0.5)
                allow_connections(url, False)  # the database goes away for a while
                try:
                    terminate_backends(url)
                    time.sleep(1.0)
                    ready = client.get("/ready")
                    assert ready.status_code == 503 and ready.headers.get("retry-after"), ready.text
                    down = client.get("/api/v1/memories", params={"limit": 1})
                    assert down.status_code == 503 and down.headers.get("retry-after"), down.text
                finally:
                    allow_connections(url, True)
                _wait_ready(client, 30)
                time.sleep(0.5)
            finally:
                writer.stop.set()
            for w in workers:
                w.result()
        assert set(writer.statuses) <= {201, 503}, sorted(set(writer.statuses))
        assert writer.statuses.count(201) > 10 and writer.retry_after_missing == 0
        assert (
            client.post("/api/v1/memories", json={"agent_id": "after", "content": "back"}).status_code == 201
        )
        groups = _stored_groups(client)
        assert writer.acknowledged <= set(groups), "an acknowledged write is missing"
        assert set(groups.values()) == {3}, "a batch was half-written"
        client.close()


def test_a_replica_killed_under_write_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with fresh_database_url() as url, replicas(tmp_path, url, 2) as servers:
        lb = RoundRobin(servers)
        writer = Writer(lambda body: lb.request("POST", "/api/v1/memories", json=body))
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            workers = [pool.submit(writer.run, n) for n in range(6)]
            time.sleep(1.5)
            servers[0].stop(signal.SIGKILL)
            time.sleep(1.0)
            writer.stop.set()
            for w in workers:
                w.result()
        lb.close()
        assert writer.statuses.count(201) > 20
        with servers[1].client() as survivor:
            groups = _stored_groups(survivor)
        assert writer.acknowledged <= set(groups), "an acknowledged write is missing"
        assert set(groups.values()) == {3}, "a batch was half-written"
