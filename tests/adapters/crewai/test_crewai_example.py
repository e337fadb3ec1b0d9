"""examples/crewai_shared_memory.py runs offline, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "crewai_shared_memory.py"


def test_the_example_runs_offline(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MEMTRACE_URL", "MEMTRACE_API_KEY")
    }
    # A private HOME, and no CrewAI storage override, so we see every file CrewAI itself writes.
    env.update({"HOME": str(home), "MEMTRACE_DATA_DIR": str(work / "data")})
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "CREWAI_STORAGE_DIR"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, cwd=work, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    research = "Tuesday 14 May: no competing launches that week and the app-store review takes 5 days."
    assert f"Writer: Aurora arrives on Tuesday 14 May. Based on research: {research}" in out
    assert f"Reviewer: Risk check done. Recalled from the earlier crew: {research}" in out
    assert "stored decision: Launch Aurora on Tuesday 14 May. (reasoning: No competing launches" in out
    assert "## Session Context (run-" in out
    assert "approximate input token count" not in done.stderr + out
    # memtrace wrote only into its data directory; CrewAI only under HOME.
    assert sorted(p.name for p in work.iterdir()) == ["data"]
    assert (home / ".local" / "share").is_dir()
