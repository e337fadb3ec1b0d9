"""The unmodified memtrace-sdk 0.2.0 from PyPI, all 19 methods (sync and async), against a real server.

The SDK imports as `memtrace`, like our package, so it runs in an isolated environment of its own
(``uv run --isolated --no-project --with memtrace-sdk==0.2.0``). The test skips, saying why, only when that
environment cannot be created (no uv, or PyPI unreachable). It runs against the embedded-store server and against
a server on PostgreSQL (which skips, loudly, when no PostgreSQL answers, and fails under CI=true).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.server import ServerProcess, make_api_key, start_server

SDK = "memtrace-sdk==0.2.0"
SCRIPT = Path(__file__).with_name("sdk_script.py")
SDK_METHODS = {
    "remember", "recall", "decide", "add_memory", "add_memories", "list_memories", "search_memories",
    "register_agent", "list_agents", "get_agent", "get_agent_stats", "get_agent_memories", "delete_agent",
    "create_session", "get_session", "get_session_context", "get_session_memories", "list_sessions",
    "close_session",
}  # fmt: skip


def _uv() -> list[str] | None:
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    return [sys.executable, "-m", "uv"] if probe.returncode == 0 else None


def _isolated_env() -> dict[str, str]:
    # Nothing of our environment may leak into the SDK's: no active venv, no extra import paths.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


@pytest.fixture(scope="module")
def sdk_runner(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not available, so an isolated memtrace-sdk environment cannot be created")
    command = [
        *uv,
        "run",
        "--isolated",
        "--no-project",
        "--python",
        sys.version.split()[0],
        "--with",
        SDK,
        "python",
    ]
    cwd = tmp_path_factory.mktemp("sdk")
    probe = subprocess.run(
        [*command, "-c", "import memtrace; print(memtrace.__version__, memtrace.__file__)"],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=_isolated_env(),
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(
            f"cannot create an isolated {SDK} environment (is PyPI reachable?): {probe.stderr[-500:]}"
        )
    version, location = probe.stdout.split()[:2]
    assert version == "0.2.0"
    assert not location.startswith(str(Path(__file__).parents[2])), "the SDK must not be our package"
    return command


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A memtrace server whose store is a fresh PostgreSQL database."""
    from postgres.server import fresh_database_url

    root = tmp_path_factory.mktemp("pg-server")
    with fresh_database_url() as url:
        server = start_server(
            root / "never-created",
            api_key=make_api_key(b"sdk-on-postgres"),
            store_url=url,
            log_dir=root,
        )
        yield server
        server.stop(timeout=15)


@pytest.mark.parametrize("store", ["embedded", "postgres"])
def test_sdk_0_2_0_runs_all_19_methods_sync_and_async(
    store: str, request: pytest.FixtureRequest, sdk_runner: list[str], tmp_path: Path
) -> None:
    server: ServerProcess = request.getfixturevalue(
        "live_server" if store == "embedded" else "postgres_server"
    )
    done = subprocess.run(
        [*sdk_runner, str(SCRIPT), server.base_url, server.api_key],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_isolated_env(),
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report["sync"]) == SDK_METHODS
    assert set(report["async"]) == SDK_METHODS
