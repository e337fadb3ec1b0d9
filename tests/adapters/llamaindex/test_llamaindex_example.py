"""examples/llamaindex_chat.py runs offline, as a user would run it, and shows what it promises."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "llamaindex_chat.py"


def run_example(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MEMTRACE_URL", "MEMTRACE_API_KEY")
    }
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--data-dir", str(data_dir)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_example_runs_offline(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run_example(data_dir)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "A fresh client reads 6 messages back" in out
    assert "memtrace recalled: - [" in out and "user: My favourite colour is teal." in out.split("again?")[-1]
    assert (data_dir / "memtrace.db").exists()  # it wrote where it was told, nowhere else
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def openai_integration_installed() -> bool:
    try:
        return importlib.util.find_spec("llama_index.llms.openai") is not None
    except ModuleNotFoundError:  # not even the llama_index.llms namespace
        return False


@pytest.mark.skipif(
    openai_integration_installed(),
    reason="llama-index-llms-openai is installed: the example would call the real API",
)
def test_example_with_a_key_but_no_openai_integration_says_so_and_runs_offline(tmp_path: Path) -> None:
    result = run_example(tmp_path / "data", OPENAI_API_KEY="sk-not-a-real-key")
    assert result.returncode == 0, result.stderr
    assert "llama-index-llms-openai is not installed" in result.stdout
    assert "(offline model)" in result.stdout
