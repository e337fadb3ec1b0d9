"""The web dashboard served at ``/ui`` (on unless ``[ui] enabled = false``); see docs/ui.md."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from ..leadership import postgres_url_of
from ..state import ServerState
from .access import UIContext
from .routes import router
from .sessions import SessionSealer, load_or_create_secret


def install(app: FastAPI, state: ServerState) -> None:
    """Serve the dashboard from `app`, signing its sessions with the configured (or persisted) secret.

    With a PostgreSQL store the server writes nothing locally (replicas share no disk), so the secret must come
    from ``ui.session_secret``, the same on every replica; without it the dashboard is off, with a warning."""
    if not state.config.ui.session_secret and postgres_url_of(state.config.store.url) is not None:
        logging.getLogger("memtrace_server").warning(
            "dashboard (/ui) is off: with a PostgreSQL store, set ui.session_secret "
            "(MEMTRACE_UI_SESSION_SECRET), the same value on every replica"
        )
        return
    secret = load_or_create_secret(state.config.ui.session_secret, state.config.data_dir)
    app.state.memtrace_ui = UIContext(state, SessionSealer(secret, state.config.ui.session_ttl_seconds))
    app.include_router(router)


__all__ = ["install"]
