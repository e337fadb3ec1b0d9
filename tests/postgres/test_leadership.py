"""`Leadership`: background jobs run on exactly one process per database, and move when the leader goes."""

from __future__ import annotations

import threading
import time

from memtrace_server.leadership import Leadership

from .server import fresh_database_url, terminate_backends


def _wait(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_jobs_run_on_one_leader_only_and_move_when_it_stops_or_loses_its_connection() -> None:
    runs: dict[str, int] = {"a": 0, "b": 0}
    both_led = threading.Event()
    running: set[str] = set()
    with fresh_database_url() as url:
        nodes = {name: Leadership(url, retry_seconds=0.1) for name in runs}

        def job(name: str) -> None:
            running.add(name)
            if len(running) > 1:
                both_led.set()
            runs[name] += 1
            time.sleep(0.005)
            running.discard(name)

        for name, node in nodes.items():
            node.add_job("count", 0.05, lambda name=name: job(name))
            node.start()
        try:
            _wait(lambda: sum(n.is_leader for n in nodes.values()) == 1)
            time.sleep(1.0)
            leader = next(name for name, n in nodes.items() if n.is_leader)
            follower = "b" if leader == "a" else "a"
            assert runs[leader] >= 5 and runs[follower] == 0

            nodes[leader].stop()  # a clean shutdown hands over
            _wait(lambda: nodes[follower].is_leader)
            before = runs[follower]
            _wait(lambda: runs[follower] > before)

            nodes[leader].start()
            time.sleep(0.5)
            assert not nodes[leader].is_leader  # the lock is held: it follows

            # The database cuts the leader's session (failover, pg_terminate_backend): it notices before its
            # next round of jobs, and someone leads again.
            terms = sum(n.terms for n in nodes.values())
            terminate_backends(url)
            _wait(lambda: sum(n.terms for n in nodes.values()) > terms)
            _wait(lambda: sum(n.is_leader for n in nodes.values()) == 1)
            assert not both_led.is_set(), "two processes ran the job at the same time"
        finally:
            for node in nodes.values():
                node.stop()


def test_without_postgres_the_one_process_leads() -> None:
    node = Leadership(None, retry_seconds=0.05)
    ran = threading.Event()
    node.add_job("once", 10.0, ran.set)
    node.start()
    try:
        assert ran.wait(5) and node.is_leader
    finally:
        node.stop()
    assert not node.is_leader
