"""The progress bar of `memtrace export`/`import`: drawn on a terminal, silent anywhere else."""

from __future__ import annotations

import io

from memtrace_server import progress
from memtrace_server.progress import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redrawn_line_ended_at_close(monkeypatch) -> None:
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    screen = _Terminal()
    bar = ProgressBar("importing", total=200, stream=screen)
    bar.update(50, "5 memories in")
    bar.update(200, "20 memories in")
    bar.close()
    drawn = screen.getvalue()
    assert drawn.startswith("\rimporting [#######.......................]  25%  5 memories in\x1b[K")
    assert "\rimporting [##############################] 100%  20 memories in\x1b[K\n" in drawn
    assert drawn.count("\n") == 1


def test_without_a_total_it_shows_the_count_and_redraws_at_most_every_interval() -> None:
    screen = _Terminal()
    bar = ProgressBar("exporting", stream=screen)
    for n in range(1000):
        bar.update(n, f"{n} memories")
    bar.close()
    assert screen.getvalue().startswith("\rexporting  0 memories")
    assert screen.getvalue().count("\r") < 10  # not once per update


def test_a_pipe_or_a_log_gets_nothing() -> None:
    pipe = io.StringIO()
    bar = ProgressBar("importing", total=10, stream=pipe)
    bar.update(5, "half", force=True)
    bar.close()
    assert pipe.getvalue() == ""
