"""Benchmark: the dashboard's pages at 100,000 (quick) and 1,000,000 (--full) stored memories.

Each page is fetched over HTTP from a `memtrace serve` on the bulk-loaded store, signed in with a session
cookie, and timed beside the same data fetched from the JSON API in the same round (the peer: what a client
of the API pays for the data the page shows, so the ratio is what rendering HTML costs). Pages and their API
twins take turns, so load from elsewhere on the machine hits both alike. The memories page's weight
(HTML + CSS + JS + icon) is reported too.

Server time is measured at the client on loopback (one keep-alive connection), which includes the same
HTTP overhead on both sides.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from .bulk_load import bench_workdir, load_store
from .common import Row, check, latency_row, log
from .server import running_server

TARGET_MS = 50.0
PAGE_WEIGHT_LIMIT_KB = 150.0
Fetch = Callable[[], None]


def _sign_in(ui: httpx.Client, key: str) -> None:
    form = ui.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    check(token is not None, "no CSRF token on the sign-in page")
    assert token is not None
    done = ui.post("/ui/login", data={"csrf": token.group(1), "api_key": key, "next": "/ui"})
    check(done.status_code == 303, f"sign-in failed: {done.status_code}")


def _ok(response: httpx.Response) -> None:
    check(response.status_code == 200, f"{response.request.url} answered {response.status_code}")


def _pages(ui: httpx.Client, api: httpx.Client, agent: str, session: str) -> dict[str, tuple[Fetch, Fetch]]:
    """page name -> (fetch the page, fetch the same data from the JSON API)."""
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    memory_id = api.get("/api/v1/memories", params={"limit": 1}).json()["memories"][0]["id"]
    deep_cursor = f"{int(datetime.fromisoformat(week_ago).timestamp() * 1e6)}.0"

    def both(*calls: Callable[[], httpx.Response]) -> Fetch:
        def run() -> None:
            for call in calls:
                _ok(call())

        return run

    return {
        "overview": (
            both(lambda: ui.get("/ui")),
            # No API gives per-type counts or a histogram; the nearest: sessions and the recent memories.
            both(
                lambda: api.get("/api/v1/sessions"),
                lambda: api.get("/api/v1/memories", params={"limit": 500}),
            ),
        ),
        "memories (first page)": (
            both(lambda: ui.get("/ui/memories")),
            both(lambda: api.get("/api/v1/memories", params={"limit": 50})),
        ),
        "memories (a week back, keyset)": (
            both(lambda: ui.get("/ui/memories", params={"cursor": deep_cursor})),
            both(lambda: api.get("/api/v1/memories", params={"limit": 50, "until": week_ago})),
        ),
        "memories (agent filter)": (
            both(lambda: ui.get("/ui/memories", params={"agent_id": agent})),
            both(lambda: api.get("/api/v1/memories", params={"limit": 50, "agent_id": agent})),
        ),
        "search": (
            both(lambda: ui.get("/ui/memories", params={"q": "deploy failed database"})),
            both(lambda: api.post("/api/v1/search", json={"query": "deploy failed database", "limit": 51})),
        ),
        "memory detail": (
            both(lambda: ui.get(f"/ui/memories/{memory_id}")),
            both(lambda: api.get(f"/api/v1/memories/{memory_id}")),
        ),
        "sessions": (
            both(lambda: ui.get("/ui/sessions")),
            both(lambda: api.get("/api/v1/sessions")),
        ),
        "session detail + context": (
            both(lambda: ui.get(f"/ui/sessions/{session}")),
            both(
                lambda: api.post(f"/api/v1/sessions/{session}/context", json={}),
                lambda: api.get(f"/api/v1/sessions/{session}/memories", params={"limit": 20}),
            ),
        ),
        "agent detail": (
            both(lambda: ui.get(f"/ui/agents/{agent}")),
            both(lambda: api.get(f"/api/v1/agents/{agent}/stats")),
        ),
        "agents (20 with stats)": (
            both(lambda: ui.get("/ui/agents")),
            # The page's data is each shown agent's stats; the API needs a call per agent.
            both(*[(lambda a=a: api.get(f"/api/v1/agents/{a}/stats")) for a in _agents_shown(api)]),
        ),
    }


def _agents_shown(api: httpx.Client) -> list[str]:
    recent = api.get("/api/v1/memories", params={"limit": 500}).json()["memories"]
    seen: dict[str, None] = {}
    for m in recent:
        seen.setdefault(m["agent_id"], None)
    return list(seen)[:20]


def _timed(fetch: Fetch) -> float:
    started = time.perf_counter()
    fetch()
    return (time.perf_counter() - started) * 1000


def _page_weight_kb(ui: httpx.Client) -> float:
    html = ui.get("/ui/memories")
    _ok(html)
    total = len(html.content)
    for asset in re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', html.text):
        response = ui.get(asset)
        _ok(response)
        total += len(response.content)
    return total / 1024


def rows_for(size: int, rounds: int) -> list[Row]:
    store = load_store(size)
    shape = store.dataset().shape
    agent, session = shape.agents[0], shape.context_sessions[0]
    label = f"{size:,}"
    rows: list[Row] = []
    with (
        running_server(store.path, bench_workdir()) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as ui,
        httpx.Client(base_url=server.base_url, headers={"x-api-key": server.api_key}, timeout=60) as api,
    ):
        _sign_in(ui, server.api_key)
        pages = _pages(ui, api, agent, session)
        for page_fetch, api_fetch in pages.values():  # warm caches and the key cache
            page_fetch()
            api_fetch()
        log(f"ui pages at {label}: {rounds} rounds of {len(pages)} pages, each beside its API twin")
        ours: dict[str, list[float]] = {name: [] for name in pages}
        peer: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(rounds):
            for name, (page_fetch, api_fetch) in pages.items():
                ours[name].append(_timed(page_fetch))
                peer[name].append(_timed(api_fetch))
        weight = _page_weight_kb(ui)
    for name in pages:
        rows.append(
            latency_row(
                f"ui. dashboard pages at {label}",
                f"{name}, ms",
                ours[name],
                "JSON API, same data (same run)",
                peer[name],
                target_ms=TARGET_MS,
                notes=f"{rounds} requests over one keep-alive connection, in turn with the API twin",
            )
        )
    rows.append(
        Row(
            benchmark=f"ui. dashboard pages at {label}",
            metric="memories page weight, KB (HTML + CSS + JS + icon)",
            ours=round(weight, 1),
            peer_name="the target",
            peer=None,
            target=f"< {PAGE_WEIGHT_LIMIT_KB:g} KB",
            met=weight < PAGE_WEIGHT_LIMIT_KB,
            notes="uncompressed; 50 memories on the page",
        )
    )
    return rows


def run(quick: bool) -> list[Row]:
    return rows_for(100_000, 30) if quick else rows_for(1_000_000, 60)


if __name__ == "__main__":
    for row in rows_for(20_000, 10):
        print(row.metric, f"{row.ours:.1f}", row.peer, row.target, row.met)
