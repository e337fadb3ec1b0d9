"""How a client reaches an engine: in-process (`LocalBackend`) or over HTTP (`HttpBackend`).

A backend has one operation, ``execute(op)``: `op` is a typed `memtrace.operations.Operation[R]` (one dataclass
per client method) and the backend returns its ``R``. The clients stay one typed surface; backends stay small
and swappable, like httpx's transports.
"""

from .base import AsyncBackend, Backend
from .local import AsyncLocalBackend, LocalBackend

__all__ = ["AsyncBackend", "AsyncLocalBackend", "Backend", "LocalBackend"]
