"""examples/langchain_chat.py runs offline, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "langchain_chat.py"


def test_the_example_runs_offline(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MEMTRACE_URL", "MEMTRACE_API_KEY")
    }
    env["MEMTRACE_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "assistant: (offline model) You told me your name is Ada." in out
    assert "A fresh client reads back 6 messages" in out
    assert "memtrace_remember -> Remembered as mem_" in out
    assert "memtrace_search -> - mem_" in out and "Ada prefers oat milk in her tea" in out
    assert "find_preferences -> Answers in short bullet points" in out
    assert "## Session Context (k_ada-example-com-" in out and "human_message: What is my name?" in out
    # Everything it wrote is in the configured data directory, nothing in the working directory.
    assert (tmp_path / "data").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
