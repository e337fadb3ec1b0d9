"""The web dashboard served at ``/ui`` (on unless ``[ui] enabled = false``); see docs/ui.md."""

from __future__ import annotations

from fastapi import FastAPI

from ..state import ServerState
from .access import UIContext
from .routes import router
from .sessions import SessionSealer, load_or_create_secret


def install(app: FastAPI, state: ServerState) -> None:
    """Serve the dashboard from `app`, signing its sessions with the configured (or persisted) secret."""
    secret = load_or_create_secret(state.config.ui.session_secret, state.config.data_dir)
    app.state.memtrace_ui = UIContext(state, SessionSealer(secret, state.config.ui.session_ttl_seconds))
    app.include_router(router)


__all__ = ["install"]
