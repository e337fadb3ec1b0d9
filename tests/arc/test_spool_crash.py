"""A writer killed with SIGKILL at a random moment loses no acknowledged memory.

The writer process prints each memory id right after `add_memory`/`add_memories` returns (that is the
acknowledgement), unbuffered. The test kills it at a random moment (mid-append, mid-claim, mid-send: wherever
it happens to be), reopens the same data directory, and checks that every printed id reaches Arc exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memtrace import ArcConfig, Memtrace
from memtrace.stores.arc import ArcEventStore

from .helpers import arc_config, assert_exactly_once, drained, wait_until

WRITER = r"""
import os, sys
from memtrace import AddMemoryRequest, ArcConfig, Memtrace

url, token, admin, database, path, name = sys.argv[1:7]
config = ArcConfig(url=url, token=token, admin_token=admin, database=database, batch_size=40,
                   flush_interval=0.005, confirm_interval=0.02, visibility_timeout=5.0)
with Memtrace.open(path, arc=config) as mt:
    i = 0
    while True:
        if i % 4 == 0:
            reqs = [AddMemoryRequest(agent_id=name, content=f"{name} batch {i} {j}", dedup_key=f"{name}-{i}-{j}")
                    for j in range(5)]
            ids = [m.id for m in mt.add_memories(reqs)]
        else:
            ids = [mt.add_memory(AddMemoryRequest(agent_id=name, content=f"{name} single {i}",
                                                   dedup_key=f"{name}-{i}")).id]
        os.write(1, ("".join(x + "\n" for x in ids)).encode())
        i += 1
"""


def _acknowledged(output: bytes) -> set[str]:
    lines = output.decode().split("\n")
    return {line for line in lines[:-1] if line}  # the last piece may be cut off by the kill


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_memory(standin, tmp_path: Path) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    config = arc_config(standin, database="crash")
    data = tmp_path / "data"
    acknowledged: set[str] = set()
    for round_no in range(3):
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                config.url,
                str(config.token),
                str(config.admin_token),
                config.database,
                str(data),
                f"w{round_no}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert writer.stdout is not None
        # Wait for the first acknowledgement (imports take a while), then kill at a random moment.
        first = writer.stdout.readline()
        assert first.strip(), writer.stderr.read().decode() if writer.stderr else "writer failed"
        time.sleep(rng.uniform(0.05, 1.5))
        writer.send_signal(signal.SIGKILL)
        rest, _ = writer.communicate(timeout=30)
        got = _acknowledged(first + rest)
        assert len(got) > 0
        acknowledged |= got

    # Restart: opening the directory again resumes the spool, and the flusher delivers what is left.
    store = ArcEventStore(config, data)
    try:
        wait_until(lambda: drained(store), timeout=60, what="the resumed spool to drain")
    finally:
        store.close()
    assert len(acknowledged) >= 30
    assert_exactly_once(standin, "crash", acknowledged)

    with Memtrace.open(data, arc=ArcConfig(**{**config.__dict__})) as mt:
        for memory_id in rng.sample(sorted(acknowledged), 20):
            assert mt.get_memory(memory_id).id == memory_id
