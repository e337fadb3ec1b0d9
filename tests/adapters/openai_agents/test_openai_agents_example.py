"""examples/openai_agents_memory.py runs offline, and a second process continues its conversation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "openai_agents_memory.py"


def run_example(tmp_path: Path) -> str:
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MEMTRACE_URL", "MEMTRACE_API_KEY")
    }
    env.update({"MEMTRACE_DATA_DIR": str(tmp_path / "data"), "OPENAI_AGENTS_DISABLE_TRACING": "1"})
    # cwd is a temp dir, so nothing can land in the repository whatever the example does.
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_example_runs_offline_and_resumes_in_a_new_process(tmp_path: Path) -> None:
    first = run_example(tmp_path).splitlines()
    assert first[0] == "run 1 > Got it, I'll remember that."
    # The second run's answer came from memtrace: the model only echoes what memtrace_search returned.
    assert first[1] == "run 2 > From memory: User said: I prefer dark mode and short answers."
    assert first[2].startswith("session 'example-user-42' holds 8 items: user message, function_call,")

    second = run_example(tmp_path).splitlines()
    assert second[0] == "run 1 > I already knew that."  # the same fact again is a duplicate within 24 h
    assert second[2].startswith("session 'example-user-42' holds 16 items")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
