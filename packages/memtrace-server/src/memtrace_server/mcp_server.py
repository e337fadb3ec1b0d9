"""`memtrace mcp`: memtrace's memory tools for MCP clients, over stdio (default) or streamable HTTP.

    memtrace mcp                          # stdio, for Claude Code / Cursor / Claude Desktop
    memtrace mcp --http --port 9101       # streamable HTTP at http://127.0.0.1:9101/mcp (API key required)
    python -m memtrace_server.mcp_server  # the same, without the CLI

The memory store comes from the environment (`Memtrace.from_env`): a memtrace server when MEMTRACE_URL and
MEMTRACE_API_KEY are set, else the store MEMTRACE_STORE_URL names (e.g. ``postgresql://...``, shared with
`memtrace serve`), else the embedded store in MEMTRACE_DATA_DIR (default ./data).

Over HTTP every request needs a memtrace API key as a bearer token (see `memtrace_server.mcp.access`);
``--insecure-no-auth`` runs without one, on a loopback address only.

In stdio mode stdout carries the protocol and nothing else: anything else written to stdout - a stray print
from any library, even from C - is sent to stderr, where the logs go too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import anyio
import uvicorn
from starlette.types import ASGIApp

from memtrace import AsyncMemtrace
from memtrace.client import DEFAULT_ORG_ID

from .config import redacted_url
from .mcp.access import KeyGate, embedded_key_check, has_keys, is_loopback, remote_key_check
from .mcp.server import DEFAULT_HTTP_PORT, MemtraceMCP, build_server

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigurationError(Exception):
    """The environment names a half-configured remote server."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="memtrace mcp",
        description="Serve memtrace's memory tools to MCP clients (stdio by default).",
        epilog="Store: MEMTRACE_URL + MEMTRACE_API_KEY for a memtrace server, else the store "
        "MEMTRACE_STORE_URL names (postgresql://... or sqlite:///...), else the embedded store in "
        "MEMTRACE_DATA_DIR (default ./data).",
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_HTTP_PORT, help=f"HTTP port (default {DEFAULT_HTTP_PORT})"
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="HTTP: accept requests without an API key (only on a loopback address; any local process can "
        "then read and change these memories)",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=LOG_LEVELS, type=str.upper, help="stderr log level"
    )
    return parser.parse_args(argv)


def describe_store(env: Mapping[str, str]) -> str:
    """Where `Memtrace.from_env` will keep memories, for the startup line.

    Raises `ConfigurationError` when only one of MEMTRACE_URL / MEMTRACE_API_KEY is set: falling back to a
    local store then would quietly write an agent's memories somewhere its user is not looking.
    """
    url, key = env.get("MEMTRACE_URL"), env.get("MEMTRACE_API_KEY")
    if url and key:
        return f"memtrace server {url}"
    if url or key:
        present, missing = (
            ("MEMTRACE_URL", "MEMTRACE_API_KEY") if url else ("MEMTRACE_API_KEY", "MEMTRACE_URL")
        )
        raise ConfigurationError(
            f"{present} is set but {missing} is not; set both to use a memtrace server, "
            "or neither to use the store in MEMTRACE_STORE_URL or MEMTRACE_DATA_DIR"
        )
    store_url = env.get("MEMTRACE_STORE_URL")
    if store_url:
        return f"store {redacted_url(store_url)}"
    data_dir = Path(env.get("MEMTRACE_DATA_DIR") or "./data").resolve()
    return f"embedded store in {data_dir}"


@contextmanager
def claimed_stdout() -> Iterator[anyio.AsyncFile[str] | None]:
    """Give the MCP protocol a private handle on stdout, and point fd 1 and `sys.stdout` at stderr.

    Yields None (use the process's stdout as is) when stdout is not a real file descriptor.
    """
    try:
        stdout_fd = sys.stdout.fileno()
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, io.UnsupportedOperation):
        yield None
        return
    sys.stdout.flush()
    protocol_fd = os.dup(stdout_fd)
    saved_fd = os.dup(stdout_fd)
    saved_stdout = sys.stdout
    os.dup2(stderr_fd, stdout_fd)
    sys.stdout = sys.stderr
    protocol = io.TextIOWrapper(os.fdopen(protocol_fd, "wb"), encoding="utf-8")
    try:
        yield anyio.wrap_file(protocol)
    finally:
        sys.stdout = saved_stdout
        os.dup2(saved_fd, stdout_fd)
        os.close(saved_fd)
        protocol.close()


async def serve_stdio(server: MemtraceMCP, client: AsyncMemtrace) -> None:
    try:
        with claimed_stdout() as protocol:
            await server.run_stdio_async(stdout=protocol)
    finally:
        await client.close()


async def serve_http(server: MemtraceMCP, client: AsyncMemtrace, require_key: bool) -> None:
    """Serve streamable HTTP; with `require_key`, behind `KeyGate` (see `memtrace_server.mcp.access`)."""
    try:
        async with contextlib.AsyncExitStack() as stack:
            app: ASGIApp = server.streamable_http_app()
            if require_key:
                url, api_key = os.environ.get("MEMTRACE_URL"), os.environ.get("MEMTRACE_API_KEY")
                if url and api_key:
                    check = remote_key_check(api_key)
                else:
                    check = await stack.enter_async_context(embedded_key_check(_store_location(), _org_id()))
                app = KeyGate(app, check)
            config = uvicorn.Config(
                app, host=server.settings.host, port=server.settings.port,
                log_level=server.settings.log_level.lower(),
            )  # fmt: skip
            await uvicorn.Server(config).serve()
    finally:
        await client.close()


def _data_dir() -> Path:
    return Path(os.environ.get("MEMTRACE_DATA_DIR") or "./data")


def _store_location() -> str | Path:
    """Where the in-process store (and so its API keys) lives: MEMTRACE_STORE_URL, else the data directory."""
    return os.environ.get("MEMTRACE_STORE_URL") or _data_dir()


def _org_id() -> str:
    return os.environ.get("MEMTRACE_ORG_ID") or DEFAULT_ORG_ID


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM end the process with status 0 after a graceful shutdown.

    uvicorn catches SIGTERM, drains connections, restores the previous handler and raises the signal again;
    with the default handler that kills the process before the memtrace client is closed. This handler turns
    the re-raised signal into SystemExit(0), which unwinds through `serve_http`'s cleanup.
    """

    def handle(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handle)


def main(argv: list[str] | None = None) -> int:
    """Run the MCP server until the client disconnects (stdio) or the process is interrupted (HTTP).
    Returns the process exit code."""
    args = parse_args(argv)
    if args.http and args.insecure_no_auth and not is_loopback(args.host):
        print(
            f"memtrace mcp: --insecure-no-auth is only allowed on a loopback address, not {args.host}; "
            "send a memtrace API key instead",
            file=sys.stderr,
        )
        return 2
    try:
        store = describe_store(os.environ)
        client = AsyncMemtrace.from_env()
    except ConfigurationError as exc:
        print(f"memtrace mcp: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an unreadable data directory, a malformed URL...
        print(f"memtrace mcp: cannot open the memory store: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    server = build_server(client, host=args.host, port=args.port, log_level=args.log_level)
    if args.http:
        where = f"http://{_url_host(args.host)}:{args.port}{server.settings.streamable_http_path}"
        print(f"memtrace mcp: streamable HTTP on {where}, {store}", file=sys.stderr)
        if args.insecure_no_auth:
            print(
                "memtrace mcp: warning: --insecure-no-auth: any local process can read and change these "
                "memories",
                file=sys.stderr,
            )
        elif not store.startswith("memtrace server") and not has_keys(_store_location(), _org_id()):
            where = (
                f"--store-url '{store.removeprefix('store ')}'"
                if store.startswith("store ")
                else (f"--data-dir {_data_dir()}")
            )
            print(
                f"memtrace mcp: {_org_id()} has no API key yet; create one for your MCP client with\n"
                f"  memtrace key create --org {_org_id()} --name mcp {where}\n"
                "and send it as 'Authorization: Bearer <key>'",
                file=sys.stderr,
            )
    else:
        print(f"memtrace mcp: stdio, {store}", file=sys.stderr)

    if args.http and threading.current_thread() is threading.main_thread():
        _exit_cleanly_on_sigterm()
    try:
        if args.http:
            anyio.run(serve_http, server, client, not args.insecure_no_auth)
        else:
            anyio.run(serve_stdio, server, client)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # uvicorn exits this way when it cannot bind the port
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


if __name__ == "__main__":
    sys.exit(main())
