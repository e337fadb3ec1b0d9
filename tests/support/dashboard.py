"""What the dashboard tests share besides their fixtures (tests/ui/conftest.py): the XSS payloads, the seeded
server's description, seeding, and the browser tab that fails on any dialog, script error or CSP violation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from .server import ServerProcess

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"

XSS_CONTENT = [
    "<script>alert('content')</script> plain text stays",
    "<img src=x onerror=\"alert('img')\"> picture",
    "<a href=\"javascript:alert('link')\">click me</a>",
    "\"'><svg onload=alert('quote')> attribute breaker",
]
XSS_METADATA = {"html": "<script>alert('meta')</script>", "quote": "\"><img src=x onerror=alert('metaimg')>"}
XSS_PARENT = "javascript:alert('parent')"


@dataclass
class Dashboard:
    """The seeded server: keys per role and what was stored, for the tests to compare against."""

    server: ServerProcess
    admin_key: str
    write_key: str
    read_key: str
    other_org_key: str
    secret: bytes = b""
    agents: list[str] = field(default_factory=list)
    session_id: str = ""
    memory_ids: list[str] = field(default_factory=list)
    xss_ids: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.base_url

    def api(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"x-api-key": key or self.admin_key}, timeout=30)


def create_key(admin: httpx.Client, org_id: str, name: str, permissions: list[str]) -> str:
    r = admin.post("/api/v1/keys", json={"org_id": org_id, "name": name, "permissions": permissions})
    r.raise_for_status()
    return str(r.json()["key"])


def seed(admin: httpx.Client, *, agents: list[str], session_id: str) -> tuple[list[str], list[str]]:
    """Memories spread over the last day for a few agents, one session, and the XSS payloads."""
    now = datetime.now(UTC)
    items: list[dict[str, Any]] = []
    topics = [
        "deployed the billing service",
        "user prefers dark mode",
        "failed to reach the database",
        "decided to retry with backoff",
        "summarised the meeting notes",
    ]
    for i in range(60):
        agent = agents[i % len(agents)]
        items.append(
            {
                "agent_id": agent,
                "session_id": session_id if agent == agents[0] and i < 30 else None,
                "content": f"{topics[i % len(topics)]} (step {i})",
                "memory_type": ["episodic", "decision", "entity", "session"][i % 4],
                "event_type": "error" if "failed" in topics[i % len(topics)] else "general",
                "tags": ["ops", f"t{i % 3}"],
                "importance": round((i % 10) / 10, 1),
                "time": (now - timedelta(minutes=23 * i)).isoformat(),
                "metadata": {"step": i, "nested": {"ok": True}},
            }
        )
    r = admin.post("/api/v1/memories", json={"memories": items})
    assert r.status_code == 201, r.text
    ids = [m["id"] for m in r.json()["memories"]]
    xss = []
    for text in XSS_CONTENT:
        r = admin.post(
            "/api/v1/memories",
            json={
                "agent_id": "xss-agent",
                "session_id": "xss-session",
                "content": text,
                "metadata": XSS_METADATA,
                "parent_id": XSS_PARENT,
                "tags": ["xss"],
            },
        )
        assert r.status_code == 201, r.text
        xss.append(r.json()["id"])
    admin.post(
        "/api/v1/sessions", json={"agent_id": "xss-agent", "id": "xss-opened", "metadata": XSS_METADATA}
    )
    return ids, xss


GUARD_SCRIPT = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || ''));
});
"""


@dataclass
class Tab:
    """A page plus what it must never see: dialogs (alert/confirm), page errors, CSP violations."""

    page: Any
    base_url: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def sign_in(self, key: str) -> None:
        self.go("/ui/login")
        self.page.fill("#api_key", key)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def violations(self) -> list[str]:
        return list(self.page.evaluate("window.__violations || []"))

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], f"script errors: {self.errors}"
        assert self.violations() == [], f"CSP violations: {self.violations()}"


def screenshot(tab: Tab, name: str, *, full_page: bool = True) -> None:
    """Save the current page as docs/ui-<name>.png (the README shows these)."""
    tab.page.screenshot(path=str(DOCS / f"ui-{name}.png"), full_page=full_page)
