"""The dashboard in a real browser (Debian's Chromium through Playwright) against a real `memtrace serve`.

Every test also fails if a dialog opens, a script error happens or the Content-Security-Policy blocks
anything (`Tab.assert_clean`): with all output escaped, nothing on these pages ever tries to run inline code.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import httpx
from support.dashboard import XSS_CONTENT, XSS_PARENT, Dashboard, Tab, screenshot

from memtrace_server.ui.sessions import PRE_SESSION_COOKIE, SESSION_COOKIE, SessionSealer


def api_context(board: Dashboard, session_id: str, **options: Any) -> str:
    with board.api() as api:
        r = api.post(f"/api/v1/sessions/{session_id}/context", json=options)
        assert r.status_code == 200, r.text
        return str(r.json()["context"])


def csrf_of(tab: Tab) -> str:
    return str(tab.page.locator("input[name=csrf]").first.get_attribute("value"))


def test_sign_in_browse_filter_search_and_sign_out(tab: Tab, dashboard: Dashboard) -> None:
    tab.go("/ui/memories")
    assert tab.page.url.startswith(dashboard.url + "/ui/login"), "an unsigned visitor is sent to sign in"

    tab.page.fill("#api_key", "mtk_" + "A" * 43 + "=")
    tab.page.click("button[type=submit]")
    assert "not valid" in tab.page.locator("[role=alert]").inner_text()

    tab.page.fill("#api_key", dashboard.admin_key)
    tab.page.click("button[type=submit]")
    tab.page.wait_for_load_state()
    assert tab.page.url == dashboard.url + "/ui/memories", "sign-in returns to the page asked for"
    tab.go("/ui")
    assert tab.page.locator("h1").inner_text() == "Overview"
    chart = tab.page.locator("figure.chart svg")
    assert chart.get_attribute("role") == "img"
    assert tab.page.locator("figure.chart rect").count() >= 10, (
        "the chart draws a bar per busy hour and agent"
    )
    legend = tab.page.locator(".legend").inner_text()
    assert all(agent in legend for agent in dashboard.agents)
    screenshot(tab, "overview")

    tab.go("/ui/memories")
    assert tab.page.locator("li.memory").count() == 50  # one page
    tab.page.click("summary")  # the filters fold away until used
    tab.page.fill("#agent_id", "coder")
    tab.page.select_option("#memory_type", "decision")
    tab.page.click("text=Apply filters")
    tab.page.wait_for_load_state()
    rows = tab.page.locator("li.memory")
    assert rows.count() > 0
    for i in range(rows.count()):
        meta = rows.nth(i).locator(".meta").inner_text()
        assert "coder" in meta and "decision" in meta

    tab.go("/ui/memories")
    tab.page.keyboard.press("/")  # the keyboard shortcut focuses search
    tab.page.keyboard.type("billing deploy")
    with tab.page.expect_navigation():
        tab.page.keyboard.press("Enter")
    marks = tab.page.locator("li.memory mark").all_inner_texts()
    assert marks and {m.lower() for m in marks} <= {"billing", "deployed", "deploy"}
    first = tab.page.locator("li.memory .content").first.inner_text()
    assert "billing" in first and "deployed" in first, "ranked: memories with every keyword first"
    screenshot(tab, "memories")

    tab.page.locator("li.memory a.time").first.click()
    tab.page.wait_for_load_state()
    assert tab.page.locator("pre.json").count() == 1
    assert '"nested"' in tab.page.locator("pre.json").inner_text()
    screenshot(tab, "memory")

    tab.page.click("text=Sign out")
    tab.page.wait_for_load_state()
    assert "/ui/login" in tab.page.url
    tab.go("/ui")
    assert "/ui/login" in tab.page.url, "after sign-out the old cookie is gone"
    tab.assert_clean()


def test_paging_reaches_every_memory_once(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.admin_key)
    tab.go("/ui/memories?agent_id=planner")
    seen: list[str] = []
    while True:
        seen += tab.page.locator("li.memory a.time").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
        following = tab.page.locator("a[rel=next]")
        if following.count() == 0:
            break
        following.click()
        tab.page.wait_for_load_state()
    with dashboard.api() as api:
        expected = api.get("/api/v1/memories", params={"agent_id": "planner", "limit": 1000}).json()
    assert len(seen) == len(set(seen)) == expected["count"]
    tab.assert_clean()


def test_session_context_is_the_apis_text(tab: Tab, dashboard: Dashboard) -> None:
    tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab.sign_in(dashboard.admin_key)
    tab.go("/ui/sessions")
    tab.page.click(f"text={dashboard.session_id}")
    tab.page.wait_for_load_state()
    shown = tab.page.locator("#context").text_content()
    assert shown == api_context(dashboard, dashboard.session_id)
    tokens = int(tab.page.locator("#token-count").inner_text().replace(",", ""))
    assert tokens == math.ceil(len(shown) / 4)
    screenshot(tab, "session")

    tab.page.fill("#max_tokens", "120")
    tab.page.click("text=Render")
    tab.page.wait_for_load_state()
    budgeted = tab.page.locator("#context").text_content()
    assert budgeted == api_context(dashboard, dashboard.session_id, max_tokens=120)
    assert math.ceil(len(budgeted) / 4) <= 120 < tokens

    tab.page.click("button.copy")
    tab.page.wait_for_function("document.querySelector('button.copy').textContent === 'Copied'")
    assert tab.page.evaluate("navigator.clipboard.readText()") == budgeted
    tab.assert_clean()


def test_delete_with_confirmation(tab: Tab, dashboard: Dashboard) -> None:
    with dashboard.api() as api:
        batch = [
            {"agent_id": "doomed", "session_id": "sess-doomed", "content": f"to delete {i}"} for i in range(7)
        ]
        batch += [{"agent_id": "doomed", "content": f"agent only {i}"} for i in range(3)]
        made = api.post("/api/v1/memories", json={"memories": batch}).json()["memories"]
    tab.sign_in(dashboard.write_key)

    tab.go(f"/ui/memories/{made[0]['id']}")
    tab.page.click("text=Delete…")
    tab.page.wait_for_load_state()
    assert tab.page.locator("#delete-count").inner_text() == "1"
    tab.page.click("button.danger[type=submit]")
    tab.page.wait_for_load_state()
    assert tab.page.locator("#deleted-count").inner_text() == "1"

    tab.go("/ui/sessions/sess-doomed")
    tab.page.click("text=Delete its memories…")
    tab.page.wait_for_load_state()
    assert tab.page.locator("#delete-count").inner_text() == "6"
    screenshot(tab, "delete")
    tab.page.click("button.danger[type=submit]")
    tab.page.wait_for_load_state()
    assert tab.page.locator("#deleted-count").inner_text() == "6"

    tab.go("/ui/agents/doomed")
    tab.page.click("text=Delete its memories…")
    tab.page.wait_for_load_state()
    assert tab.page.locator("#delete-count").inner_text() == "3"
    tab.page.click("button.danger[type=submit]")
    tab.page.wait_for_load_state()
    with dashboard.api() as api:
        left = api.get("/api/v1/memories", params={"agent_id": "doomed"}).json()
    assert left["count"] == 0
    tab.assert_clean()


def test_read_key_cannot_delete(tab: Tab, dashboard: Dashboard) -> None:
    victim = dashboard.memory_ids[5]
    tab.sign_in(dashboard.read_key)
    tab.go(f"/ui/memories/{victim}")
    assert tab.page.locator("text=Delete…").count() == 0, "no delete button for a read key"
    response = tab.go(f"/ui/delete?target=memory&id={victim}")
    assert response.status == 403
    # Even a well-formed form post with this session's CSRF token is refused by the server.
    token = csrf_of(tab)
    posted = tab.page.request.post(
        dashboard.url + "/ui/delete", form={"csrf": token, "target": "memory", "id": victim}
    )
    assert posted.status == 403
    with dashboard.api() as api:
        assert api.get(f"/api/v1/memories/{victim}").status_code == 200
    tab.assert_clean()


def test_forms_without_the_csrf_token_are_refused(tab: Tab, dashboard: Dashboard) -> None:
    victim = dashboard.memory_ids[6]
    tab.sign_in(dashboard.admin_key)
    tab.go("/ui")
    posted = tab.page.request.post(
        dashboard.url + "/ui/delete", form={"csrf": "0" * 64, "target": "memory", "id": victim}
    )
    assert posted.status == 403
    with dashboard.api() as api:
        assert api.get(f"/api/v1/memories/{victim}").status_code == 200


def test_expired_forged_and_revoked_sessions_end(tab: Tab, dashboard: Dashboard) -> None:
    sealer = SessionSealer(dashboard.secret, 8 * 3600)
    host = dashboard.url.split("//")[1].split(":")[0]

    def with_cookie(value: str) -> str:
        tab.page.context.clear_cookies()
        tab.page.context.add_cookies(
            [{"name": SESSION_COOKIE, "value": value, "domain": host, "path": "/ui"}]
        )
        tab.go("/ui")
        return str(tab.page.url)

    assert with_cookie(sealer.seal(dashboard.admin_key)) == dashboard.url + "/ui", "a valid cookie works"
    expired = sealer.seal(dashboard.admin_key, now=int(time.time()) - 8 * 3600 - 5)
    assert "/ui/login" in with_cookie(expired)
    forged = SessionSealer(b"another secret entirely, 32 chars+", 3600).seal(dashboard.admin_key)
    assert "/ui/login" in with_cookie(forged)

    with dashboard.api() as api:
        made = api.post(
            "/api/v1/keys",
            json={"org_id": "org_default", "name": f"short-{time.time_ns()}", "permissions": ["read"]},
        ).json()
    tab.page.context.clear_cookies()
    tab.sign_in(made["key"])
    assert tab.page.url == dashboard.url + "/ui"
    with dashboard.api() as api:
        assert api.delete(f"/api/v1/keys/{made['id']}").status_code == 204
    tab.go("/ui/memories")
    assert "/ui/login" in tab.page.url, "revoking the key ends its dashboard session"
    tab.assert_clean()


def test_xss_payloads_render_as_text(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.admin_key)
    tab.go("/ui/memories?agent_id=xss-agent")
    shown = tab.page.locator("li.memory .content").all_inner_texts()
    assert sorted(shown) == sorted(XSS_CONTENT), "payloads appear exactly as stored, as text"
    assert tab.page.locator("li.memory img, li.memory svg, li.memory script").count() == 0
    tab.go("/ui/memories?q=picture+click+attribute+script")
    assert tab.page.locator("li.memory mark").count() > 0
    assert tab.page.locator("li.memory img, li.memory svg, li.memory script").count() == 0
    for memory_id in dashboard.xss_ids:
        tab.go(f"/ui/memories/{memory_id}")
        assert "<script>alert('meta')</script>" in tab.page.locator("pre.json").inner_text()
        parent = tab.page.locator("dt:has-text('Parent') + dd a")
        assert parent.inner_text() == XSS_PARENT
        assert parent.get_attribute("href").startswith("/ui/memories/javascript%3A")
        parent.click()  # a link named javascript:... is only a path under /ui
        tab.page.wait_for_load_state()
    tab.go("/ui/sessions/xss-opened")
    assert "onerror=alert('metaimg')" in tab.page.locator("pre.json").inner_text()
    # Payloads in ids and filters from the URL are echoed (in errors and inputs) as text too.
    for path in (
        "/ui/sessions/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        "/ui/agents/%22%3E%3Cscript%3Ealert(2)%3C%2Fscript%3E",
        "/ui/memories?agent_id=%22%3E%3Cscript%3Ealert(3)%3C/script%3E&tags=%3Csvg%20onload%3Dalert(4)%3E",
        "/ui/login?next=javascript:alert(5)",
    ):
        tab.go(path)
        assert tab.page.locator("main script, main img, main svg").count() == 0
    assert tab.page.locator("input[name=next]").get_attribute("value") == "/ui"
    tab.assert_clean()


def test_tenant_isolation_through_the_url(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.other_org_key)
    assert tab.page.locator(".who .org").inner_text() == "org_other"
    for path in (
        f"/ui/memories/{dashboard.memory_ids[0]}",
        f"/ui/sessions/{dashboard.session_id}",
        "/ui/agents/planner",
        f"/ui/delete?target=memory&id={dashboard.memory_ids[0]}",
    ):
        response = tab.go(path)
        assert response.status == 404, path
        assert "billing" not in tab.page.content()
    tab.go("/ui/memories?agent_id=planner")
    assert tab.page.locator("li.memory").count() == 0
    tab.go("/ui")
    assert "planner" not in tab.page.locator("main").inner_text()
    tab.go("/ui/admin")
    assert tab.page.locator("h1").inner_text() == "Not allowed"
    tab.assert_clean()


def test_admin_creates_a_key_shown_once_and_revokes_it(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.admin_key)
    tab.go("/ui/admin")
    name = f"ui-made-{time.time_ns()}"
    tab.page.fill("#key-name", name)
    tab.page.select_option("#key-org", "org_other")
    tab.page.check("input[name=perm_write]")
    tab.page.click("text=Create key")
    tab.page.wait_for_load_state()
    key = tab.page.locator("#new-key").inner_text()
    assert re.fullmatch(r"mtk_[A-Za-z0-9_-]{43}=", key)
    screenshot(tab, "admin")
    with httpx.Client(base_url=dashboard.url, headers={"x-api-key": key}) as api:
        assert api.get("/api/v1/memories").status_code == 200
    tab.go("/ui/admin")
    assert tab.page.locator("#new-key").count() == 0 and key not in tab.page.content(), "shown once"
    tab.page.click(f"button[aria-label='Revoke key {name}']")
    tab.page.wait_for_load_state()
    with httpx.Client(base_url=dashboard.url, headers={"x-api-key": key}) as api:
        assert api.get("/api/v1/memories").status_code == 401
    tab.assert_clean()


def test_phone_layout(browser: Any, dashboard: Dashboard) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    tab = Tab(page, dashboard.url)
    tab.sign_in(dashboard.admin_key)
    tab.go("/ui/memories")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "nothing overflows sideways on a phone"
    screenshot(tab, "memories-phone", full_page=False)
    context.close()


def test_cookies_are_httponly_strict_and_hold_no_readable_key(tab: Tab, dashboard: Dashboard) -> None:
    tab.sign_in(dashboard.admin_key)
    cookies = {c["name"]: c for c in tab.page.context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["expires"] > time.time()
    assert PRE_SESSION_COOKIE not in cookies
    assert dashboard.admin_key not in session["value"]
    assert tab.page.evaluate("document.cookie") == ""
    assert tab.page.evaluate("JSON.stringify(localStorage)") == "{}"
