"""memtrace server: a REST API wire-compatible with Memtrace 0.2.0, with real auth and tenants, and the CLI.

    memtrace serve --data-dir ./data          # or: python -m memtrace_server serve

`create_app(state)` builds the ASGI app over an opened `ServerState` (see `open_state`), for embedding and tests.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
