"""How a client reaches an engine: in-process (`LocalBackend`) or over HTTP (`HttpBackend`).

A backend exposes one operation, ``call(method, *args, **kwargs)``, where `method` is a client method name
(``"add_memory"``, ``"list_memories"``…) and the arguments are the client's. The clients stay one typed surface;
backends stay small and swappable, like httpx's transports.
"""

from .base import AsyncBackend, Backend
from .local import AsyncLocalBackend, LocalBackend

__all__ = ["AsyncBackend", "AsyncLocalBackend", "Backend", "LocalBackend"]
