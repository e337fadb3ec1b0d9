"""The backend protocols."""

from __future__ import annotations

from typing import Any, Protocol


class Backend(Protocol):
    def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run client method `method` with the client's arguments; return its result or raise a MemtraceError."""
        ...

    def close(self) -> None: ...


class AsyncBackend(Protocol):
    async def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any: ...

    async def close(self) -> None: ...
