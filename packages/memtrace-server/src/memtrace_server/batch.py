"""``POST /api/v1/batch``: several API requests in one HTTP round trip, each answered as if sent alone.

Why: a remote `AsyncMemtrace` under fan-out (1,000 concurrent calls, a LangGraph ``abatch`` of 6,000 ops)
spent most of its time in per-request HTTP machinery on both ends (httpx's pool on the client, the HTTP
parser and connection handling on the server), not in the engine. `memtrace.backends.http` packs the calls
that are queued waiting for a connection into one batch; the server runs them side by side.

Each sub-request is authenticated from the batch's own headers (so it is charged to the rate limit as a
request of its own), then served exactly as the same request sent alone: the fast path if it has one, else
the app, with the same permission checks, validation, errors and metrics. A sub-request's failure is its own
reply; the batch answers 200 once its framing is valid. Only ``/api/v1/`` routes can be batched (400 for
the dashboard, ``/metrics``...). A batch inside a batch is refused (400), and so are export and import, which stream bodies of any size: in a batch their whole body would sit in server memory.

The whole reply is held in memory until it is sent, so it has a budget (``limits.max_batch_reply_bytes``):
sub-requests start in order, at most `MAX_IN_FLIGHT` at a time, and once the replies gathered pass the budget,
those not yet started are not run and answer 413. Nothing of theirs happened, so a client sends them again
(`memtrace.backends.http` does, one by one).

The framing (``application/x-memtrace-batch``, version 1) is line-headed and length-prefixed, so neither side
re-encodes a body::

    request:   <METHOD> <path?query, percent-encoded> <body length>\\n<body>   ... repeated
    response:  <status> <retry-after or -> <body length>\\n<body>             ... one per request, in order

Request bodies are JSON (``content-type: application/json`` is what each sub-request carries).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

PATH = "/api/v1/batch"
API_PREFIX = "/api/v1/"
CONTENT_TYPE = "application/x-memtrace-batch"
MAX_REQUESTS = 1000
"""Sub-requests per batch (the body size limit bounds their bytes)."""
MAX_REPLY_BYTES = 64 * 1024 * 1024
"""Default budget of a batch's reply bytes (``limits.max_batch_reply_bytes``)."""
MAX_IN_FLIGHT = 32
"""Sub-requests of one batch running at once: the budget is checked before each starts, so it can be passed
by at most this many replies."""

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_NOT_BATCHED = {PATH: "a batch cannot contain a batch"} | {
    path: f"{path} streams its body and cannot be sent in a batch"
    for path in ("/api/v1/export", "/api/v1/import")
}


@dataclass(frozen=True, slots=True)
class SubRequest:
    method: str
    path: str
    query: str
    body: bytes


SubReply = tuple[int, bytes, dict[str, str]]
Serve = Callable[[SubRequest, int], Awaitable[SubReply]]
"""Serves one sub-request; the int is its position in the batch."""


class BatchFormatError(ValueError):
    """The batch body is not valid framing: the whole batch is refused (400), nothing runs."""


def parse(body: bytes) -> list[SubRequest]:
    requests: list[SubRequest] = []
    at, end = 0, len(body)
    while at < end:
        newline = body.find(b"\n", at)
        if newline < 0:
            raise BatchFormatError(f"request {len(requests)}: header line not terminated")
        try:
            method, target, length_text = body[at:newline].decode("ascii").split(" ")
            length = int(length_text)
        except ValueError:
            raise BatchFormatError(
                f"request {len(requests)}: header must be '<METHOD> <target> <length>'"
            ) from None
        if method not in _METHODS or not target.startswith("/") or length < 0:
            raise BatchFormatError(f"request {len(requests)}: bad method, target or length")
        start = newline + 1
        if start + length > end:
            raise BatchFormatError(f"request {len(requests)}: body shorter than its length")
        path, _, query = target.partition("?")
        requests.append(SubRequest(method, path, query, body[start : start + length]))
        if len(requests) > MAX_REQUESTS:
            raise BatchFormatError(f"at most {MAX_REQUESTS} requests per batch")
        at = start + length
    if not requests:
        raise BatchFormatError("an empty batch")
    return requests


def encode_replies(replies: list[SubReply]) -> bytes:
    parts: list[bytes] = []
    for status, content, headers in replies:
        retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), "-")
        parts.append(b"%d %s %d\n" % (status, retry_after.encode("ascii"), len(content)))
        parts.append(content)
    return b"".join(parts)


def _error(message: str) -> bytes:
    return json.dumps({"error": message, "field": "body"}).encode()


async def run_batch(body: bytes, serve: Serve, *, max_reply_bytes: int = MAX_REPLY_BYTES) -> SubReply:
    """The batch's reply: 200 with every sub-request's reply framed in order, or 400 for bad framing."""
    try:
        requests = parse(body)
    except BatchFormatError as exc:
        return 400, _error(f"invalid batch: {exc}"), {}
    not_run: SubReply = (
        413,
        _error(
            f"not run: this batch's replies passed {max_reply_bytes} bytes before it started; send it again"
        ),
        {},
    )
    gathered = 0
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(i: int, request: SubRequest) -> SubReply:
        nonlocal gathered
        path = unquote(request.path)
        refused = _NOT_BATCHED.get(path.rstrip("/"))
        if refused is not None:
            return 400, _error(refused), {}
        if not path.startswith(API_PREFIX):  # the dashboard, /metrics, /health: not API calls
            return 400, _error(f"only {API_PREFIX} routes can be sent in a batch"), {}
        async with slots:  # tasks wait here in order (asyncio's locks are fair), so a budget cuts a tail
            if gathered > max_reply_bytes:
                return not_run
            reply = await serve(request, i)
            gathered += len(reply[1])
            return reply

    replies = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    return 200, encode_replies(list(replies)), {"content-type": CONTENT_TYPE}
