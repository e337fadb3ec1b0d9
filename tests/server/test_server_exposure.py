"""The server facing hostile clients, over real sockets to a real `memtrace serve`: bodies are not read before
the caller is known, credentials are unambiguous, and oversize bodies are refused without being read."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from support.server import ServerProcess, stop

from memtrace_server.config import load_config
from memtrace_server.fairness import current_org
from memtrace_server.state import open_state

MiB = 1024 * 1024


def rss_figures(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in bytes."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) * 1024
    return figures


def address(server: ServerProcess) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def read_status(sock: socket.socket, timeout: float) -> int | None:
    """The status code of the first response on `sock`, or None if the server closed without one."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except ConnectionResetError:
        return None
    return int(data.split(b" ", 2)[1])


def post_large_body(server: ServerProcess, path: str, headers: str, size: int) -> int | None:
    """POST `size` bytes to `path` as a client that keeps sending while the server may already have answered;
    returns the answer's status."""
    sock = socket.create_connection(address(server))
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
            f"Content-Length: {size}\r\n\r\n".encode()
        )

        def send_body() -> None:
            chunk = b" " * MiB
            try:
                for _ in range(size // MiB):
                    sock.sendall(chunk)
            except OSError:  # the server answered and closed: what we want
                pass

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        status = read_status(sock, timeout=60)
        sender.join(timeout=60)
        return status
    finally:
        sock.close()


def test_unauthenticated_bodies_are_refused_without_being_read(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    # 8 concurrent 30 MiB POSTs without a valid key, to the fast path and to a FastAPI route: before the fix the
    # server read every body (in full) before checking the key, and grew by the sum of them.
    server = spawn_server()
    before = rss_figures(server.process.pid)
    bad_key = "x-api-key: mtk_" + "A" * 43 + "=\r\n"
    jobs = [
        ("/api/v1/memories", bad_key),
        ("/api/v1/memories", ""),
        ("/api/v1/search", bad_key),
        ("/api/v1/search", ""),
    ] * 2
    statuses: list[int | None] = [None] * len(jobs)

    def run(i: int) -> None:
        statuses[i] = post_large_body(server, jobs[i][0], jobs[i][1], 30 * MiB)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    after = rss_figures(server.process.pid)
    growth = after["VmHWM"] - before["VmRSS"]
    print(
        f"RSS before {before['VmRSS'] / MiB:.1f} MiB, peak after {after['VmHWM'] / MiB:.1f} MiB, {elapsed:.2f}s"
    )
    assert statuses == [401] * len(jobs)
    assert growth < 40 * MiB, (before, after)
    # The server still serves, and a real request with a body still works.
    with server.client() as client:
        assert client.post("/api/v1/memories", json={"agent_id": "a", "content": "ok"}).status_code == 201


def test_an_oversize_body_is_refused_from_its_length_or_while_streaming(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    server = spawn_server({"MEMTRACE_LIMITS_MAX_BODY_BYTES": str(64 * 1024)})
    key = f"x-api-key: {server.api_key}\r\n"
    # Declared too large: answered from the headers, without waiting for a byte of the body.
    sock = socket.create_connection(address(server))
    with sock:
        sock.sendall(
            f"POST /api/v1/search HTTP/1.1\r\nHost: x\r\n{key}Content-Length: {MiB}\r\n\r\n".encode()
        )
        assert read_status(sock, timeout=10) == 413
    # Chunked: cut as soon as the limit is passed, however much more the client means to send.
    sock = socket.create_connection(address(server))
    with sock:
        sock.sendall(
            f"POST /api/v1/memories HTTP/1.1\r\nHost: x\r\n{key}Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b" " * 16 * 1024
        for _ in range(5):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        assert read_status(sock, timeout=10) == 413


@pytest.mark.parametrize(
    "credentials",
    [
        [("x-api-key", "INVALID"), ("x-api-key", "VALID")],
        [("x-api-key", "VALID"), ("x-api-key", "INVALID")],
        [("x-api-key", "VALID"), ("authorization", "Bearer INVALID")],
        [("authorization", "Bearer VALID"), ("authorization", "Bearer INVALID")],
    ],
    ids=["two-keys", "two-keys-reversed", "key-and-bearer-disagree", "two-bearers"],
)
def test_ambiguous_credentials_are_refused_on_every_route(
    live_server,
    new_org_key: Callable[..., tuple[str, str, int]],
    uid: str,
    credentials: list[tuple[str, str]],
) -> None:  # type: ignore[no-untyped-def]
    # Before: the single-write fast path took the last x-api-key, the other routes the first, so
    # [invalid, valid] could write but not read.
    _, valid, _ = new_org_key()
    _, other, _ = new_org_key()
    headers = [(n, v.replace("INVALID", other).replace("VALID", valid)) for n, v in credentials]
    with httpx.Client(base_url=live_server.base_url) as client:
        write = client.post("/api/v1/memories", json={"agent_id": uid, "content": "x"}, headers=headers)
        batch = client.post(
            "/api/v1/memories", json={"memories": [{"agent_id": uid, "content": "y"}]}, headers=headers
        )
        read = client.get("/api/v1/memories", params={"agent_id": uid}, headers=headers)
        search = client.post("/api/v1/search", json={"query": "x"}, headers=headers)
        for response in (write, batch, read, search):
            assert response.status_code == 401, response.text
            assert "ambiguous credentials" in response.json()["error"]
        # Nothing was written by either key.
        for key in (valid, other):
            listed = client.get("/api/v1/memories", params={"agent_id": uid}, headers={"x-api-key": key})
            assert listed.json()["count"] == 0


def test_the_same_key_in_both_headers_is_accepted(live_server, uid: str) -> None:  # type: ignore[no-untyped-def]
    headers = {"x-api-key": live_server.api_key, "authorization": f"Bearer {live_server.api_key}"}
    with httpx.Client(base_url=live_server.base_url, headers=headers) as client:
        assert client.post("/api/v1/memories", json={"agent_id": uid, "content": "x"}).status_code == 201
        assert client.get("/api/v1/memories", params={"agent_id": uid}).json()["count"] == 1


def test_bad_key_floods_are_limited_per_address_by_default(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    server = spawn_server()  # the defaults
    with server.client() as admin:
        assert admin.get("/api/v1/memories").status_code == 200  # the admin key is verified and cached
    statuses: list[int] = []
    limited: list[httpx.Response] = []
    bad = {"x-api-key": "mtk_" + "B" * 43 + "="}

    def flood() -> None:
        # Several clients at once, so the flood outpaces the refill (10/s) even on a slow, loaded machine.
        with httpx.Client(base_url=server.base_url, headers=bad, timeout=30) as client:
            while len(statuses) < 2000 and not limited:
                response = client.get("/api/v1/memories")
                statuses.append(response.status_code)
                if response.status_code == 429:
                    limited.append(response)

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses[0] == 401 and limited and set(statuses) == {401, 429}, statuses
    assert int(limited[0].headers["retry-after"]) >= 1
    assert "failed authentications" in limited[0].json()["error"]
    with server.client() as admin:  # a key already verified keeps working from the same address
        assert admin.get("/api/v1/memories").status_code == 200


def test_429_is_answered_without_reading_the_body(spawn_server: Callable[..., ServerProcess]) -> None:
    server = spawn_server(
        {"MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "0.01", "MEMTRACE_LIMITS_RATE_LIMIT_BURST": "1"}
    )
    with server.client() as admin:
        assert admin.get("/api/v1/memories").status_code == 200  # the burst
    for path in ("/api/v1/memories", "/api/v1/search"):
        # Headers announce 10 MiB that never come: the answer must not wait for them.
        sock = socket.create_connection(address(server))
        with sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nx-api-key: {server.api_key}\r\n"
                f"Content-Length: {10 * MiB}\r\n\r\n".encode()
            )
            started = time.monotonic()
            assert read_status(sock, timeout=10) == 429
            assert time.monotonic() - started < 5


# ------------------------------------------------------------------ slow and oversized clients


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed `sock` within `seconds`, and what it sent before closing."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    received = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, received
        if not chunk:
            return True, received
        received += chunk
    return False, received


def test_a_64_mib_header_is_refused(spawn_server: Callable[..., ServerProcess]) -> None:
    server = spawn_server()
    before = rss_figures(server.process.pid)
    sock = socket.create_connection(address(server))
    sent = 0
    with sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        piece = b"a" * MiB
        try:
            for _ in range(64):
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass
        closed, reply = closed_within(sock, 10)
    assert closed and sent < 64 * MiB, sent  # cut long before the end
    assert not reply or reply.startswith(b"HTTP/1.1 431"), reply[:100]
    assert rss_figures(server.process.pid)["VmHWM"] - before["VmRSS"] < 16 * MiB
    assert httpx.get(server.base_url + "/health").status_code == 200


def test_slow_headers_and_slow_bodies_are_cut_at_their_deadlines(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    server = spawn_server({"MEMTRACE_SERVER_HEADER_TIMEOUT": "1", "MEMTRACE_SERVER_BODY_TIMEOUT": "1"})
    # Headers one byte at a time, each well within any per-read timeout: the whole head has a deadline.
    sock = socket.create_connection(address(server))
    with sock:
        started = time.monotonic()
        request = f"GET /api/v1/memories HTTP/1.1\r\nHost: x\r\nx-api-key: {server.api_key}\r\n".encode()
        closed = False
        for byte in request * 10:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - started > 6:
                break
        if not closed:
            closed, reply = closed_within(sock, 1)
        assert closed and time.monotonic() - started < 6
    # A connection that never sends anything is closed too.
    sock = socket.create_connection(address(server))
    with sock:
        assert closed_within(sock, 5)[0]
    # A body sent too slowly: 408, and the connection is closed.
    sock = socket.create_connection(address(server))
    with sock:
        sock.sendall(
            f"POST /api/v1/memories HTTP/1.1\r\nHost: x\r\nx-api-key: {server.api_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{".encode()
        )
        closed, reply = closed_within(sock, 5)
        assert closed and reply.startswith(b"HTTP/1.1 408"), reply
    with server.client() as client:  # nothing was written, and the server still serves
        assert client.get("/api/v1/memories").json()["count"] == 0


def test_half_open_connections_do_not_fail_normal_requests(
    spawn_server: Callable[..., ServerProcess],
) -> None:
    # 256 descriptors, 300 clients that open a connection, send half a request and wait: before, the server
    # ran out of descriptors and normal requests failed until the flood went away.
    server = spawn_server(fd_limit=256)
    flood: list[socket.socket] = []
    try:
        for _ in range(300):
            sock = socket.create_connection(address(server))
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            flood.append(sock)
        time.sleep(0.5)
        # Each on a new connection.
        statuses = [httpx.get(server.base_url + "/health", timeout=5).status_code for _ in range(10)]
        with server.client() as api:
            statuses.append(api.post("/api/v1/memories", json={"agent_id": "a", "content": "x"}).status_code)
        assert statuses == [200] * 10 + [201]
    finally:
        for sock in flood:
            sock.close()


# ------------------------------------------------------------------ the bootstrap admin key


def test_a_revoked_admin_key_stays_revoked_after_a_restart(
    spawn_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "kept"
    server = spawn_server(data_dir=data_dir)
    with server.client() as admin:
        replacement = admin.post(
            "/api/v1/keys", json={"name": "ops", "permissions": "read,write,admin"}
        ).json()
        own = next(k for k in admin.get("/api/v1/keys").json()["keys"] if k["name"] == "admin")
        assert admin.delete(f"/api/v1/keys/{own['id']}").status_code == 204
    stop(server)
    # The same environment (MEMTRACE_ADMIN_KEY) again: before, the revoked key was re-added and worked.
    again = spawn_server(data_dir=data_dir, api_key=server.api_key)
    with again.client() as revoked:
        assert revoked.get("/api/v1/memories").status_code == 401
    with again.client(replacement["key"]) as ops:
        keys = ops.get("/api/v1/keys").json()["keys"]
        assert [k["enabled"] for k in keys if k["prefix"] == own["prefix"]] == [False]
    assert f"MEMTRACE_ADMIN_KEY is key {own['id']} of org_default, which is revoked" in again.log()
    stop(again)
    # A new MEMTRACE_ADMIN_KEY is not added while the organisation has an admin key; the log says why.
    third = spawn_server(data_dir=data_dir)
    with third.client() as newcomer:
        assert newcomer.get("/api/v1/memories").status_code == 401
    assert "MEMTRACE_ADMIN_KEY is not added: org_default already has admin keys" in third.log()


# ------------------------------------------------------------------ one tenant cannot take every worker thread


async def test_a_busy_tenant_cannot_take_the_threads_another_tenant_needs(tmp_path: Path) -> None:
    # 8 worker threads; tenant A starts 8 store calls that block until released (think: 8 expensive searches).
    # Before, they took all 8 threads and tenant B's call waited for one of them to finish.
    state = open_state(load_config(None, env={}, search=False, overrides={"server.data_dir": str(tmp_path)}))
    release = threading.Event()
    running: list[str] = []
    lock = threading.Lock()

    def expensive() -> None:
        with lock:
            running.append("a")
        release.wait(30)

    async def as_org(org_id: str, fn: Callable[[], object]) -> object:
        current_org.set(org_id)  # what ServerMiddleware does once the request is authenticated
        return await state.run(fn)

    try:
        busy = [asyncio.create_task(as_org("org_a", expensive)) for _ in range(8)]
        for _ in range(100):
            await asyncio.sleep(0.02)
            if len(running) >= 4:
                break
        await asyncio.sleep(0.2)
        assert len(running) == 4  # capped at half the threads; the other 4 of A's calls wait their turn
        # B is admitted at once, while A is capped.
        assert await asyncio.wait_for(as_org("org_b", lambda: "b"), timeout=5) == "b"
        release.set()
        await asyncio.wait_for(asyncio.gather(*busy), timeout=10)
        assert len(running) == 8
    finally:
        release.set()
        state.close()
