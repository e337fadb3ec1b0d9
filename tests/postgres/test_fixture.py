"""Without a PostgreSQL server the PostgreSQL tests skip, loudly, except under CI=true, where they fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .server import URL_VARIABLE
from .test_store_behaviour import _closed_port

PROBE = """
from postgres.server import session_database_url

def test_needs_postgres():
    session_database_url()
"""


@pytest.mark.parametrize("ci", [None, "true"])
def test_no_server_skips_with_the_reason_or_fails_under_ci(tmp_path: Path, ci: str | None) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env[URL_VARIABLE] = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # tests/, where `postgres` lives
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # a bare pytest starts in a fraction of the time
    if ci:
        env["CI"] = ci
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-rs",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_probe.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "NO POSTGRESQL: cannot reach 127.0.0.1" in result.stdout
    if ci:
        assert result.returncode == 1 and "1 failed" in result.stdout
    else:
        assert result.returncode == 0 and "1 skipped" in result.stdout
