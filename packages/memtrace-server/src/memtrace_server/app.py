"""The ASGI app: routes, error handlers, the per-request middleware, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic.json_schema import models_json_schema
from starlette.types import Scope

from memtrace.models import AddMemoryRequest

from . import __version__, arc_routes, errors, ui
from .auth import authenticate_request
from .config import LimitsSection
from .fastpath import direct_routes
from .middleware import ServerMiddleware
from .openapi_bounds import document_bounds
from .routes import admin, agents, facts, forget, memories, ops, retention, sessions, transfer
from .routes.common import SECURITY_SCHEMES
from .state import ServerState
from .wire import BatchCreateRequest, DeleteMemoriesRequest

DESCRIPTION = """Plain-text, temporal, structured memory for AI agents.

Wire-compatible with Memtrace 0.2.0 (the unmodified `memtrace-sdk` 0.2.0 works against it); the deliberate
differences are listed in docs/compat.md. Authenticate with `x-api-key: mtk_...` or
`Authorization: Bearer mtk_...`. Errors are `{"error": "<message>"}`, plus `"field"` on validation errors."""


def create_app(state: ServerState, *, close_state: bool = True) -> FastAPI:
    """The app over an opened `state`. With `close_state`, the state is closed when the app shuts down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        poll = None
        if state.authenticator is not None and state.config.auth.revocation_poll_seconds > 0:
            poll = asyncio.create_task(
                state.authenticator.poll_revocations(state.config.auth.revocation_poll_seconds)
            )
        if state.leadership is not None:
            state.leadership.start()
        try:
            yield
        finally:
            if state.leadership is not None:
                state.leadership.stop()
            if poll is not None:
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
            if close_state:
                state.close()

    app = FastAPI(
        title="memtrace",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redoc_url=None,
        # No OpenTelemetry hooks: memtrace has Prometheus metrics, and per-request telemetry checks cost time.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.state.memtrace = state
    errors.install(app)
    for module in (ops, memories, facts, forget, agents, sessions, admin, retention, transfer, arc_routes):
        app.include_router(module.router)
    if state.config.ui.enabled:
        ui.install(app, state)
    if state.config.server.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=state.config.server.cors_allow_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(
        ServerMiddleware,
        metrics=state.metrics,
        max_body_bytes=state.config.limits.max_body_bytes,
        max_batch_reply_bytes=state.config.limits.max_batch_reply_bytes,
        authenticate=lambda scope: authenticate_request(state, scope["headers"], _client_host(scope)),
        # CORS wraps the app inside this middleware, so with CORS on, every route goes through the app.
        direct=None if state.config.server.cors_allow_origins else direct_routes(state),
    )
    _document_manual_bodies(app, state.config.limits)
    return app


def _client_host(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _document_manual_bodies(app: FastAPI, limits: LimitsSection) -> None:
    """Add what handlers do by hand to the document: the bodies they parse themselves (POST /api/v1/memories),
    the API-key security every /api route requires, and the engine's input bounds (`openapi_bounds`)."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default_openapi()
        _, defs = models_json_schema(
            [
                (AddMemoryRequest, "validation"),
                (BatchCreateRequest, "validation"),
                (DeleteMemoriesRequest, "validation"),
            ],
            ref_template="#/components/schemas/{model}",
        )
        components = schema.setdefault("components", {})
        for name, definition in defs.get("$defs", {}).items():
            components.setdefault("schemas", {}).setdefault(name, definition)
        components["securitySchemes"] = SECURITY_SCHEMES
        document_bounds(schema, limits)
        either_key: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerToken": []}]
        for path, operations in schema.get("paths", {}).items():
            if path.startswith("/api/"):
                for operation in operations.values():
                    operation["security"] = either_key
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
