"""Operations: liveness, readiness and Prometheus metrics. No auth, as in the original (spec §1.3)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__
from ..wire import JSON
from .common import state_of

router = APIRouter(tags=["operations"])

READY_TIMEOUT_SECONDS = 5.0


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String()`` prints it (the original's ``uptime``): ``2h30m15.5s``."""
    if seconds < 1:
        return f"{seconds * 1000:.6f}".rstrip("0").rstrip(".") + "ms" if seconds > 0 else "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours >= 1:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes >= 1:
        return f"{int(minutes)}m{text}"
    return text


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body).encode(), status_code=status, media_type=JSON)


@router.get("/health", summary="Liveness: the process answers")
async def health(request: Request) -> Response:
    state = state_of(request)
    return _json(
        {
            "status": "ok",
            "service": "memtrace",
            "version": __version__,
            "uptime": go_duration(time.monotonic() - state.started_monotonic),
            "store": state.config.store.kind,
            "arc": {},
        }
    )


@router.get("/ready", summary="Readiness: the store answers")
async def ready(request: Request) -> Response:
    state = state_of(request)
    try:
        await asyncio.wait_for(state.run(state.engine.ping), timeout=READY_TIMEOUT_SECONDS)
    except Exception as exc:
        reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        retry_after = getattr(exc, "retry_after", None) or 1
        body = {
            "error": "store is not answering",
            "status": "not ready",
            "reason": f"store_unavailable: {reason}",
        }
        response = _json(body, 503)
        response.headers["Retry-After"] = str(int(retry_after + 0.999))
        return response
    return _json({"status": "ready", "store": state.config.store.kind, "arc": {}})


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    state = state_of(request)
    body = await state.run(state.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
