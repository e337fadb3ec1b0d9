"""Benchmark: the dashboard's session-reading pages (overview, agents, sessions) with many sessions, this code
against an older revision of it, on one store.

The bench store (`bulk_load.load_store`, 100,000 memories by default) gets `--sessions` opened sessions written
through the metadata store (spread over 30 days across the dataset's agents, most of them closed, as when agents
open a session per conversation). Two `memtrace serve` processes share that store: one runs this checkout, the
other the packages of `--old` (a git revision, extracted with ``git archive`` and put first on PYTHONPATH).
Each page is fetched from both in turn, the order flipping every round, so load from elsewhere on the machine
hits both alike; the sessions both list (ids and totals) are compared, so the figures are for the same answer.

    uv run --locked python -m bench.ui_session_pages --old main --rounds 21
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import tarfile
import time
from io import BytesIO
from pathlib import Path

import httpx

from memtrace.stores import SessionRow, open_stores

from .bulk_load import bench_workdir, load_store
from .common import check, log
from .server import api_key_for, start_server, stop_server

DAY_US = 86_400_000_000
PAGES: dict[str, tuple[str, dict[str, str | int | None]]] = {
    "overview": ("/ui", {}),
    "agents": ("/ui/agents", {}),
    "sessions (first page)": ("/ui/sessions", {}),
    "sessions (active, page 2)": ("/ui/sessions", {"status": "active", "offset": 100}),
    "sessions (one agent)": ("/ui/sessions", {"agent_id": None}),  # the dataset's first agent
}


def add_sessions(data_dir: str, count: int, agents: tuple[str, ...], anchor_us: int, seed: int = 7) -> str:
    """Open `count` sessions in the store's organisation (once per store); its org id."""
    stores = open_stores(data_dir)
    try:
        (org,) = stores.metadata.list_orgs()
        have = sum(stores.metadata.count_sessions(org.id, a) for a in agents)
        if have >= count:
            return org.id
        rng = random.Random(seed)
        log(f"opening {count - have:,} sessions")
        for i in range(have, count):
            created = anchor_us - rng.randrange(30 * DAY_US)
            updated = created + rng.randrange(2 * 3_600_000_000)
            closed = rng.random() < 0.9
            row = SessionRow(
                f"conv_{i:07d}",
                org.id,
                agents[rng.randrange(len(agents))],
                "closed" if closed else "active",
                '{"channel": "chat"}',
                created,
                updated,
                updated if closed else None,
            )
            stores.metadata.create_session(row)
        return org.id
    finally:
        stores.close()


def old_packages(revision: str, into: Path) -> str:
    """The `revision`'s core and server sources, extracted once; a PYTHONPATH for them."""
    root = into / f"old-{revision.replace('/', '_')}"
    paths = [root / "packages/memtrace-core/src", root / "packages/memtrace-server/src"]
    if not root.exists():
        archive = subprocess.run(
            ["git", "archive", revision, "packages/memtrace-core/src", "packages/memtrace-server/src"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
    return ":".join(str(p) for p in paths)


def _signed_in(base_url: str, key: str) -> httpx.Client:
    ui = httpx.Client(base_url=base_url, timeout=120)
    form = ui.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = ui.post("/ui/login", data={"csrf": token.group(1), "api_key": key, "next": "/ui"})
    check(done.status_code == 303, f"sign-in failed: {done.status_code}")
    return ui


def _shown(html: str) -> tuple[list[str], list[str]]:
    """What the page says about sessions: their links and the numbers beside them."""
    return re.findall(r'href="/ui/sessions/([^"]+)"', html), re.findall(
        r"of (\d+)</p>|(\d+) \((\d+)\)</td>|<span class=\"num\">(\d+)</span><span class=\"label\">open", html
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", default="main", help="git revision to compare against")
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    store = load_store(args.memories)
    shape = store.dataset().shape
    add_sessions(store.data_dir, args.sessions, tuple(shape.agents), store.anchor_us)
    workdir = bench_workdir()
    key = api_key_for("memtrace-bench-admin")
    old_path = old_packages(args.old, workdir)
    for version in ("new", "old"):
        (workdir / version).mkdir(exist_ok=True)
    new = start_server(Path(store.data_dir), workdir / "new", api_key=key)
    old = start_server(Path(store.data_dir), workdir / "old", api_key=key, env={"PYTHONPATH": old_path})
    try:
        clients = {"new": _signed_in(new.base_url, key), "old": _signed_in(old.base_url, key)}
        times: dict[str, dict[str, list[float]]] = {name: {"new": [], "old": []} for name in PAGES}
        for round_ in range(args.rounds + 1):  # round 0 warms up and compares the answers
            order = ["new", "old"] if round_ % 2 else ["old", "new"]
            for name, (path, params) in PAGES.items():
                query = {k: (v if v is not None else shape.agents[0]) for k, v in params.items()}
                bodies = {}
                for version in order:
                    started = time.perf_counter()
                    r = clients[version].get(path, params=query)
                    elapsed = (time.perf_counter() - started) * 1000
                    check(r.status_code == 200, f"{version} {path} answered {r.status_code}")
                    bodies[version] = r.text
                    if round_:
                        times[name][version].append(elapsed)
                if round_ == 0:
                    check(_shown(bodies["new"]) == _shown(bodies["old"]), f"{name}: the versions disagree")
        print(f"{args.memories:,} memories, {args.sessions:,} sessions; p50 of {args.rounds} requests, ms")
        print(f"{'page':28} {'old':>9} {'new':>9} {'old/new':>8}")
        for name, by in times.items():
            o, n = statistics.median(by["old"]), statistics.median(by["new"])
            print(f"{name:28} {o:9.1f} {n:9.1f} {o / n:8.1f}")
    finally:
        stop_server(new)
        stop_server(old)


if __name__ == "__main__":
    main()
