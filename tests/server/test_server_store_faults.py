"""The store under hostile input and a hostile environment, as the `memtrace` command and a real server see it:
times out of range, files and their modes, full disks, damaged files, start-up refusals."""

from __future__ import annotations

from pathlib import Path

from test_server_cli import memtrace


def test_key_create_refuses_an_expiry_after_9999_and_key_list_keeps_working(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    made = memtrace("key", "create", "--org", "org_default", "--name", "late", "--expires",
                    "9999-12-31T23:59:59-12:00", "--data-dir", data)  # fmt: skip
    assert made.returncode != 0
    assert "expires" in made.stderr and "Traceback" not in made.stderr
    far = memtrace("key", "create", "--org", "org_default", "--name", "far", "--expires", "999999w",
                   "--data-dir", data)  # fmt: skip
    assert far.returncode != 0 and "expires" in far.stderr
    listed = memtrace("key", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    assert "late" not in listed.stdout and "far" not in listed.stdout
