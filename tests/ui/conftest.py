"""Fixtures for the dashboard tests: a real `memtrace serve` with two organisations and keys of every kind,
seeded with memories (some carrying XSS payloads), and Debian's Chromium driven by Playwright.

The browser is ``/usr/bin/chromium`` (``CHROMIUM`` overrides it); Playwright's own browser download is never
used. Without it the browser tests skip with the reason, except under ``CI=true``, where they fail: CI must
run them (``make test`` installs Chromium when it runs as root).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.dashboard import CHROMIUM, GUARD_SCRIPT, Dashboard, Tab, create_key, seed
from support.server import make_api_key, start_server


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("ui")
    admin_key = make_api_key(b"memtrace-ui-admin-" + uuid.uuid4().bytes[:8])
    server = start_server(root / "data", api_key=admin_key)
    try:
        with httpx.Client(base_url=server.base_url, headers={"x-api-key": admin_key}, timeout=30) as admin:
            admin.post("/api/v1/orgs", json={"name": "Other tenant", "id": "org_other"}).raise_for_status()
            board = Dashboard(
                server=server,
                admin_key=admin_key,
                write_key=create_key(admin, "org_default", "writer", ["read", "write"]),
                read_key=create_key(admin, "org_default", "reader", ["read"]),
                other_org_key=create_key(admin, "org_other", "other", ["read", "write"]),
                agents=["planner", "coder", "reviewer"],
                session_id="sess-ui-demo",
            )
            admin.post(
                "/api/v1/sessions", json={"agent_id": "planner", "id": board.session_id}
            ).raise_for_status()
            board.memory_ids, board.xss_ids = seed(admin, agents=board.agents, session_id=board.session_id)
        board.secret = (root / "data" / "ui_session_secret").read_bytes().strip()
        yield board
    finally:
        server.stop(timeout=15)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        reason = (
            f"BROWSER TESTS NOT RUN: no Chromium at {CHROMIUM}. Install it (apt-get install chromium; "
            "`make test` does this when run as root) or set CHROMIUM=/path/to/chromium."
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: Any, dashboard: Dashboard) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.add_init_script(GUARD_SCRIPT)
    t = Tab(page, dashboard.url)

    def on_dialog(dialog: Any) -> None:
        t.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: t.errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            t.errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield t
    context.close()
