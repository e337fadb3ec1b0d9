"""Server test fixtures.

- `api`: the app in-process through FastAPI's TestClient, on its own data directory (fast HTTP-level checks).
- `spawn_server`: start a real `memtrace serve` process on loopback with extra settings (rate limits, size
  limits, JSON logs), for the cases the shared `live_server` cannot cover. Stopped at the end of the test.
- `admin`: an httpx client with the shared `live_server`'s admin key, and `new_org_key` to make tenants on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from support.server import Api, ServerProcess, launch, new_key, stop

from memtrace_server.app import create_app
from memtrace_server.config import load_config
from memtrace_server.keys import bootstrap
from memtrace_server.state import open_state


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp("api") / "data"
    config = load_config(None, env={}, search=False, overrides={"server.data_dir": str(data_dir)})
    state = open_state(config)
    key = new_key()
    bootstrap(state.keys, key)
    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        yield Api(client, key, data_dir)


@pytest.fixture
def uid() -> str:
    """A unique agent/session id for one test."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def spawn_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def spawn(
        env: dict[str, str] | None = None,
        *,
        data_dir: Path | None = None,
        api_key: str | None = None,
        args: list[str] | None = None,
        fd_limit: int | None = None,
    ) -> ServerProcess:
        server = launch(
            data_dir or tmp_path / f"data{len(started)}", api_key or new_key(), env, args, fd_limit=fd_limit
        )
        started.append(server)
        return server

    yield spawn
    for server in started:
        stop(server)


# ------------------------------------------------------------------ tenants on the shared live server


@pytest.fixture
def admin(live_server) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": live_server.api_key}) as client:
        yield client


@pytest.fixture
def new_org_key(admin: httpx.Client) -> Callable[..., tuple[str, str, int]]:
    """Create an organisation (or reuse one) and a key in it; returns (org_id, key, key_id)."""

    def make(org_id: str | None = None, permissions: str = "read,write") -> tuple[str, str, int]:
        if org_id is None:
            org = admin.post("/api/v1/orgs", json={"name": "tenant " + uuid.uuid4().hex[:6]})
            assert org.status_code == 201, org.text
            org_id = org.json()["id"]
        created = admin.post(
            "/api/v1/keys",
            json={"org_id": org_id, "name": "k-" + uuid.uuid4().hex[:8], "permissions": permissions},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        return org_id, body["key"], body["id"]

    return make
