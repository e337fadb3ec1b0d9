"""Make memtrace the process-wide storage of CrewAI memory.

CrewAI (1.14.7+) lets an application replace the store behind every `Memory` built from a storage spec
string (``Memory()``, ``Crew(memory=True)``, ``Agent(memory=True)``) with
`crewai.memory.storage.factory.set_memory_storage_factory`. `use_memtrace_storage` registers a factory that
answers the default spec (``"lancedb"``) with a `MemtraceStorage`, so existing crews keep memories in memtrace
without code changes.

Those `Memory` objects are still CrewAI's: they embed with the crew's embedder and analyse with its LLM (an
OpenAI key by default), and memtrace stores the vectors next to the text. For memory with no embedder, no LLM
and no key, pass ``Crew(memory=MemtraceMemory(...))`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from memtrace import Memtrace

from ._client import resolve_client
from .storage import MemtraceStorage

_active_client: Memtrace | None = None
_owns_active_client = False


def _factory_module() -> object:
    try:
        from crewai.memory.storage import factory
    except ImportError as e:  # crewai < 1.14.7 has no pluggable default storage
        raise RuntimeError(
            "this crewai has no set_memory_storage_factory (added in 1.14.7); pass "
            "Memory(storage=MemtraceStorage(...)) or Crew(memory=MemtraceMemory(...)) explicitly"
        ) from e
    return factory


def use_memtrace_storage(
    client: Memtrace | None = None,
    *,
    namespace: str = "crewai",
    crew_id: str | None = None,
    specs: Iterable[str] = ("lancedb",),
) -> Callable[[str], MemtraceStorage | None]:
    """Route every CrewAI `Memory` built from one of `specs` (default: the default, ``"lancedb"``) to memtrace.

    Each `Memory` gets its own `MemtraceStorage` over one shared client (default `Memtrace.from_env()`, closed
    by `restore_default_storage`). Affects `Memory` objects built afterwards; an explicit ``storage=``
    instance always wins. Returns the registered factory.
    """
    global _active_client, _owns_active_client
    factory_module = _factory_module()
    resolved, owned = resolve_client(client)
    handled = frozenset(specs)

    def memtrace_storage_factory(spec: str) -> MemtraceStorage | None:
        if spec not in handled:
            return None  # other specs (a path, "qdrant-edge") keep CrewAI's own stores
        return MemtraceStorage(resolved, namespace=namespace, crew_id=crew_id)

    _release_client()
    _active_client, _owns_active_client = resolved, owned
    factory_module.set_memory_storage_factory(memtrace_storage_factory)  # type: ignore[attr-defined]
    return memtrace_storage_factory


def restore_default_storage() -> None:
    """Undo `use_memtrace_storage`: new `Memory` objects get CrewAI's built-in stores again."""
    _factory_module().set_memory_storage_factory(None)  # type: ignore[attr-defined]
    _release_client()


def _release_client() -> None:
    global _active_client, _owns_active_client
    if _active_client is not None and _owns_active_client:
        _active_client.close()
    _active_client, _owns_active_client = None, False
