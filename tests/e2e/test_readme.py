"""The README's quickstart runs as printed, in a fresh directory, and prints what its comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_runs_as_printed(tmp_path: Path) -> None:
    quickstart = python_blocks()[0]
    result = subprocess.run(
        [sys.executable, "-c", quickstart], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "User prefers dark mode and short answers"
    assert lines[1] == "3"
    assert lines[2].startswith("## Session Context (sess_")
    assert "Asked about the March invoice" in result.stdout
    assert (tmp_path / "memtrace-data" / "memtrace.db").exists()  # nothing written elsewhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memtrace-data"]


def test_facts_that_change_run_as_printed(tmp_path: Path) -> None:
    [block] = [b for b in python_blocks() if "fact_history" in b]
    result = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Lives in Berlin", "['Lives in Paris', 'Lives in Berlin']", "1"]
