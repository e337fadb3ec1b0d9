"""Templates and response headers for the dashboard.

Every page is rendered by Jinja2 with autoescaping on for everything (memory content, tags, metadata, ids
and event types are untrusted: agents store text from web pages and users), and leaves with headers that
forbid inline script and style, framing, referrers and caching.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def segment(value: object) -> str:
    """`value` as one URL path segment (``/`` and everything else reserved is percent-encoded)."""
    return quote(str(value), safe="")


def query(**params: object) -> str:
    """A query string from the parameters that are set."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(seg=segment, when=when, pretty_json=pretty_json)
    env.globals.update(query=query, asset_version=_asset_version())
    return env


ENVIRONMENT = _environment()


def page(name: str, http_status: int = 200, *, cache: bool = False, **context: Any) -> HTMLResponse:
    """Render the template `name` with the security headers (and ``no-store`` unless `cache`)."""
    html = ENVIRONMENT.get_template(name).render(**context)
    headers = dict(SECURITY_HEADERS)
    if not cache:
        headers.update(NO_STORE)
    return HTMLResponse(html, status_code=http_status, headers=headers)


def secure(response: Response, *, cache: bool = False) -> Response:
    """Add the security headers to a response made elsewhere (redirects, assets)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if not cache:
        for name, value in NO_STORE.items():
            response.headers[name] = value
    return response
