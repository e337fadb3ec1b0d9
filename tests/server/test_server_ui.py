"""The dashboard over plain HTTP against real `memtrace serve` processes: the headers every page carries, the
switch that turns it off, the session secret (kept 0600, shared by replicas), CSRF on sign-in and sign-out.
The browser tests are in tests/ui/."""

from __future__ import annotations

import contextlib
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memtrace_server.config import ConfigError, load_config
from memtrace_server.ui.render import TEMPLATE_DIR
from memtrace_server.ui.sessions import SECRET_FILENAME, SESSION_COOKIE

SHARED_SECRET = "a-shared-dashboard-secret-for-every-replica-0123456789"


@contextlib.contextmanager
def sign_in(base_url: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        yield _signed_in(client, key)


def _signed_in(client: httpx.Client, key: str) -> httpx.Client:
    form = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post("/ui/login", data={"csrf": token.group(1), "api_key": key, "next": "/ui/memories"})
    assert done.status_code == 303 and done.headers["location"] == "/ui/memories", done.text
    return client


def test_pages_carry_the_security_headers(spawn_server) -> None:
    server = spawn_server()
    with sign_in(server.base_url, server.api_key) as client:
        for path in ("/ui", "/ui/memories", "/ui/sessions", "/ui/agents", "/ui/admin", "/ui/login"):
            r = client.get(path)
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-store", path
        cookie = next(c for c in client.cookies.jar if c.name == SESSION_COOKIE)
        assert cookie.path == "/ui" and cookie.has_nonstandard_attr("HttpOnly")


def test_templates_need_no_unsafe_inline() -> None:
    """The strict CSP holds only if no template has inline script, style attributes or event handlers."""
    for template in TEMPLATE_DIR.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\sstyle=", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
        assert "<style" not in text, template.name
        assert "|safe" not in text.replace(" ", ""), template.name


def test_ui_can_be_turned_off(spawn_server, tmp_path: Path) -> None:
    server = spawn_server({"MEMTRACE_UI_ENABLED": "false"}, data_dir=tmp_path / "off")
    assert httpx.get(server.base_url + "/ui").status_code == 404
    assert httpx.get(server.base_url + "/ui/login").status_code == 404
    assert not (tmp_path / "off" / SECRET_FILENAME).exists()


def test_generated_secret_is_private_and_replicas_with_one_secret_share_sessions(
    spawn_server, tmp_path: Path
) -> None:
    first = spawn_server(data_dir=tmp_path / "gen")
    mode = stat.S_IMODE((tmp_path / "gen" / SECRET_FILENAME).stat().st_mode)
    assert mode == 0o600

    data = tmp_path / "shared"
    env = {"MEMTRACE_UI_SESSION_SECRET": SHARED_SECRET}
    a = spawn_server(env, data_dir=data)
    b = spawn_server(env, data_dir=data, api_key=a.api_key)
    stranger = spawn_server(
        {"MEMTRACE_UI_SESSION_SECRET": SHARED_SECRET[::-1]}, data_dir=data, api_key=a.api_key
    )
    assert not (data / SECRET_FILENAME).exists(), "a configured secret is not written anywhere"
    with sign_in(a.base_url, a.api_key) as client:
        cookie = client.cookies[SESSION_COOKIE]
    jar = {SESSION_COOKIE: cookie}
    assert httpx.get(b.base_url + "/ui/memories", cookies=jar).status_code == 200
    refused = httpx.get(stranger.base_url + "/ui/memories", cookies=jar)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/ui/login")
    assert httpx.get(first.base_url + "/ui/memories", cookies=jar).status_code == 303


def test_sign_in_and_sign_out_need_their_csrf_tokens(spawn_server) -> None:
    server = spawn_server()
    with httpx.Client(base_url=server.base_url) as client:
        # No pre-session cookie and no token: a cross-site login attempt does not sign anyone in.
        r = client.post("/ui/login", data={"api_key": server.api_key, "csrf": "x"})
        assert r.status_code == 401 and SESSION_COOKIE not in client.cookies
    with sign_in(server.base_url, server.api_key) as client:
        assert client.post("/ui/logout", data={}).status_code == 403
        assert client.get("/ui/memories").status_code == 200, "still signed in"
        page = client.get("/ui").text
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        out = client.post("/ui/logout", data={"csrf": token.group(1)})
        assert out.status_code == 303 and SESSION_COOKIE not in client.cookies


def test_open_redirects_are_refused(spawn_server) -> None:
    server = spawn_server()
    with httpx.Client(base_url=server.base_url) as client:
        form = client.get("/ui/login", params={"next": "//evil.example/ui"}).text
        assert 'name="next" value="/ui"' in form
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        r = client.post(
            "/ui/login",
            data={"csrf": token.group(1), "api_key": server.api_key, "next": "https://evil.example"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/ui"


def test_ui_config_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"ui\.session_secret"):
        load_config(None, env={"MEMTRACE_UI_SESSION_SECRET": "short"}, search=False)
    with pytest.raises(ConfigError, match=r"ui\.session_ttl_seconds"):
        load_config(None, env={"MEMTRACE_UI_SESSION_TTL_SECONDS": "5"}, search=False)
    assert load_config(None, env={"MEMTRACE_UI_ENABLED": "false"}, search=False).ui.enabled is False


def _page_ids(html: str) -> list[str]:
    return re.findall(r'<a href="/ui/sessions/([^"]+)">', html)


def test_session_pages_show_what_the_whole_session_list_implies(spawn_server) -> None:
    """The overview, agents and sessions pages read a page and grouped counts, not every session: they show what
    the org's whole session list (`GET /api/v1/sessions`) says, filtered, ordered and sliced as the pages promise."""
    server = spawn_server()
    api = httpx.Client(base_url=server.base_url, headers={"x-api-key": server.api_key})
    for i in range(130):
        api.post("/api/v1/sessions", json={"agent_id": f"agent{i % 3}", "id": f"s{i:03d}"}).raise_for_status()
    for i in range(
        0, 130, 4
    ):  # a quarter closed, some of the rest touched: update order is not creation order
        body = {"status": "closed"} if i % 8 == 0 else {"metadata": {"touched": i}}
        api.put(f"/api/v1/sessions/s{i:03d}", json=body).raise_for_status()
    everything = api.get("/api/v1/sessions").json()["sessions"]  # creation order, newest first
    by_update = sorted(
        everything, key=lambda s: s["updated_at"], reverse=True
    )  # stable: ties keep creation order
    with sign_in(server.base_url, server.api_key) as client:
        for query, expected in (
            ({}, by_update),
            ({"status": "closed"}, [s for s in by_update if s["status"] == "closed"]),
            (
                {"agent_id": "agent1", "status": "active"},
                [s for s in by_update if s["agent_id"] == "agent1" and s["status"] == "active"],
            ),
        ):
            for offset in (0, 100):
                html = client.get("/ui/sessions", params={**query, "offset": offset}).text
                shown = expected[offset : offset + 100]
                assert _page_ids(html) == [s["id"] for s in shown], (query, offset)
                if shown:
                    assert f"of {len(expected)}</p>" in html
        overview = client.get("/ui").text
        open_sessions = [s for s in everything if s["status"] == "active"]
        assert f'<span class="num">{len(open_sessions)}</span><span class="label">open sessions' in overview
        assert _page_ids(overview) == [s["id"] for s in open_sessions[:8]]
        agents = client.get("/ui/agents").text
        for n in range(3):
            mine = [s for s in everything if s["agent_id"] == f"agent{n}"]
            opened = sum(s["status"] == "active" for s in mine)
            assert re.search(
                rf'/ui/agents/agent{n}">agent{n}</a>.*?<td class="num">{len(mine)} \({opened}\)</td>',
                agents,
                re.S,
            )
        # Agents with sessions only (no memories, not registered) come newest session first.
        listed = re.findall(r'<a href="/ui/agents/([^"]+)">', agents)
        assert listed == list(dict.fromkeys(s["agent_id"] for s in everything))
    api.close()
